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
