"""The BigQuery costs source against a loopback fake of BigQuery (billing/tests/bigquery_fake.py),
through the official client: the query it sends, the answer it makes of BigQuery's wire format, and
the same groups and totals as the local source gives from the same export rows in PostgreSQL."""

import socket
from dataclasses import astuple
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from google.api_core import exceptions as api_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from google.oauth2.credentials import Credentials as OAuthCredentials

from billing import exports
from billing.sources import bigquery as bigquery_source
from billing.sources.base import CostSource, DailyCost, SourceError
from billing.sources.bigquery import BigQuerySource, daily_costs_sql, table_name
from billing.sources.local import LocalSource
from billing.tests.bigquery_fake import LEGACY, FakeBigQuery
from kernel import drivers

START, END = date(2026, 10, 1), date(2026, 10, 3)
TOKEN = "ya29.a0-fake-access-token-0123456789abcdef"  # the shape of a Google access token


def export_row(
    start: str,
    cost: float,
    *,
    tenant: str | None = None,
    site: str | None = None,
    service: str = "Cloud Run",
    currency: str = "USD",
    credits: tuple[float, ...] = (),
    labels: list[dict[str, str]] | None = None,
    exported_after: timedelta = timedelta(hours=5),
    hours: int = 1,
) -> dict:
    """One row of the standard billing export, in the JSON shape Google Cloud exports it."""
    begin = datetime.fromisoformat(start.replace(" UTC", "+00:00").replace("Z", "+00:00")).astimezone(UTC)
    end = begin + timedelta(hours=hours)
    if labels is None:
        labels = [{"key": "goog-managed-by", "value": "cloudrun"}]
        if tenant is not None:
            labels.append({"key": "aipress-tenant-id", "value": tenant})
        if site is not None:
            labels.append({"key": "aipress-site-id", "value": site})
    return {
        "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
        "service": {"id": f"id-{service.replace(' ', '-').lower()}", "description": service},
        "sku": {"id": "D973-5D65-BAB2", "description": f"{service} usage"},
        "usage_start_time": start,
        "usage_end_time": end.isoformat().replace("+00:00", "Z"),
        "project": {"id": "aipress-prod"},
        "labels": labels,
        "cost": cost,
        "currency": currency,
        "credits": [{"name": f"credit {i}", "amount": amount, "type": "PROMOTION"} for i, amount in enumerate(credits)],
        "usage": {"amount": 3600 * hours, "unit": "seconds"},
        "invoice": {"month": f"{begin:%Y%m}"},
        "export_time": (end + exported_after).isoformat().replace("+00:00", "Z"),
    }


# Three tenants' worth of a few days: labelled and unlabelled rows, credits (several on a row, a row
# that is all credit), two currencies, sums that float arithmetic gets wrong (0.1 + 0.2), rows at the
# edges of the range (one just inside at 23:59:59, one just before, one just after), the export's two
# timestamp spellings, and an offset that moves a row to the previous UTC day.
ROWS = [
    export_row("2026-10-01T01:00:00Z", 0.1, tenant="acme", site="blog"),
    export_row("2026-10-01T02:00:00Z", 0.2, tenant="acme", site="blog"),
    export_row("2026-10-01T03:00:00Z", 0.3, tenant="acme", site="blog", credits=(-0.05,)),
    export_row("2026-10-01T04:00:00Z", 1.234567, tenant="acme", site="blog", service="Cloud SQL"),
    export_row("2026-10-01T05:00:00Z", 0.000001, tenant="acme", site="blog", service="Cloud Storage"),
    export_row("2026-10-01T06:00:00Z", 2.5, tenant="acme", site="shop", credits=(-0.5, -0.25)),
    export_row("2026-10-01 07:00:00 UTC", 0.7, tenant="acme", site="shop", service="Networking"),
    export_row("2026-10-01T08:00:00Z", 3.14159, tenant="acme", service="Cloud SQL"),  # the tenant's shared database
    export_row("2026-10-01T09:00:00Z", 0.33, tenant="globex", site="news", currency="EUR"),
    export_row("2026-10-01T10:00:00Z", 0.67, tenant="globex", site="news", currency="EUR", credits=(-0.67,)),
    export_row("2026-10-01T11:00:00Z", 12.0, labels=[]),  # the platform's own, unlabelled
    export_row("2026-10-01T12:00:00Z", 0.42, service="Cloud Logging"),  # other labels only
    export_row("2026-10-01T13:00:00Z", 0.0, tenant="initech", site="wiki", credits=(-1.5,)),  # all credit
    export_row("2026-10-02T00:00:00Z", 0.1, tenant="acme", site="blog"),
    export_row("2026-10-02T01:00:00Z", 0.2, tenant="acme", site="blog"),
    export_row("2026-10-02T02:00:00Z", 0.15, tenant="acme", site="blog", service="Cloud SQL", credits=(-0.01, -0.02)),
    export_row("2026-10-02T03:00:00Z", 5.55, tenant="acme", site="shop"),
    export_row("2026-10-02T04:00:00Z", 0.25, tenant="globex", site="news", currency="EUR", service="Cloud SQL"),
    export_row("2026-10-02T05:00:00Z", 0.75, tenant="globex", site="news", currency="USD"),  # another currency
    export_row("2026-10-02T06:00:00Z", 7.0, labels=[]),
    export_row("2026-10-03T01:30:00+02:00", 0.11, tenant="initech", site="wiki"),  # 2 October, 23:30 UTC
    export_row("2026-10-02T22:00:00Z", 100.123456, tenant="initech", site="wiki", credits=(-100.123456,)),
    export_row("2026-10-03T00:00:00Z", 0.1, tenant="acme", site="blog"),
    export_row("2026-10-03T10:00:00Z", 0.9, tenant="acme", site="blog", service="Cloud Storage"),
    export_row("2026-10-03T11:00:00Z", 4.04, tenant="acme", site="shop", credits=(-0.04,)),
    export_row("2026-10-03T12:00:00Z", 1.01, tenant="globex", site="news", currency="EUR"),
    export_row("2026-10-03T13:00:00Z", 0.5, tenant="globex", currency="EUR", service="Cloud Storage"),
    export_row("2026-10-03 23:59:59 UTC", 0.01, tenant="acme", site="blog"),  # the last second of the range
    export_row("2026-09-30T23:59:59Z", 50.0, tenant="acme", site="blog"),  # just before the range
    export_row("2026-10-04T00:00:00Z", 60.0, tenant="acme", site="blog"),  # just after the range
]


def by_group(costs: list[DailyCost]) -> list[tuple]:
    return sorted(astuple(cost) for cost in costs)


@pytest.fixture
def fake():
    with FakeBigQuery(rows=ROWS) as running:
        yield running
    assert running.crashes == []


@pytest.fixture
def bq(settings, fake):
    """Settings that point the source (and the `costs` driver) at the fake."""
    settings.BIGQUERY_BILLING_TABLE = fake.table
    settings.BIGQUERY_PROJECT = ""
    settings.BIGQUERY_LOCATION = ""
    settings.BIGQUERY_ENDPOINT = fake.endpoint
    settings.BIGQUERY_TIMEOUT_SECONDS = 30
    settings.DRIVERS = {**settings.DRIVERS, "costs": "bigquery"}
    return fake


def sdk_client(fake: FakeBigQuery) -> bigquery.Client:
    return bigquery.Client(
        project=fake.job_project, credentials=AnonymousCredentials(), client_options={"api_endpoint": fake.endpoint}
    )


# The query


def test_one_query_with_dates_as_parameters_a_partition_filter_and_the_table_in_backticks(bq):
    BigQuerySource().daily_costs(start=START, end=END)

    assert bq.paths() == [f"POST /bigquery/v2/projects/{bq.table_project}/queries"]
    body = bq.queries()[0].body
    sql = body["query"]
    assert body["useLegacySql"] is False
    assert body["parameterMode"] == "NAMED"
    assert body["queryParameters"] == [
        {"name": "start", "parameterType": {"type": "DATE"}, "parameterValue": {"value": "2026-10-01"}},
        {"name": "end", "parameterType": {"type": "DATE"}, "parameterValue": {"value": "2026-10-03"}},
    ]
    assert body["labels"] == {"aipress-job": "cost-aggregation"}
    assert body["jobTimeoutMs"] == "30000"
    assert "location" not in body  # none set: the dataset's own
    assert f"FROM `{bq.table}`" in sql
    assert "DATE(_PARTITIONTIME) BETWEEN DATE_SUB(@start, INTERVAL 1 DAY) AND DATE_ADD(@end, INTERVAL 7 DAY)" in sql
    assert "BETWEEN @start AND @end" in sql
    assert "2026" not in sql  # no date was written into the SQL
    assert "authorization" not in bq.queries()[0].headers  # anonymous against a plain-HTTP endpoint


def test_the_job_runs_in_bigquery_project_and_location(settings):
    with FakeBigQuery(rows=ROWS, job_project="aipress-ops", location="EU") as fake:
        settings.BIGQUERY_BILLING_TABLE = fake.table
        settings.BIGQUERY_PROJECT = "aipress-ops"
        settings.BIGQUERY_LOCATION = "EU"
        settings.BIGQUERY_ENDPOINT = fake.endpoint
        settings.BIGQUERY_TIMEOUT_SECONDS = 30

        assert BigQuerySource().daily_costs(start=START, end=END)

    assert fake.crashes == []
    assert fake.paths() == ["POST /bigquery/v2/projects/aipress-ops/queries"]
    assert fake.queries()[0].body["location"] == "EU"
    assert f"FROM `{fake.table}`" in fake.queries()[0].body["query"]


def test_a_domain_scoped_project_is_a_table_name_too(settings):
    with FakeBigQuery("example.com:billing-admin.billing_export.gcp_billing_export_v1_X", rows=ROWS) as fake:
        settings.BIGQUERY_BILLING_TABLE = fake.table
        settings.BIGQUERY_PROJECT = ""
        settings.BIGQUERY_LOCATION = ""
        settings.BIGQUERY_ENDPOINT = fake.endpoint
        settings.BIGQUERY_TIMEOUT_SECONDS = 30
        source = BigQuerySource()

        assert source.daily_costs(start=START, end=END)
        assert "example.com:billing-admin.billing_export" in source.check()

    assert fake.crashes == []
    assert "FROM `example.com:billing-admin.billing_export.gcp_billing_export_v1_X`" in fake.queries()[0].body["query"]


# The answer


@pytest.mark.django_db
def test_the_same_groups_and_totals_as_the_local_source(bq):
    exports.rows_save(exports.row_from_export(row) for row in ROWS)

    from_bigquery = BigQuerySource().daily_costs(start=START, end=END)
    from_postgresql = LocalSource().daily_costs(start=START, end=END)

    assert by_group(from_bigquery) == by_group(from_postgresql)
    assert all(isinstance(cost.gross, Decimal) and isinstance(cost.credits, Decimal) for cost in from_bigquery)
    groups = {(c.tenant_label, c.site_label, c.service, c.day, c.currency): c for c in from_bigquery}
    assert len(groups) == len(from_bigquery) == 22
    blog_run = groups["acme", "blog", "Cloud Run", START, "USD"]
    assert (blog_run.gross, blog_run.credits, blog_run.net) == (Decimal("0.6"), Decimal("-0.05"), Decimal("0.55"))
    assert groups["acme", "shop", "Cloud Run", START, "USD"].credits == Decimal("-0.75")
    assert groups["", "", "Cloud Run", START, "USD"].gross == Decimal(12)
    assert groups["", "", "Cloud Logging", START, "USD"].gross == Decimal("0.42")
    assert groups["globex", "news", "Cloud Run", date(2026, 10, 2), "USD"].gross == Decimal("0.75")
    assert groups["initech", "wiki", "Cloud Run", START, "USD"].net == Decimal("-1.5")
    assert groups["initech", "wiki", "Cloud Run", date(2026, 10, 2), "USD"].gross == Decimal("100.233456")
    # 0.1 at midnight and 0.01 at 23:59:59 of the last day are in; 60 at midnight after it is not.
    assert groups["acme", "blog", "Cloud Run", END, "USD"].gross == Decimal("0.11")
    assert {c.currency for c in from_bigquery} == {"USD", "EUR"}


def test_paged_results_of_a_slow_job_read_the_same(bq):
    whole = BigQuerySource().daily_costs(start=START, end=END)
    bq.requests.clear()
    bq.page_rows = 4
    bq.pending_polls = 2

    paged = BigQuerySource().daily_costs(start=START, end=END)

    assert by_group(paged) == by_group(whole)
    paths = bq.paths()
    assert paths[0] == f"POST /bigquery/v2/projects/{bq.table_project}/queries"
    assert any(path.startswith(f"GET /bigquery/v2/projects/{bq.table_project}/jobs/") for path in paths)
    pages = [r for r in bq.requests_to("GET", r"/queries/job_") if "pageToken" in r.query]
    assert len(pages) >= (len(whole) - 1) // 4


def test_late_rows_count_within_a_week_of_the_range(bq):
    late = [
        export_row("2026-10-02T10:00:00Z", 1.0, tenant="acme", site="blog", exported_after=timedelta(days=6)),
        export_row("2026-10-02T11:00:00Z", 2.0, tenant="acme", site="blog", exported_after=timedelta(days=9)),
    ]
    bq.rows = late

    (day,) = BigQuerySource().daily_costs(start=START, end=END)

    # Exported on 8 October (end + 5 days): in the scanned partitions. On 11 October: beyond the
    # week after the range, not scanned (the next aggregation of a later range would not see it either).
    assert day.gross == Decimal(1)


def test_summing_the_export_in_float_would_not_match(bq):
    """Why the query casts to NUMERIC: FLOAT64 sums of the export's figures carry binary noise."""
    table = table_name(bq.table)
    parameters = [
        bigquery.ScalarQueryParameter("start", "DATE", START),
        bigquery.ScalarQueryParameter("end", "DATE", START),
    ]
    as_float = daily_costs_sql(table).replace("CAST(cost AS NUMERIC)", "cost")
    config = bigquery.QueryJobConfig(use_legacy_sql=False, query_parameters=parameters)
    rows = sdk_client(bq).query_and_wait(as_float, job_config=config)

    gross = {(row["tenant_label"], row["site_label"], row["service"]): row["gross"] for row in rows}
    assert gross["acme", "blog", "Cloud Run"] == pytest.approx(0.6)
    assert gross["acme", "blog", "Cloud Run"] != 0.6  # 0.6000000000000001


# Failures


@pytest.mark.parametrize(
    "name",
    [
        "",
        "billing_export.gcp_billing_export_v1",  # no project
        "billing-admin-7.billing_export",  # no table
        "billing-admin-7.billing_export.t` WHERE 1=1 --",
        "billing-admin-7.billing_export.t; DROP TABLE x",
        "billing-admin-7.billing export.t",
        "Billing-Admin.billing_export.t",  # project ids are lowercase
        "bill.billing_export.t",  # too short for a project id
        "billing-admin-.billing_export.t",  # ends with a dash
        "billing-admin-7.billing_export.t\nx",
        "billing-admin-7.billing_export.gcp_billing_export_v1.extra",
    ],
)
def test_a_bad_table_name_never_reaches_bigquery(bq, settings, name):
    settings.BIGQUERY_BILLING_TABLE = name
    source = BigQuerySource()

    for call in (lambda: source.daily_costs(start=START, end=END), source.latest_usage, source.check):
        with pytest.raises(SourceError) as refused:
            call()
        assert "BIGQUERY_BILLING_TABLE" in str(refused.value)
        assert "project.dataset.table" in str(refused.value)

    assert bq.requests == []


def test_a_bad_bigquery_project_never_reaches_bigquery(bq, settings):
    settings.BIGQUERY_PROJECT = "Not A Project/../x"

    with pytest.raises(SourceError, match="BIGQUERY_PROJECT"):
        BigQuerySource().daily_costs(start=START, end=END)
    assert bq.requests == []


@pytest.fixture
def with_token(monkeypatch):
    """Credentials that carry a bearer token, to see that no error repeats it."""
    monkeypatch.setattr(bigquery_source, "_credentials", lambda endpoint: OAuthCredentials(token=TOKEN))


def test_no_permission_to_run_jobs_says_which_roles_are_missing(bq, settings, with_token):
    settings.BIGQUERY_PROJECT = "someone-elses-project"

    with pytest.raises(SourceError) as refused:
        BigQuerySource().daily_costs(start=START, end=END)

    message = str(refused.value)
    assert "403" in message
    assert "bigquery.jobs.create permission in project someone-elses-project" in message  # BigQuery's own words
    assert "roles/bigquery.jobUser on project someone-elses-project (BIGQUERY_PROJECT" in message
    assert "roles/bigquery.dataViewer on the dataset billing-admin-7.billing_export" in message
    assert TOKEN not in message and "Bearer" not in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    assert bq.queries()[0].headers["authorization"] == f"Bearer {TOKEN}"  # the token was in play


def test_no_permission_to_read_the_table(bq, with_token):
    bq.can_read_table = False
    source = BigQuerySource()

    for call in (lambda: source.daily_costs(start=START, end=END), source.check):
        with pytest.raises(SourceError) as refused:
            call()
        message = str(refused.value)
        assert "Access Denied: Table billing-admin-7:billing_export" in message
        assert "roles/bigquery.dataViewer on the dataset billing-admin-7.billing_export" in message
        assert TOKEN not in message


def test_a_table_that_does_not_exist(bq, settings, with_token):
    settings.BIGQUERY_BILLING_TABLE = "billing-admin-7.billing_export.gcp_billing_export_v1_OTHER"
    source = BigQuerySource()

    for call in (lambda: source.daily_costs(start=START, end=END), source.check):
        with pytest.raises(SourceError) as refused:
            call()
        message = str(refused.value)
        assert "404" in message
        assert "Not found: Table billing-admin-7:billing_export.gcp_billing_export_v1_OTHER" in message
        assert "Check BIGQUERY_BILLING_TABLE=billing-admin-7.billing_export.gcp_billing_export_v1_OTHER" in message
        assert TOKEN not in message
    assert len(bq.requests) == 2


def test_a_dataset_in_another_location(bq, settings):
    settings.BIGQUERY_LOCATION = "EU"

    with pytest.raises(SourceError) as refused:
        BigQuerySource().daily_costs(start=START, end=END)

    assert "was not found in location EU" in str(refused.value)
    assert "BIGQUERY_LOCATION" in str(refused.value)


def test_a_refused_query_quotes_bigquerys_message(bq):
    bq.fail_next("POST", r"/queries$", 400, "Unrecognized name: credits at [9:50]", reason="invalidQuery")

    with pytest.raises(SourceError) as refused:
        BigQuerySource().daily_costs(start=START, end=END)

    assert "400 invalidQuery" in str(refused.value)
    assert "Unrecognized name: credits at [9:50]" in str(refused.value)
    assert "standard billing export" in str(refused.value)


def test_a_query_that_does_not_finish_in_time_is_cancelled(bq, settings):
    settings.BIGQUERY_TIMEOUT_SECONDS = 1
    bq.hold_jobs = True
    # The client's last poll sets no timeoutMs: BigQuery would hang it 10 s before the client gives up.
    bq.poll_seconds = 0.5

    with pytest.raises(SourceError, match="BIGQUERY_TIMEOUT_SECONDS=1"):
        BigQuerySource().daily_costs(start=START, end=END)

    assert bq.queries()[0].body["jobTimeoutMs"] == "1000"  # BigQuery would stop it too
    assert bq.requests_to("POST", r"/jobs/job_[0-9a-f]+/cancel$")


def test_an_endpoint_that_does_not_answer(bq, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.BIGQUERY_ENDPOINT = f"http://127.0.0.1:{port}"
    settings.BIGQUERY_TIMEOUT_SECONDS = 1

    with pytest.raises(SourceError) as refused:
        BigQuerySource().daily_costs(start=START, end=END)

    assert f"Cannot reach BigQuery at http://127.0.0.1:{port}" in str(refused.value)
    assert "BIGQUERY_ENDPOINT" in str(refused.value)


# check, latest_usage, the driver


def test_check_says_what_it_reads(bq):
    found = BigQuerySource().check()

    assert found == (
        f"BigQuery billing export {bq.table} in US ({len(ROWS)} rows, partitioned by DAY on load time), "
        f"queried as project {bq.table_project}"
    )
    assert bq.paths() == [
        "GET /bigquery/v2/projects/billing-admin-7/datasets/billing_export/tables/"
        "gcp_billing_export_v1_0123AB_456789_ABCDEF"
    ]


def test_latest_usage_reads_the_newest_partitions(bq):
    now = datetime.now(UTC).replace(microsecond=0)
    newest = now - timedelta(hours=2)
    bq.rows = [
        export_row((newest - timedelta(hours=1)).isoformat(), 1.0, exported_after=timedelta(hours=1)),
        export_row((now - timedelta(days=2)).isoformat(), 1.0),
        # No real export has this row (usage that ended an hour ago, in a partition loaded 8 days ago):
        # it shows that partitions older than three days are not read.
        export_row((now - timedelta(days=9)).isoformat(), 1.0, hours=24 * 8 + 23, exported_after=-timedelta(days=8)),
    ]

    assert BigQuerySource().latest_usage() == newest

    body = bq.queries()[0].body
    (since,) = body["queryParameters"]
    assert since["name"] == "since" and since["parameterType"] == {"type": "DATE"}
    today = {now.date(), datetime.now(UTC).date()}  # the clock may have passed midnight meanwhile
    assert since["parameterValue"]["value"] in {(day - timedelta(days=3)).isoformat() for day in today}
    assert "DATE(_PARTITIONTIME) >= @since" in body["query"]
    assert body["labels"] == {"aipress-job": "cost-aggregation"}


def test_latest_usage_is_none_when_nothing_was_exported_lately(bq):
    bq.rows = [export_row("2020-01-01T00:00:00Z", 1.0)]

    assert BigQuerySource().latest_usage() is None


def test_it_is_a_costs_driver(bq):
    assert drivers.protocol_mismatches(BigQuerySource, CostSource) == []
    assert drivers.driver_class("costs", "bigquery") is BigQuerySource
    assert isinstance(drivers.driver("costs"), BigQuerySource)


# The fake refuses what it should (through the official client, bypassing the source)


def _daily(fake: FakeBigQuery, sql: str | None = None, parameters: list | None = None, **config) -> list:
    table = table_name(fake.table)
    if parameters is None:
        parameters = [
            bigquery.ScalarQueryParameter("start", "DATE", START),
            bigquery.ScalarQueryParameter("end", "DATE", END),
        ]
    job_config = bigquery.QueryJobConfig(query_parameters=parameters, **{"use_legacy_sql": False, **config})
    rows = sdk_client(fake).query_and_wait(sql or daily_costs_sql(table), job_config=job_config)
    return list(rows)


def test_the_fake_answers_the_sources_query(fake):
    assert len(_daily(fake)) == 22


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        (lambda sql: sql, None, None),  # the control: unchanged, accepted
        (lambda sql: sql.replace("@start AND @end", "DATE '2026-10-01' AND @end"), api_exceptions.BadRequest, "date"),
        (
            lambda sql: sql.replace("BETWEEN @start AND @end", "BETWEEN '2026-10-01' AND '2026-10-03'"),
            api_exceptions.BadRequest,
            "date",
        ),
        (
            lambda sql: (
                sql.split("DATE(_PARTITIONTIME)")[0] + "DATE(usage_start_time, 'UTC') BETWEEN @start AND @end\n"
                "GROUP BY 1, 2, 3, 4, 5"
            ),
            api_exceptions.BadRequest,
            "without a filter over column(s)",
        ),
        (
            lambda sql: sql.replace("gcp_billing_export_v1_0123AB_456789_ABCDEF", "other_table"),
            api_exceptions.NotFound,
            "Not found: Table billing-admin-7:billing_export.other_table",
        ),
        (lambda sql: sql.replace("`", ""), api_exceptions.BadRequest, "quote the table"),
        (
            lambda sql: sql.replace("-- aipress:daily-costs", "-- some query"),
            api_exceptions.BadRequest,
            "only queries that start with",
        ),
        (
            lambda sql: sql.replace("GROUP BY 1, 2, 3, 4, 5", "GROUP BY 1, 2, 3, 4"),
            api_exceptions.BadRequest,
            "GROUP BY",
        ),
        (lambda sql: sql.replace("'aipress-site-id'", "'site'"), api_exceptions.BadRequest, "site label"),
        (
            lambda sql: sql.replace("AND DATE(usage_start_time, 'UTC') BETWEEN @start AND @end", ""),
            api_exceptions.BadRequest,
            "usage filter",
        ),
    ],
)
def test_the_fake_checks_the_sql(fake, change, error, words):
    sql = change(daily_costs_sql(table_name(fake.table)))
    if error is None:
        assert _daily(fake, sql)
        return
    with pytest.raises(error) as refused:
        _daily(fake, sql)
    assert words in refused.value.message
    assert refused.value.errors[0]["reason"] in {"invalidQuery", "notFound"}


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ([bigquery.ScalarQueryParameter("start", "DATE", START)], "Query parameter 'end' not found at ["),
        (
            [
                bigquery.ScalarQueryParameter("start", "STRING", "2026-10-01"),
                bigquery.ScalarQueryParameter("end", "DATE", END),
            ],
            "query parameter 'start' must be a DATE",
        ),
        (
            [bigquery.ScalarQueryParameter(None, "DATE", START), bigquery.ScalarQueryParameter(None, "DATE", END)],
            "must be NAMED",
        ),
        (
            [
                bigquery.ScalarQueryParameter("start", "DATE", START),
                bigquery.ScalarQueryParameter("end", "DATE", "3 October"),
            ],
            "Invalid date value",
        ),
    ],
)
def test_the_fake_checks_the_parameters(fake, parameters, words):
    with pytest.raises(api_exceptions.BadRequest) as refused:
        _daily(fake, parameters=parameters)
    assert words in refused.value.message


def test_the_fake_refuses_legacy_sql_and_other_projects(fake):
    with pytest.raises(api_exceptions.BadRequest, match="legacy SQL"):
        _daily(fake, use_legacy_sql=True)
    with pytest.raises(api_exceptions.Forbidden, match=r"bigquery\.jobs\.create permission in project other-project"):
        sdk_client(fake).query_and_wait(daily_costs_sql(table_name(fake.table)), project="other-project")
    assert {r.path for r in fake.queries()} == {
        "/bigquery/v2/projects/billing-admin-7/queries",
        "/bigquery/v2/projects/other-project/queries",
    }


def test_the_fake_answers_errors_in_bigquerys_shape(fake):
    answer = requests.post(
        f"{fake.endpoint}/bigquery/v2/projects/billing-admin-7/queries", json={"query": "SELECT 1"}, timeout=5
    )

    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "code": 400,
            "message": LEGACY,
            "errors": [
                {
                    "message": LEGACY,
                    "domain": "global",
                    "reason": "invalidQuery",
                }
            ],
            "status": "INVALID_ARGUMENT",
        }
    }
    unknown = requests.post(
        f"{fake.endpoint}/bigquery/v2/projects/billing-admin-7/queries",
        json={"query": "SELECT 1", "useLegacySql": False, "destinationTable": {}},
        timeout=5,
    )
    assert unknown.status_code == 400
    assert 'Unknown name "destinationTable"' in unknown.json()["error"]["message"]
