"""Export rows to daily cost records, on the real PostgreSQL: grouped per tenant, site, service, day
and currency with credits netted; the same records on every rerun; cost without a tenant label kept
as unattributed; the assistant's metered usage as its own service line."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from billing.aggregation import AI_SERVICE, costs_aggregate
from billing.exports import read_export_lines, row_from_export, rows_save
from billing.models import AiUsage, CostRecord, ExportRow
from billing.sources.base import DailyCost
from billing.sources.local import LocalSource
from billing.tests.factories import export_row
from kernel.errors import InvalidInput
from sites.inventory.models import SiteRecord

pytestmark = pytest.mark.django_db

OCT = date(2026, 10, 1)


def _records() -> dict[tuple, tuple]:
    return {
        (r.tenant_id, r.site_label, r.site_slug, r.service, r.day, r.currency): (r.gross, r.credits, r.net)
        for r in CostRecord.objects.all()
    }


@pytest.fixture
def acme_rows(tenant):
    SiteRecord.objects.create(
        tenant=tenant, site_id=7, slug="blog", status="ready", runtime="cloudrun", hostname="blog--acme.example"
    )
    rows = [
        export_row(day=OCT, cost="1.50", tenant=tenant.pk, site=7),
        export_row(day=OCT, cost="2.25", tenant=tenant.pk, site=7, hour=11, credits=["-0.25", "-0.50"]),
        export_row(day=OCT, cost="0.40", tenant=tenant.pk, site=7, service="Cloud Storage", sku="Standard Storage"),
        export_row(day=date(2026, 10, 2), cost="3.00", tenant=tenant.pk, site=7),
        export_row(day=OCT, cost="9.99", service="Cloud SQL", sku="vCPU"),  # the shared instance: no label
        export_row(day=OCT, cost="5.00", tenant="99999", site=1),  # a tenant that no longer exists
        export_row(day=OCT, cost="4.00", tenant=tenant.pk, site=7, currency="EUR"),
        export_row(day=date(2026, 11, 1), cost="100.00", tenant=tenant.pk, site=7),  # outside the range
    ]
    rows_save(row_from_export(row) for row in rows)
    return tenant


def test_rows_become_daily_records_with_credits_netted_and_names_looked_up(acme_rows):
    tenant = acme_rows
    result = costs_aggregate(start=OCT, end=date(2026, 10, 31), source=LocalSource())
    records = _records()
    assert records[(tenant.pk, "7", "blog", "Cloud Run", OCT, "USD")] == (
        Decimal("3.75"), Decimal("-0.75"), Decimal("3.00")
    )  # fmt: skip
    assert records[(tenant.pk, "7", "blog", "Cloud Storage", OCT, "USD")][2] == Decimal("0.40")
    assert records[(tenant.pk, "7", "blog", "Cloud Run", date(2026, 10, 2), "USD")][2] == Decimal("3.00")
    assert records[(tenant.pk, "7", "blog", "Cloud Run", OCT, "EUR")][2] == Decimal("4.00")  # currencies apart
    # Unattributed: no label, or the label of no tenant; kept, with the label it had.
    assert records[(None, "", "", "Cloud SQL", OCT, "USD")][2] == Decimal("9.99")
    assert CostRecord.objects.get(tenant__isnull=True, tenant_label="99999").net == Decimal("5.00")
    assert not CostRecord.objects.filter(day=date(2026, 11, 1)).exists()
    assert result.groups == len(records) == 6


def test_rerunning_any_range_gives_the_same_records(acme_rows):
    costs_aggregate(start=OCT, end=date(2026, 10, 31))
    first = _records()
    costs_aggregate(start=OCT, end=date(2026, 10, 31))
    costs_aggregate(start=date(2026, 10, 2), end=date(2026, 10, 2))  # an overlapping part alone
    assert _records() == first
    # A row withdrawn from the source (a corrected export) takes its record with it on the next run.
    ExportRow.objects.filter(usage_date=date(2026, 10, 2)).delete()
    costs_aggregate(start=OCT, end=date(2026, 10, 31))
    assert not CostRecord.objects.filter(day=date(2026, 10, 2)).exists()
    assert len(_records()) == len(first) - 1


def test_a_deleted_site_keeps_its_name_on_its_records(acme_rows):
    costs_aggregate(start=OCT, end=OCT)
    SiteRecord.objects.filter(site_id=7).delete()
    costs_aggregate(start=OCT, end=OCT)
    assert set(CostRecord.objects.filter(site_label="7").values_list("site_slug", flat=True)) == {"blog"}


def test_the_assistants_usage_is_its_own_service_line(tenant, owner):
    usage = AiUsage.objects.create(
        tenant=tenant, user=owner, model="gemini-2.5-flash", tokens_in=1000, tokens_out=100,
        cost=Decimal("0.125"), month=OCT,
    )  # fmt: skip
    AiUsage.objects.filter(pk=usage.pk).update(created_at=datetime(2026, 10, 3, 12, tzinfo=UTC))
    costs_aggregate(start=OCT, end=date(2026, 10, 31))
    record = CostRecord.objects.get(service=AI_SERVICE)
    assert (record.tenant, record.day, record.site_label, record.net) == (
        tenant,
        date(2026, 10, 3),
        "",
        Decimal("0.125"),
    )


def test_bad_ranges_and_dates_are_refused_and_change_nothing(acme_rows):
    with pytest.raises(InvalidInput, match="reversed"):
        costs_aggregate(start=date(2026, 10, 5), end=OCT)
    with pytest.raises(InvalidInput, match="400 days"):
        costs_aggregate(start=date(2025, 1, 1), end=date(2026, 10, 1))
    with pytest.raises(CommandError, match="not a date"):
        call_command("billing", "aggregate", "--start", "2026-13-01", "--end", "2026-10-31")
    assert not CostRecord.objects.exists()
    call_command("billing", "aggregate", "--start", "2026-10-01", "--end", "2026-10-31")
    assert CostRecord.objects.count() == 6


def test_loading_an_export_file_twice_adds_nothing_and_a_bad_line_adds_nothing(tmp_path, tenant):
    import json

    good = [export_row(day=OCT, cost="1.00", tenant=tenant.pk, site=3), export_row(day=OCT, cost="2.00")]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in good) + "\n")
    call_command("billing", "load-export", str(path))
    call_command("billing", "load-export", str(path))
    assert ExportRow.objects.count() == 2
    path.write_text(json.dumps(export_row(day=OCT, cost="3.00")) + '\n{"cost": "x", "currency": "USD"}\n')
    with pytest.raises(CommandError, match="line 2"):
        call_command("billing", "load-export", str(path))
    assert ExportRow.objects.count() == 2
    with pytest.raises(InvalidInput, match="currency"):
        list(read_export_lines([json.dumps({**good[0], "currency": "dollars"})]))


def test_the_assistants_line_and_an_export_line_of_the_same_key_make_one_record(tenant, owner):
    # An export may name a service like the assistant's line, on the tenant's own (site-less) line.
    rows_save([row_from_export(export_row(day=OCT, cost="1.00", tenant=tenant.pk, service=AI_SERVICE, sku="Tokens"))])
    usage = AiUsage.objects.create(
        tenant=tenant, user=owner, model="gemini-2.5-flash", tokens_in=10, tokens_out=1, cost=Decimal("0.25"), month=OCT
    )
    AiUsage.objects.filter(pk=usage.pk).update(created_at=datetime(2026, 10, 1, 9, tzinfo=UTC))
    result = costs_aggregate(start=OCT, end=OCT)
    assert result.groups == 1
    assert CostRecord.objects.get(service=AI_SERVICE).net == Decimal("1.25")


class _ListSource:
    """A source outside the database (as BigQuery is): its groups are copied in."""

    def __init__(self, groups: list[DailyCost]) -> None:
        self.groups = groups

    def daily_costs(self, *, start: date, end: date) -> list[DailyCost]:
        return [group for group in self.groups if start <= group.day <= end]

    def latest_usage(self) -> datetime | None:
        return None

    def check(self) -> str:
        return "a list"


def test_a_source_outside_the_database_is_copied_in_and_summed_per_key(tenant):
    def group(gross: str, credits: str = "0", day: date = OCT) -> DailyCost:
        return DailyCost(str(tenant.pk), "", "Cloud Run", day, "USD", Decimal(gross), Decimal(credits))

    # The same key twice: nothing promises that another source answers one group per key.
    source = _ListSource([group("1.5"), group("2.0", "-0.5"), group("4", day=date(2026, 10, 2))])
    result = costs_aggregate(start=OCT, end=date(2026, 10, 31), source=source)
    assert result.groups == 2
    assert CostRecord.objects.get(day=OCT).net == Decimal("3.0")
    source.groups = [group("1.5")]  # a corrected answer: the 2nd's record goes, the 1st changes
    result = costs_aggregate(start=OCT, end=date(2026, 10, 31), source=source)
    assert (result.groups, result.deleted) == (1, 1)
    assert list(CostRecord.objects.values_list("day", "net", "tenant")) == [(OCT, Decimal("1.5"), tenant.pk)]


def test_deleting_a_tenant_deletes_its_cost_records(acme_rows, make_tenant):
    # No foreign key in the database (billing/models.py): Django's on_delete does it.
    other = make_tenant(slug="other")
    rows_save([row_from_export(export_row(day=OCT, cost="2.00", tenant=other.pk))])
    costs_aggregate(start=OCT, end=date(2026, 10, 31))
    acme = acme_rows.pk
    assert CostRecord.objects.filter(tenant_id=acme).count() == 4
    acme_rows.delete()
    assert not CostRecord.objects.filter(tenant_id=acme).exists()
    assert CostRecord.objects.filter(tenant=other).count() == 1
    assert CostRecord.objects.filter(tenant__isnull=True).count() == 2  # unattributed cost stays


def test_a_record_of_a_tenant_that_is_gone_is_put_right_by_the_next_run(acme_rows):
    # What a tenant deleted while a run was writing leaves: records with an id no tenant has. The
    # next run sees that the label names no tenant and makes them unattributed; and a record given
    # the wrong tenant in any other way gets its own back.
    costs_aggregate(start=OCT, end=date(2026, 10, 31))
    first = _records()
    gone = CostRecord.objects.filter(tenant_label="99999")
    gone.update(tenant_id=99999)
    CostRecord.objects.filter(tenant=acme_rows).update(tenant_id=None)
    costs_aggregate(start=OCT, end=date(2026, 10, 31))
    assert _records() == first
    assert gone.get().tenant_id is None
