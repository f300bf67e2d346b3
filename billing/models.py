"""What the platform meters, in the public schema: staff and fleet jobs see it across tenants."""

from django.conf import settings
from django.db import models

from tenants.models import Tenant


class AiUsage(models.Model):
    """One model call of the assistant: who, which model, tokens in and out, and what it cost."""

    tenant = models.ForeignKey(Tenant, null=True, on_delete=models.CASCADE, related_name="ai_usage")
    # Staff conversations belong to no tenant unless they act in one.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    model = models.CharField(max_length=80)
    tokens_in = models.PositiveIntegerField()
    tokens_out = models.PositiveIntegerField()
    cost = models.DecimalField(max_digits=12, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    month = models.DateField(help_text="The first day of the (UTC) month the call counts against.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "month"], name="ai_usage_tenant_month")]

    def __str__(self) -> str:
        return f"{self.model}: {self.tokens_in}+{self.tokens_out} tokens"

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


class AiQuotaNotice(models.Model):
    """The owners were told that a month's quota reached `percent`: once per tenant, month and level."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()
    percent = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "month", "percent"], name="ai_quota_notice_once"),
        ]

    def __str__(self) -> str:
        return f"{self.percent}% of {self.month:%Y-%m}"


class ExportRow(models.Model):
    """One row of a billing export, in the shape of Google Cloud's standard export (the local meter
    writes them; a file of the real export can be loaded). The last four fields are derived from the
    others when the row is written, so that summing millions of rows groups on plain columns."""

    billing_account_id = models.CharField(max_length=64)
    service_id = models.CharField(max_length=64)
    service_description = models.CharField(max_length=128)
    sku_id = models.CharField(max_length=64)
    sku_description = models.CharField(max_length=255)
    usage_start_time = models.DateTimeField()
    usage_end_time = models.DateTimeField()
    project_id = models.CharField(max_length=64, blank=True)
    labels = models.JSONField(default=list, blank=True, help_text='[{"key": ..., "value": ...}]')
    cost = models.DecimalField(max_digits=20, decimal_places=9)
    currency = models.CharField(max_length=3)
    credits = models.JSONField(default=list, blank=True, help_text='[{"name": ..., "amount": -0.12}]')
    usage_amount = models.DecimalField(max_digits=24, decimal_places=6, default=0)
    usage_unit = models.CharField(max_length=32, blank=True)
    invoice_month = models.CharField(max_length=6, help_text="YYYYMM")
    export_time = models.DateTimeField(auto_now_add=True)
    # What makes writing the same usage twice (a re-run, a crash before the cursor moved) a no-op.
    row_key = models.CharField(max_length=200, unique=True)
    tenant_label = models.CharField(max_length=64, blank=True)
    site_label = models.CharField(max_length=64, blank=True)
    credits_total = models.DecimalField(max_digits=20, decimal_places=9, default=0)
    usage_date = models.DateField(help_text="The UTC day of usage_start_time.")

    class Meta:
        indexes = [
            # The aggregation's GROUP BY reads this index alone (a covering index, in its key order);
            # it leads with the day, so it serves every range query too.
            models.Index(
                fields=["usage_date", "tenant_label", "site_label", "service_description", "currency"],
                include=["cost", "credits_total"],
                name="export_row_daily",
            ),
            models.Index(fields=["usage_end_time"], name="export_row_usage_end"),  # latest_usage(): MAX()
        ]

    def __str__(self) -> str:
        return f"{self.service_description} / {self.sku_description} {self.usage_start_time:%Y-%m-%d %H:%M}"


class CostRecord(models.Model):
    """What a tenant's site spent on one service on one day, in one currency: the aggregation's
    output, read by the portal, the API, the assistant and the budgets. `tenant` is empty for cost
    that no tenant label accounts for (or a label of a tenant that no longer exists)."""

    # No foreign key in the database (db_constraint=False): its check at the commit of a first
    # aggregation of a month cost about 3 s of the 10 it may take (docs/costs.md, "Aggregation").
    # Django still deletes a tenant's records with it (on_delete runs in Python); the aggregation only
    # writes ids it has just read from the tenants table, under its lock, and puts right the records
    # of a tenant deleted while it wrote at its next run. (tenant, day) is indexed below, which serves
    # every lookup by tenant: no index of the column alone.
    tenant = models.ForeignKey(
        Tenant,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="cost_records",
        db_constraint=False,
        db_index=False,
    )
    tenant_label = models.CharField(max_length=64, blank=True)
    site_label = models.CharField(max_length=64, blank=True)
    # The site's name when it was aggregated (a deleted site keeps its cost, and its name).
    site_slug = models.CharField(max_length=64, blank=True)
    service = models.CharField(max_length=128)
    day = models.DateField()
    currency = models.CharField(max_length=3)
    gross = models.DecimalField(max_digits=18, decimal_places=6)
    credits = models.DecimalField(max_digits=18, decimal_places=6)
    net = models.DecimalField(max_digits=18, decimal_places=6)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Day first: the same index serves every range of days (the aggregation's, staff's
            # overview), so no index on `day` alone has to be kept up on each insert.
            models.UniqueConstraint(
                fields=["day", "tenant_label", "site_label", "service", "currency"], name="cost_record_once"
            )
        ]
        indexes = [models.Index(fields=["tenant", "day"], name="cost_record_tenant_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.site_slug or '-'} {self.service}: {self.net} {self.currency}"


class AggregationRun(models.Model):
    """One aggregation of a range of days: when it ran and what it wrote (how fresh the figures are)."""

    source = models.CharField(max_length=32)
    start = models.DateField()
    end = models.DateField()
    groups = models.PositiveIntegerField(default=0)
    latest_usage = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        get_latest_by = "finished_at"

    def __str__(self) -> str:
        return f"{self.source} {self.start}..{self.end}"


class MeterCursor(models.Model):
    """How far the local meter has read a site: its access log (file identity and offset) and the
    moment its disk was last charged up to. Moved in the same transaction as the rows it wrote."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    site_id = models.BigIntegerField()
    log_identity = models.CharField(max_length=64, blank=True, help_text="device:inode of the log read")
    log_offset = models.BigIntegerField(default=0)
    # Counts the times the log was read again from its start (rotated, truncated): part of every row's
    # key, so a new file's first lines never take the keys of the old file's.
    log_generation = models.PositiveIntegerField(default=0)
    disk_charged_to = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "site_id"], name="meter_cursor_once")]

    def __str__(self) -> str:
        return f"t{self.tenant_id}_s{self.site_id} @ {self.log_offset}"


class BudgetAction(models.TextChoices):
    NOTIFY = "notify", "Email only"
    CAP = "cap", "Cap its scaling to one PHP worker"
    SUSPEND = "suspend", "Suspend the site"


class Budget(models.Model):
    """A monthly amount for a tenant (site_id empty) or one of its sites. At 80% and 100% of it the
    owners and billing members are told; a site's budget may also act at 100%."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="budgets")
    site_id = models.BigIntegerField(null=True, blank=True)
    site_slug = models.CharField(max_length=64, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    action = models.CharField(max_length=16, choices=BudgetAction.choices, default=BudgetAction.NOTIFY)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=models.Q(site_id__isnull=True), name="budget_tenant_once"
            ),
            models.UniqueConstraint(fields=["tenant", "site_id"], name="budget_site_once"),
        ]

    def __str__(self) -> str:
        return f"{self.site_slug or 'all sites'}: {self.amount} {self.currency}/month"


class BudgetNotice(models.Model):
    """The owners and billing members were told a budget reached `percent` in `month`: once."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="notices")
    month = models.DateField()
    percent = models.PositiveSmallIntegerField()
    # The amount it was a percentage of: a budget raised later is told about again at its new levels.
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    spent = models.DecimalField(max_digits=18, decimal_places=6)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["budget", "month", "percent", "amount"], name="budget_notice_once")
        ]

    def __str__(self) -> str:
        return f"{self.percent}% of {self.month:%Y-%m}"


class BudgetEnforcement(models.Model):
    """A site's budget acted at 100% in `month` (capped or suspended it); undone when the month turns
    or the budget is raised above what was spent. `previous_workers` is what a cap restores."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    site_id = models.BigIntegerField()
    site_slug = models.CharField(max_length=64)
    month = models.DateField()
    # The budget it acted at: raised and overspent again, it acts again; a person's undo at the same
    # amount is left alone.
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    action = models.CharField(max_length=16, choices=BudgetAction.choices)
    previous_workers = models.PositiveSmallIntegerField(null=True, blank=True)
    applied_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # At most one open at a time per site.
            models.UniqueConstraint(
                fields=["tenant", "site_id"], condition=models.Q(undone_at__isnull=True), name="budget_enforcement_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.site_slug} in {self.month:%Y-%m}"


class CostAlert(models.Model):
    """A day on which a tenant's (site_label "") or a site's cost left its own recent baseline."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="cost_alerts")
    site_label = models.CharField(max_length=64, blank=True)
    site_slug = models.CharField(max_length=64, blank=True)
    day = models.DateField()
    currency = models.CharField(max_length=3)
    cost = models.DecimalField(max_digits=18, decimal_places=6)
    baseline = models.DecimalField(max_digits=18, decimal_places=6)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "site_label", "day", "currency"], name="cost_alert_once")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.site_slug or 'all sites'}: {self.cost} vs {self.baseline}"
