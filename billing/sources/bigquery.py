"""The costs concern on Google Cloud: the standard billing export, queried in BigQuery.

`daily_costs` is one standard-SQL query that groups the export the way the local source groups
ExportRow (billing.sources.local): per tenant label, site label, service, UTC day of usage and
currency, with the gross cost and the sum of credits apart. The two sources must agree to the last
decimal, so money is summed as NUMERIC in BigQuery (the export stores FLOAT64) and arrives as Decimal.

Nothing from settings reaches the SQL unchecked: the table name must have the shape of a BigQuery
table id before it is quoted into the query, and dates travel only as query parameters."""

import concurrent.futures
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests
from django.conf import settings
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

from billing.sources.base import SITE_LABEL, TENANT_LABEL, DailyCost, SourceError

TABLE_SHAPE = (
    "project.dataset.table, such as my-billing-project.billing_export.gcp_billing_export_v1_0123AB_456789_ABCDEF"
)
DEFAULT_ENDPOINT = "https://bigquery.googleapis.com"
# Every job the platform runs carries this label, so its cost shows up apart in the billing export.
JOB_LABELS = {"aipress-job": "cost-aggregation"}
# Markers the loopback fake of the tests (billing/tests/bigquery_fake.py) recognises the queries by.
DAILY_MARKER = "-- aipress:daily-costs"
LATEST_MARKER = "-- aipress:latest-usage"
LATEST_WINDOW_DAYS = 3

# A project id (6-30 characters), optionally domain-scoped ("example.com:project"), as Google allows them.
_PROJECT = (
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+:)?"
    r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
)
_PROJECT_ID = re.compile(_PROJECT)
# Stricter than BigQuery (which allows Unicode letters and spaces in table names): whatever passes
# can sit between backticks with no way to end the quoted name.
_TABLE_ID = re.compile(
    rf"(?P<project>{_PROJECT})\.(?P<dataset>[A-Za-z0-9_]{{1,1024}})\.(?P<table>[A-Za-z0-9_-]{{1,1024}})"
)
# What can go wrong when talking to BigQuery; each becomes a SourceError that says what to fix.
_FAILURES = (
    api_exceptions.GoogleAPIError,
    auth_exceptions.GoogleAuthError,
    requests.RequestException,
    concurrent.futures.TimeoutError,
)
# What could reveal a credential if an error message ever echoed a request header.
_SECRETS = re.compile(r"(?i)bearer\s+\S+|ya29\.[\w.-]+|\"?(access_token|refresh_token|private_key)\"?\s*[:=]\s*\S+")


@dataclass(frozen=True)
class TableName:
    project: str
    dataset: str
    table: str

    @property
    def name(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"

    @property
    def sql(self) -> str:
        # One pair of backticks around the whole path, as BigQuery wants for projects with dashes.
        return f"`{self.name}`"

    @property
    def reference(self) -> bigquery.TableReference:
        return bigquery.TableReference(bigquery.DatasetReference(self.project, self.dataset), self.table)


def table_name(value: str) -> TableName:
    """The billing-export table named by BIGQUERY_BILLING_TABLE, refused unless it has the shape of one."""
    match = _TABLE_ID.fullmatch(value or "")
    if match is None:
        shown = f"{value[:80]!r}" if value else "empty"
        raise SourceError(f"BIGQUERY_BILLING_TABLE is {shown}: set it to the billing export's table as {TABLE_SHAPE}.")
    return TableName(match["project"], match["dataset"], match["table"])


def daily_costs_sql(table: TableName) -> str:
    # The label subqueries answer NULL for a row without the label; IFNULL makes that "", as the
    # local source stores it. Credits are negative amounts; a row without any sums to 0, not NULL.
    return f"""{DAILY_MARKER}
SELECT
  IFNULL((SELECT value FROM UNNEST(labels) WHERE key = '{TENANT_LABEL}'), '') AS tenant_label,
  IFNULL((SELECT value FROM UNNEST(labels) WHERE key = '{SITE_LABEL}'), '') AS site_label,
  IFNULL(service.description, '') AS service,
  DATE(usage_start_time, 'UTC') AS day,
  currency,
  SUM(CAST(cost AS NUMERIC)) AS gross,
  SUM(IFNULL((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) AS c), 0)) AS credits
FROM {table.sql}
WHERE
  -- The export is partitioned by the time a row was loaded, not by its usage: rows for a day of
  -- usage arrive hours to days later (and corrections later still). The partition filter keeps the
  -- scan (and its price) to the days such rows can be in; the usage filter picks the rows.
  DATE(_PARTITIONTIME) BETWEEN DATE_SUB(@start, INTERVAL 1 DAY) AND DATE_ADD(@end, INTERVAL 7 DAY)
  AND DATE(usage_start_time, 'UTC') BETWEEN @start AND @end
GROUP BY 1, 2, 3, 4, 5
"""


def latest_usage_sql(table: TableName) -> str:
    # Freshness only needs the newest partitions; a full scan of the export would cost as much as
    # the whole export is large.
    return f"""{LATEST_MARKER}
SELECT MAX(usage_end_time) AS latest
FROM {table.sql}
WHERE DATE(_PARTITIONTIME) >= @since
"""


def _credentials(endpoint: str) -> Credentials | None:
    # A plain-HTTP endpoint is an emulator or a test's fake on loopback: it takes no token, and a real
    # token must never travel unencrypted. Otherwise the default credentials (the runtime's service
    # account, GOOGLE_APPLICATION_CREDENTIALS) apply.
    return AnonymousCredentials() if endpoint.startswith("http://") else None


def _money(value: Any, column: str) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # The shortest repr, as the export's own figure was written; never the binary expansion.
        return Decimal(repr(value))
    raise SourceError(f"BigQuery answered {type(value).__name__} for {column}; expected a NUMERIC.")


def _redacted(text: str, limit: int = 500) -> str:
    return _SECRETS.sub("[redacted]", text)[:limit]


class BigQuerySource:
    """Reads the standard billing export named by BIGQUERY_BILLING_TABLE; jobs run in BIGQUERY_PROJECT."""

    def __init__(self) -> None:
        self._client: bigquery.Client | None = None
        self._client_lock = threading.Lock()

    # The protocol

    def daily_costs(self, *, start: date, end: date) -> list[DailyCost]:
        table = table_name(str(settings.BIGQUERY_BILLING_TABLE).strip())
        parameters = [
            bigquery.ScalarQueryParameter("start", "DATE", start),
            bigquery.ScalarQueryParameter("end", "DATE", end),
        ]
        rows = self._query(table, daily_costs_sql(table), parameters, doing="summing the billing export")
        return [
            DailyCost(
                tenant_label=str(row["tenant_label"]),
                site_label=str(row["site_label"]),
                service=str(row["service"]),
                day=row["day"],
                currency=str(row["currency"]),
                gross=_money(row["gross"], "gross"),
                credits=_money(row["credits"], "credits"),
            )
            for row in rows
        ]

    def latest_usage(self) -> datetime | None:
        table = table_name(str(settings.BIGQUERY_BILLING_TABLE).strip())
        since = datetime.now(UTC).date() - timedelta(days=LATEST_WINDOW_DAYS)
        parameters = [bigquery.ScalarQueryParameter("since", "DATE", since)]
        rows = self._query(table, latest_usage_sql(table), parameters, doing="reading the newest usage")
        latest = rows[0]["latest"] if rows else None
        if latest is None:
            return None
        if not isinstance(latest, datetime):
            raise SourceError(
                f"BigQuery answered {type(latest).__name__} for MAX(usage_end_time); expected a TIMESTAMP."
            )
        return latest

    def check(self) -> str:
        table = table_name(str(settings.BIGQUERY_BILLING_TABLE).strip())
        project = self._job_project(table)
        timeout = self._timeout()
        try:
            found = self._client_for(project).get_table(
                table.reference, retry=DEFAULT_RETRY.with_timeout(timeout), timeout=timeout
            )
        except _FAILURES as exc:
            raise _explained(exc, table=table, project=project, doing="reading the table's metadata") from None
        partitioning = found.time_partitioning
        partitioned = (
            f", partitioned by {partitioning.type_} on {partitioning.field or 'load time'}" if partitioning else ""
        )
        rows = f"{found.num_rows} rows" if found.num_rows is not None else "rows unknown"
        where = f" in {found.location}" if found.location else ""
        return f"BigQuery billing export {table.name}{where} ({rows}{partitioned}), queried as project {project}"

    # Plumbing

    def _query(
        self, table: TableName, sql: str, parameters: list[bigquery.ScalarQueryParameter], *, doing: str
    ) -> list[Any]:
        project = self._job_project(table)
        timeout = self._timeout()
        config = bigquery.QueryJobConfig(
            use_legacy_sql=False,
            query_parameters=parameters,
            labels=JOB_LABELS,
            # BigQuery stops the job itself (and its billing) when the platform stops waiting.
            job_timeout_ms=int(timeout * 1000),
        )
        try:
            rows = self._client_for(project).query_and_wait(
                sql,
                job_config=config,
                project=project,
                location=str(settings.BIGQUERY_LOCATION) or None,
                api_timeout=timeout,
                # Checked between polls of the job: a poll under way (BigQuery holds one up to 10 s)
                # finishes first, then the library cancels the job.
                wait_timeout=timeout,
                # The library's defaults retry for 10 minutes (jobs: 40); the aggregation would rather
                # fail within its own bound and run again on its next beat.
                retry=DEFAULT_RETRY.with_timeout(timeout),
                job_retry=DEFAULT_JOB_RETRY.with_timeout(timeout),
            )
            # Further pages are fetched while iterating: their errors are explained the same way.
            return list(rows)
        except _FAILURES as exc:
            raise _explained(exc, table=table, project=project, doing=doing) from None

    def _client_for(self, project: str) -> bigquery.Client:
        # Made at first use: building it looks up default credentials, which a process that never
        # reads costs must not need. Calls name their project and location themselves.
        with self._client_lock:
            if self._client is None:
                endpoint = str(settings.BIGQUERY_ENDPOINT)
                self._client = bigquery.Client(
                    project=project,
                    location=str(settings.BIGQUERY_LOCATION) or None,
                    credentials=_credentials(endpoint),
                    client_options={"api_endpoint": endpoint} if endpoint else None,
                )
            return self._client

    @staticmethod
    def _job_project(table: TableName) -> str:
        project = str(settings.BIGQUERY_PROJECT).strip() or table.project
        if not _PROJECT_ID.fullmatch(project):
            raise SourceError(
                f"BIGQUERY_PROJECT is {project[:80]!r}: set it to the id of the project that runs the queries "
                "(6-30 lowercase letters, digits and dashes), or leave it empty to use the table's project."
            )
        return project

    @staticmethod
    def _timeout() -> float:
        timeout = float(settings.BIGQUERY_TIMEOUT_SECONDS)
        if timeout <= 0:
            raise SourceError(f"BIGQUERY_TIMEOUT_SECONDS is {timeout:g}: set it to a number of seconds above 0.")
        return timeout


def _explained(exc: BaseException, *, table: TableName, project: str, doing: str) -> SourceError:
    """A SourceError that says what to fix. Only BigQuery's own message is quoted, never the
    request: its headers carry the token."""
    timeout = float(settings.BIGQUERY_TIMEOUT_SECONDS)
    endpoint = str(settings.BIGQUERY_ENDPOINT) or DEFAULT_ENDPOINT
    if isinstance(exc, api_exceptions.RetryError):
        cause = exc.cause
        # The job's retry wraps the call's retry: the first failure that is not a retry says what happened.
        while isinstance(cause, api_exceptions.RetryError):
            cause = cause.cause
        if isinstance(cause, Exception):
            explained = _explained(cause, table=table, project=project, doing=doing)
            message = f"{explained} (still failing after retrying for {timeout:g}s)"
        else:
            message = f"BigQuery did not answer within BIGQUERY_TIMEOUT_SECONDS={timeout:g} while {doing}."
    elif isinstance(exc, api_exceptions.GoogleAPICallError):
        message = _api_error_message(exc, table=table, project=project, doing=doing)
    elif isinstance(exc, concurrent.futures.TimeoutError | requests.Timeout):
        message = (
            f"BigQuery did not finish {doing} within BIGQUERY_TIMEOUT_SECONDS={timeout:g}: raise it, or "
            "aggregate fewer days at a time."
        )
    elif isinstance(exc, requests.RequestException):
        message = (
            f"Cannot reach BigQuery at {endpoint} ({type(exc).__name__}) while {doing}: check "
            "BIGQUERY_ENDPOINT (empty for Google's) and that this host may connect out."
        )
    elif isinstance(exc, auth_exceptions.DefaultCredentialsError):
        message = (
            "No Google credentials for BigQuery: run with a service account attached (Cloud Run, GKE, "
            "GCE) or set GOOGLE_APPLICATION_CREDENTIALS to a key file of one."
        )
    elif isinstance(exc, auth_exceptions.GoogleAuthError):
        # Its message may quote the token endpoint's answer; the class says enough.
        message = (
            f"Google credentials for BigQuery could not be used ({type(exc).__name__}): check the service "
            "account (is it enabled, is its key still valid?)."
        )
    else:
        message = f"BigQuery failed while {doing}: {type(exc).__name__}."
    return SourceError(message)


def _api_error_message(exc: api_exceptions.GoogleAPICallError, *, table: TableName, project: str, doing: str) -> str:
    message = _redacted(str(exc.message or ""))
    errors = exc.errors or []
    reason = str(errors[0].get("reason", "")) if errors and isinstance(errors[0], dict) else ""
    said = f"BigQuery answered {exc.code} {reason}".rstrip() + f" while {doing}: {message}"
    dataset = f"{table.project}.{table.dataset}"
    if isinstance(exc, api_exceptions.Forbidden) and reason in {"rateLimitExceeded", "quotaExceeded"}:
        return f"{said}. A BigQuery quota of project {project} is used up: the next run will try again."
    if isinstance(exc, api_exceptions.Forbidden):
        return (
            f"{said}. The service account needs roles/bigquery.jobUser on project {project} (BIGQUERY_PROJECT, "
            f"which runs the query) and roles/bigquery.dataViewer on the dataset {dataset} (of "
            "BIGQUERY_BILLING_TABLE)."
        )
    if isinstance(exc, api_exceptions.Unauthorized):
        return f"{said}. BigQuery did not accept the credentials: check the service account the platform runs as."
    if isinstance(exc, api_exceptions.NotFound):
        location = str(settings.BIGQUERY_LOCATION)
        where = f" in location {location} (BIGQUERY_LOCATION)" if location else ""
        return (
            f"{said}. Check BIGQUERY_BILLING_TABLE={table.name}: it must name the billing export's table "
            f"({TABLE_SHAPE}){where}, and project {project} (BIGQUERY_PROJECT) must exist."
        )
    if isinstance(exc, api_exceptions.BadRequest):
        return (
            f"{said}. Is {table.name} a standard billing export table (labels, credits, service, "
            "usage_start_time, cost, currency)?"
        )
    return said
