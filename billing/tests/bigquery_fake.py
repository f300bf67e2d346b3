"""A loopback fake of BigQuery's v2 REST API holding one table, the standard billing export, as the
official `google-cloud-bigquery` client speaks to it (point its api_endpoint at `fake.endpoint`).

It answers the calls the costs source makes: jobs.query (and, when a job is slow or its result is
paged, jobs.get, jobs.getQueryResults and jobs.cancel) and tables.get. Request bodies and query
parameters are checked against the discovery document of bigquery v2 that googleapiclient ships, and
errors come back in BigQuery's shape: `{"error": {"code", "message", "errors": [{"message", "domain",
"reason"}], "status"}}` with the HTTP status BigQuery uses.

It cannot run SQL. It recognises the two queries of billing.sources.bigquery by their marker comment
(`-- aipress:daily-costs`, `-- aipress:latest-usage`), checks their shape (the table they read, their
filters, their parameters, how they sum money) and computes the answer itself, in Python, from the
rows it holds: an implementation independent of PostgreSQL's. It refuses, as BigQuery would or as a
reviewer would: a project other than the one allowed to run jobs (403), legacy SQL, a table other
than its own (404) or one not in backticks, a date written into the SQL instead of a parameter, a
scan without a filter on `_PARTITIONTIME`, a parameter missing, of the wrong type, or positional.

Rows are dicts in the shape of Google Cloud's export (what billing/exports.py reads). The export is
partitioned by load time: a row's `_PARTITIONTIME` is the day of its `export_time` when it has one,
else the day of its `usage_end_time` (a row is exported after its usage ends)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sites.tests.gcp.base import (
    ApiError,
    FakeApi,
    Handler,
    Recorded,
    Request,
    Response,
    check_labels,
    check_schema,
    load_discovery,
)

DEFAULT_TABLE = "billing-admin-7.billing_export.gcp_billing_export_v1_0123AB_456789_ABCDEF"
TENANT_LABEL = "aipress-tenant-id"
SITE_LABEL = "aipress-site-id"
DAILY_MARKER = "-- aipress:daily-costs"
LATEST_MARKER = "-- aipress:latest-usage"
# The legacy `reason` BigQuery gives for each status.
REASONS = {400: "invalidQuery", 401: "unauthorized", 403: "accessDenied", 404: "notFound", 409: "duplicate"}
LEGACY = (
    "The fake runs standard SQL only: set useLegacySql to false (without it, jobs.query reads the query as legacy "
    "SQL, which knows neither backticks nor @parameters)."
)
# Query parameters the client sends that the discovery document does not list, and BigQuery takes.
UNDOCUMENTED_PARAMETERS = {"jobs.get": {"projection"}}
# How long a jobs.query or getQueryResults hangs waiting for a job when the call sets no timeoutMs
# (BigQuery: 10 s); the `poll_seconds` of a fake can shorten it.
MAX_POLL_SECONDS = 10.0

_COMMENT = re.compile(r"(--|#)[^\n]*")
# A date (or time) written into the SQL: typed literals, quoted dates, DATE(2026, 10, 1).
_DATE_LITERAL = re.compile(
    r"""\b(?:DATE|DATETIME|TIMESTAMP)\s*(?:'[^']*'|"[^"]*")|['"]\d{4}-\d{1,2}-\d{1,2}|\bDATE\s*\(\s*\d{4}\s*,""",
    re.IGNORECASE,
)
_TABLE_REF = re.compile(r"\b(?:FROM|JOIN)\s+(?!UNNEST\b)(`[^`]*`|[^\s(),;]+)", re.IGNORECASE)
_PARAMETER = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_S = r"\s*"  # optional whitespace, to keep the shape patterns readable


def _label_pattern(key: str, alias: str) -> re.Pattern[str]:
    return re.compile(
        rf"IFNULL{_S}\({_S}\({_S}SELECT\s+value\s+FROM\s+UNNEST{_S}\({_S}labels{_S}\)\s+WHERE\s+key{_S}={_S}"
        rf"'{re.escape(key)}'{_S}\){_S},{_S}''{_S}\)\s+AS\s+{alias}\b",
        re.IGNORECASE,
    )


_DAILY_SHAPE: dict[str, re.Pattern[str]] = {
    "the tenant label as tenant_label": _label_pattern(TENANT_LABEL, "tenant_label"),
    "the site label as site_label": _label_pattern(SITE_LABEL, "site_label"),
    "service.description as service": re.compile(
        rf"(IFNULL{_S}\({_S}service\.description{_S},{_S}''{_S}\)|service\.description)\s+AS\s+service\b", re.I
    ),
    "the UTC day of usage_start_time as day": re.compile(
        rf"DATE{_S}\({_S}usage_start_time({_S},{_S}'UTC')?{_S}\)\s+AS\s+day\b", re.I
    ),
    "currency": re.compile(r"\bday\s*,\s*currency\s*,", re.I),
    "a GROUP BY of the first five columns": re.compile(
        rf"GROUP\s+BY\s+(1{_S},{_S}2{_S},{_S}3{_S},{_S}4{_S},{_S}5|tenant_label{_S},{_S}site_label{_S},{_S}service"
        rf"{_S},{_S}day{_S},{_S}currency){_S}$",
        re.I,
    ),
    "the usage filter DATE(usage_start_time) BETWEEN @start AND @end": re.compile(
        rf"\bWHERE\b.*DATE{_S}\({_S}usage_start_time({_S},{_S}'UTC')?{_S}\)\s+BETWEEN\s+@start\s+AND\s+@end\b",
        re.I | re.S,
    ),
}
_GROSS = re.compile(
    rf"SUM{_S}\({_S}(?P<cast>CAST{_S}\({_S}cost\s+AS\s+(BIG)?NUMERIC{_S}\)|cost){_S}\)\s+AS\s+gross\b", re.I
)
_CREDITS = re.compile(
    rf"SUM{_S}\({_S}IFNULL{_S}\({_S}\({_S}SELECT\s+SUM{_S}\({_S}(?P<cast>CAST{_S}\({_S}(?P<a>\w+)\.amount\s+AS\s+"
    rf"(BIG)?NUMERIC{_S}\)|(?P<b>\w+)\.amount){_S}\)\s+FROM\s+UNNEST{_S}\({_S}credits{_S}\)(\s+AS)?\s+(?P<alias>\w+)"
    rf"{_S}\){_S},{_S}0{_S}\){_S}\)\s+AS\s+credits\b",
    re.I,
)
_DAILY_PARTITION = re.compile(
    rf"\bWHERE\b.*DATE{_S}\({_S}_PARTITIONTIME{_S}\)\s+BETWEEN\s+DATE_SUB{_S}\({_S}@start{_S},{_S}INTERVAL\s+"
    rf"(?P<before>\d+)\s+DAY{_S}\)\s+AND\s+DATE_ADD{_S}\({_S}@end{_S},{_S}INTERVAL\s+(?P<after>\d+)\s+DAY{_S}\)",
    re.I | re.S,
)
_LATEST_SHAPE = re.compile(rf"SELECT\s+MAX{_S}\({_S}usage_end_time{_S}\)\s+AS\s+latest\b", re.I)
_LATEST_PARTITION = re.compile(rf"\bWHERE\b.*DATE{_S}\({_S}_PARTITIONTIME{_S}\){_S}>={_S}@since\b", re.I | re.S)


def _invalid_query(message: str) -> ApiError:
    return ApiError(400, message, reason="invalidQuery")


def timestamp_of(value: Any) -> datetime:
    """A TIMESTAMP of the export as BigQuery reads one: ISO 8601 with Z or an offset, or `... UTC`."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        if text.endswith(" UTC"):
            text = text[:-4]
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def numeric_of(value: Any) -> Decimal:
    """CAST(x AS NUMERIC) of a FLOAT64 column: the exact binary value, rounded to 9 decimals, halves away
    from zero."""
    return Decimal(float(value or 0)).quantize(Decimal("1e-9"), rounding=ROUND_HALF_UP)


def numeric_wire(value: Decimal) -> str:
    # BigQuery writes NUMERIC without trailing zeros and without exponent.
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _label(row: dict[str, Any], key: str) -> str | None:
    for item in row.get("labels") or []:
        if item.get("key") == key:
            return None if item.get("value") is None else str(item["value"])
    return None


@dataclass
class Job:
    job_id: str
    project: str
    location: str
    query: str
    request: dict[str, Any]
    schema: list[dict[str, str]]
    rows: list[dict[str, Any]]
    polls_left: int
    held: bool
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    cancelled: bool = False

    @property
    def done(self) -> bool:
        return self.cancelled or (self.polls_left <= 0 and not self.held)

    def reference(self) -> dict[str, str]:
        return {"projectId": self.project, "jobId": self.job_id, "location": self.location}


class FakeBigQuery(FakeApi):
    """One table, `table` (`project.dataset.table`), in `location`; queries may run in `job_project`
    (default: the table's project). State: `rows`, and the switches below, which tests flip."""

    def __init__(
        self,
        table: str = DEFAULT_TABLE,
        *,
        rows: list[dict[str, Any]] | None = None,
        job_project: str | None = None,
        location: str = "US",
    ) -> None:
        self.doc = load_discovery("bigquery.v2")
        self.table = table
        self.table_project, self.dataset, self.table_id = table.rsplit(".", 2)
        self.job_project = job_project or self.table_project
        self.location = location
        self.rows: list[dict[str, Any]] = list(rows or [])
        # Permissions of the caller: bigquery.jobs.create on job_project, data access on the dataset.
        self.can_create_jobs = True
        self.can_read_table = True
        # How a query job behaves: answered after this many polls of getQueryResults; never finished
        # (until cancelled); results in pages of this many rows.
        self.pending_polls = 0
        self.hold_jobs = False
        self.page_rows: int | None = None
        self.poll_seconds = MAX_POLL_SECONDS
        self.jobs: dict[str, Job] = {}
        super().__init__()
        self._changed = threading.Condition(self.lock)

    def routes(self) -> list[tuple[str, str, Handler]]:
        project = r"/bigquery/v2/projects/(?P<project>[^/]+)"
        return [
            ("POST", project + "/queries", self._query),
            ("GET", project + "/queries/(?P<job_id>[^/]+)", self._get_query_results),
            ("GET", project + "/jobs/(?P<job_id>[^/]+)", self._get_job),
            ("POST", project + "/jobs/(?P<job_id>[^/]+)/cancel", self._cancel_job),
            ("POST", project + "/jobs", self._insert_job),
            ("GET", project + "/datasets/(?P<dataset>[^/]+)/tables/(?P<table>[^/]+)", self._get_table),
        ]

    # For tests

    def queries(self) -> list[Recorded]:
        """The jobs.query requests received, in order (refused ones included)."""
        return self.requests_to("POST", r"/queries$")

    def error_response(self, error: ApiError) -> Response:
        reason = error.reason or REASONS.get(error.code, "backendError")
        body = {
            "code": error.code,
            "message": error.message,
            "errors": [{"message": error.message, "domain": "global", "reason": reason}],
            "status": error.status,
        }
        return Response(error.code, {"error": body})

    # What every call checks

    def _check_params(self, request: Request, method: str) -> None:
        resource, name = method.split(".")
        documented = self.doc["resources"][resource]["methods"][name].get("parameters", {})
        known = set(self.doc["parameters"]) | set(documented) | UNDOCUMENTED_PARAMETERS.get(method, set())
        for parameter in request.query:
            if parameter not in known:
                raise ApiError(
                    400, f'Invalid JSON payload received. Unknown name "{parameter}": Cannot bind query parameter.'
                )

    def _check_location(self, location: str | None, what: str) -> None:
        if location and location.lower() != self.location.lower():
            raise ApiError(404, f"Not found: {what} was not found in location {location}")

    def _check_job_project(self, project: str) -> None:
        if project != self.job_project or not self.can_create_jobs:
            raise ApiError(
                403,
                f"Access Denied: Project {project}: User does not have bigquery.jobs.create permission in "
                f"project {project}.",
            )

    def _job(self, project: str, job_id: str, location: str | None) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.project != project:
            raise ApiError(404, f"Not found: Job {project}:{job_id}")
        self._check_location(location, f"Job {project}:{job_id}")
        return job

    # jobs.query

    def _query(self, request: Request, project: str) -> Response:
        self._check_params(request, "jobs.query")
        self._check_job_project(project)
        body = check_schema(request.body, {"$ref": "QueryRequest"}, self.doc, "")
        check_labels(body.get("labels"), "labels")
        if body.get("useLegacySql") is not False:
            # jobs.query reads a request without useLegacySql as legacy SQL, which knows neither
            # backticks nor parameters.
            raise _invalid_query(LEGACY)
        self._check_location(body.get("location"), f"Dataset {self.table_project}:{self.dataset}")
        sql = str(body.get("query") or "")
        code = _COMMENT.sub(" ", sql)
        parameters = self._parameters(body, code)
        self._check_tables(code)
        literal = _DATE_LITERAL.search(code)
        if literal:
            # Not BigQuery's rule but the platform's: dates travel as parameters, never as SQL text.
            raise _invalid_query(
                f"The query writes a date into its SQL ({literal.group(0)}...): pass dates as DATE parameters."
            )
        if not re.search(r"\b_PARTITION(TIME|DATE)\b", code):
            raise _invalid_query(
                f"Cannot query over table '{self.table}' without a filter over column(s) '_PARTITION_LOAD_TIME', "
                "'_PARTITIONDATE', '_PARTITIONTIME' that can be used for partition elimination"
            )
        use_int64 = bool((body.get("formatOptions") or {}).get("useInt64Timestamp"))
        if sql.lstrip().startswith(DAILY_MARKER):
            schema, rows = self._daily_costs(code, parameters)
        elif sql.lstrip().startswith(LATEST_MARKER):
            schema, rows = self._latest_usage(code, parameters, use_int64=use_int64)
        else:
            raise _invalid_query(f"The fake answers only queries that start with {DAILY_MARKER} or {LATEST_MARKER}.")
        job = Job(
            job_id=f"job_{uuid.uuid4().hex}",
            project=project,
            location=self.location,
            query=sql,
            request=body,
            schema=schema,
            rows=rows,
            polls_left=self.pending_polls,
            held=self.hold_jobs,
        )
        self.jobs[job.job_id] = job
        if job.held:
            self._wait(job, body.get("timeoutMs"))
        if not job.done:
            return Response(
                200, {"kind": "bigquery#queryResponse", "jobReference": job.reference(), "jobComplete": False}
            )
        return Response(200, {"kind": "bigquery#queryResponse", **self._results(job, None, None)})

    def _parameters(self, body: dict[str, Any], code: str) -> dict[str, tuple[str, str]]:
        declared = body.get("queryParameters") or []
        if declared and body.get("parameterMode") != "NAMED":
            raise _invalid_query(
                f"parameterMode is {body.get('parameterMode')!r}: the query names its parameters (@start), so "
                "it must be NAMED."
            )
        parameters: dict[str, tuple[str, str]] = {}
        for index, parameter in enumerate(declared):
            name = str(parameter.get("name") or "")
            kind = str((parameter.get("parameterType") or {}).get("type") or "")
            value = (parameter.get("parameterValue") or {}).get("value")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ApiError(
                    400, f"Invalid query parameter name at queryParameters[{index}]: {name!r}", reason="invalid"
                )
            if name.lower() in {n.lower() for n in parameters}:
                raise ApiError(400, f"Duplicate query parameter name: {name}", reason="invalid")
            if kind == "DATE" and not (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
                raise ApiError(400, f"Invalid date value for query parameter {name}: {value!r}", reason="invalid")
            parameters[name] = (kind, "" if value is None else str(value))
        for match in _PARAMETER.finditer(code):
            if match.group(1) not in parameters:
                line = code.count("\n", 0, match.start()) + 1
                column = match.start() - (code.rfind("\n", 0, match.start()) + 1) + 1
                raise _invalid_query(f"Query parameter '{match.group(1)}' not found at [{line}:{column}]")
        return parameters

    def _check_tables(self, code: str) -> None:
        tables = _TABLE_REF.findall(code)
        if not tables:
            raise _invalid_query("The fake's table is never read: the query has no FROM.")
        for reference in tables:
            name = reference.strip("`")
            if name != self.table:
                parts = name.rsplit(".", 2)
                shown = f"{parts[0]}:{parts[1]}.{parts[2]}" if len(parts) == 3 else name
                raise ApiError(404, f"Not found: Table {shown} was not found in location {self.location}")
            if not (reference.startswith("`") and reference.endswith("`")):
                raise _invalid_query(
                    f'Syntax error: Unexpected "-": quote the table as `{self.table}` (its project has dashes).'
                )
        if not self.can_read_table:
            shown = f"{self.table_project}:{self.dataset}.{self.table_id}"
            raise ApiError(
                403,
                f"Access Denied: Table {shown}: User does not have permission to query table {shown}, or perhaps "
                "it does not exist.",
            )

    def _date_parameter(self, parameters: dict[str, tuple[str, str]], name: str, use: str) -> date:
        kind, value = parameters[name]
        if kind != "DATE":
            raise _invalid_query(
                f"No matching signature for {use} for argument types: DATE, {kind or 'no type'} (query parameter "
                f"'{name}' must be a DATE)"
            )
        return date.fromisoformat(value)

    def _partition_of(self, row: dict[str, Any]) -> date:
        loaded = row.get("export_time") or row.get("usage_end_time") or row.get("usage_start_time")
        return timestamp_of(loaded).date()

    # The two queries

    def _daily_costs(
        self, code: str, parameters: dict[str, tuple[str, str]]
    ) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
        for what, pattern in _DAILY_SHAPE.items():
            if not pattern.search(code):
                raise _invalid_query(f"The fake does not recognise the daily-costs query: it lacks {what}.")
        gross, credits = _GROSS.search(code), _CREDITS.search(code)
        if gross is None or credits is None:
            raise _invalid_query(
                "The fake does not recognise the daily-costs query: it lacks SUM(cost) AS gross or "
                "SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) c), 0)) AS credits."
            )
        if (credits["a"] or credits["b"]) != credits["alias"]:
            raise _invalid_query(f"Unrecognized name: {credits['a'] or credits['b']}")
        window = _DAILY_PARTITION.search(code)
        if window is None:
            raise _invalid_query(
                "The fake does not recognise the partition filter: DATE(_PARTITIONTIME) BETWEEN "
                "DATE_SUB(@start, INTERVAL n DAY) AND DATE_ADD(@end, INTERVAL m DAY)."
            )
        start = self._date_parameter(parameters, "start", "operator BETWEEN")
        end = self._date_parameter(parameters, "end", "operator BETWEEN")
        first_load = start - timedelta(days=int(window["before"]))
        last_load = end + timedelta(days=int(window["after"]))
        numeric_gross, numeric_credits = bool(gross["cast"].upper().startswith("CAST")), bool(credits["a"])

        groups: dict[tuple[str, str, str, date, str], list[Any]] = {}
        for row in self.rows:
            day = timestamp_of(row["usage_start_time"]).date()
            if not start <= day <= end or not first_load <= self._partition_of(row) <= last_load:
                continue
            key = (
                _label(row, TENANT_LABEL) or "",
                _label(row, SITE_LABEL) or "",
                str((row.get("service") or {}).get("description") or ""),
                day,
                str(row.get("currency")),
            )
            amounts = [credit.get("amount") for credit in row.get("credits") or []]
            if numeric_gross:
                row_gross: Any = numeric_of(row.get("cost"))
            else:
                row_gross = float(row.get("cost") or 0)
            if numeric_credits:
                row_credits: Any = sum((numeric_of(a) for a in amounts), Decimal(0))
            else:
                row_credits = sum(float(a or 0) for a in amounts)
            total = groups.setdefault(
                key, [Decimal(0) if numeric_gross else 0.0, Decimal(0) if numeric_credits else 0.0]
            )
            total[0] += row_gross
            total[1] += row_credits

        def money(value: Any) -> str:
            return numeric_wire(value) if isinstance(value, Decimal) else repr(float(value))

        schema = [
            {"name": "tenant_label", "type": "STRING", "mode": "NULLABLE"},
            {"name": "site_label", "type": "STRING", "mode": "NULLABLE"},
            {"name": "service", "type": "STRING", "mode": "NULLABLE"},
            {"name": "day", "type": "DATE", "mode": "NULLABLE"},
            {"name": "currency", "type": "STRING", "mode": "NULLABLE"},
            {"name": "gross", "type": "NUMERIC" if numeric_gross else "FLOAT", "mode": "NULLABLE"},
            {"name": "credits", "type": "NUMERIC" if numeric_credits else "FLOAT", "mode": "NULLABLE"},
        ]
        rows = [
            {"f": [{"v": t}, {"v": s}, {"v": svc}, {"v": d.isoformat()}, {"v": c}, {"v": money(g)}, {"v": money(cr)}]}
            for (t, s, svc, d, c), (g, cr) in groups.items()
        ]
        return schema, rows

    def _latest_usage(
        self, code: str, parameters: dict[str, tuple[str, str]], *, use_int64: bool
    ) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
        if not _LATEST_SHAPE.search(code):
            raise _invalid_query(
                "The fake does not recognise the latest-usage query: SELECT MAX(usage_end_time) AS latest."
            )
        if not _LATEST_PARTITION.search(code):
            raise _invalid_query("The fake does not recognise the partition filter: DATE(_PARTITIONTIME) >= @since.")
        since = self._date_parameter(parameters, "since", "operator >=")
        ends = [timestamp_of(r["usage_end_time"]) for r in self.rows if self._partition_of(r) >= since]
        latest = max(ends) if ends else None
        if latest is None:
            value = None
        elif use_int64:
            value = str((latest - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))
        else:
            value = repr(latest.timestamp())
        return [{"name": "latest", "type": "TIMESTAMP", "mode": "NULLABLE"}], [{"f": [{"v": value}]}]

    # Results, jobs

    def _results(
        self, job: Job, page_token: str | None, max_results: int | None, start_index: int = 0
    ) -> dict[str, Any]:
        if page_token is not None:
            if not re.fullmatch(r"o\d+", page_token):
                raise ApiError(400, "Invalid page token.", reason="invalid")
            start_index = int(page_token[1:])
        size = self.page_rows if max_results is None else max_results
        end = len(job.rows) if size is None else min(len(job.rows), start_index + size)
        answer: dict[str, Any] = {
            "schema": {"fields": job.schema},
            "jobReference": job.reference(),
            "totalRows": str(len(job.rows)),
            "totalBytesProcessed": str(len(json.dumps(self.rows, default=str))),
            "jobComplete": True,
            "cacheHit": False,
        }
        if max_results != 0:
            answer["rows"] = job.rows[start_index:end]
        if end < len(job.rows) and max_results != 0:
            answer["pageToken"] = f"o{end}"
        return answer

    def _wait(self, job: Job, timeout_ms: Any) -> None:
        # getQueryResults (and jobs.query) hang until the job finishes or their timeoutMs is up.
        seconds = min(self.poll_seconds, int(timeout_ms) / 1000 if timeout_ms is not None else self.poll_seconds)
        self._changed.wait_for(lambda: job.done, timeout=seconds)

    def _get_query_results(self, request: Request, project: str, job_id: str) -> Response:
        self._check_params(request, "jobs.getQueryResults")
        job = self._job(project, job_id, request.param("location"))
        if not job.done:
            if job.held:
                self._wait(job, request.param("timeoutMs"))
            else:
                job.polls_left -= 1
        if job.cancelled:
            raise ApiError(400, "Job execution was cancelled: User requested cancellation", reason="stopped")
        if not job.done:
            return Response(
                200, {"kind": "bigquery#getQueryResultsResponse", "jobReference": job.reference(), "jobComplete": False}
            )
        max_results = request.param("maxResults")
        answer = self._results(
            job,
            request.param("pageToken"),
            int(max_results) if max_results is not None else None,
            int(request.param("startIndex") or 0),
        )
        wanted = request.param("fields")
        if wanted:  # a partial response: only the fields asked for
            answer = {k: v for k, v in answer.items() if k in {f.strip() for f in wanted.split(",")}}
        return Response(200, {"kind": "bigquery#getQueryResultsResponse", **answer})

    def _job_resource(self, job: Job) -> dict[str, Any]:
        status: dict[str, Any] = {"state": "DONE" if job.done else "RUNNING"}
        if job.cancelled:
            status["errorResult"] = {
                "reason": "stopped",
                "message": "Job execution was cancelled: User requested cancellation",
            }
        statistics: dict[str, Any] = {"creationTime": str(job.created_ms), "startTime": str(job.created_ms)}
        if job.done:
            statistics["endTime"] = str(int(time.time() * 1000))
            statistics["query"] = {
                "totalBytesProcessed": str(len(json.dumps(self.rows, default=str))),
                "statementType": "SELECT",
            }
        configuration = {
            "jobType": "QUERY",
            "query": {
                key: job.request[key]
                for key in ("query", "useLegacySql", "parameterMode", "queryParameters")
                if key in job.request
            },
            "labels": job.request.get("labels") or {},
        }
        return {
            "kind": "bigquery#job",
            "id": f"{job.project}:{job.location}.{job.job_id}",
            "jobReference": job.reference(),
            "configuration": configuration,
            "status": status,
            "statistics": statistics,
        }

    def _get_job(self, request: Request, project: str, job_id: str) -> Response:
        self._check_params(request, "jobs.get")
        return Response(200, self._job_resource(self._job(project, job_id, request.param("location"))))

    def _cancel_job(self, request: Request, project: str, job_id: str) -> Response:
        self._check_params(request, "jobs.cancel")
        job = self._job(project, job_id, request.param("location"))
        if not job.done:
            job.cancelled = True
            self._changed.notify_all()
        return Response(200, {"kind": "bigquery#jobCancelResponse", "job": self._job_resource(job)})

    def _insert_job(self, request: Request, project: str) -> Response:
        raise ApiError(
            501,
            "The fake runs queries through jobs.query only; the client fell back to jobs.insert (a job option "
            "that jobs.query does not take?).",
            reason="notImplemented",
        )

    # tables.get

    def _get_table(self, request: Request, project: str, dataset: str, table: str) -> Response:
        self._check_params(request, "tables.get")
        if (project, dataset, table) != (self.table_project, self.dataset, self.table_id):
            raise ApiError(404, f"Not found: Table {project}:{dataset}.{table}")
        if not self.can_read_table:
            raise ApiError(
                403,
                f"Access Denied: Table {project}:{dataset}.{table}: Permission bigquery.tables.get denied on table "
                f"{project}:{dataset}.{table} (or it may not exist).",
            )
        # The standard export's columns the source reads (the real table has more).
        schema = [
            {"name": "billing_account_id", "type": "STRING", "mode": "NULLABLE"},
            {
                "name": "service",
                "type": "RECORD",
                "mode": "NULLABLE",
                "fields": [
                    {"name": "id", "type": "STRING", "mode": "NULLABLE"},
                    {"name": "description", "type": "STRING", "mode": "NULLABLE"},
                ],
            },
            {"name": "usage_start_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
            {"name": "usage_end_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
            {
                "name": "labels",
                "type": "RECORD",
                "mode": "REPEATED",
                "fields": [
                    {"name": "key", "type": "STRING", "mode": "NULLABLE"},
                    {"name": "value", "type": "STRING", "mode": "NULLABLE"},
                ],
            },
            {"name": "export_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
            {"name": "cost", "type": "FLOAT", "mode": "NULLABLE"},
            {"name": "currency", "type": "STRING", "mode": "NULLABLE"},
            {
                "name": "credits",
                "type": "RECORD",
                "mode": "REPEATED",
                "fields": [
                    {"name": "name", "type": "STRING", "mode": "NULLABLE"},
                    {"name": "amount", "type": "FLOAT", "mode": "NULLABLE"},
                ],
            },
        ]
        now = str(int(time.time() * 1000))
        return Response(
            200,
            {
                "kind": "bigquery#table",
                "id": f"{project}:{dataset}.{table}",
                "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
                "schema": {"fields": schema},
                # Ingestion-time partitioning, by day, as the billing export is created. Unlike the real
                # export the fake requires a partition filter, so a query that scans it all fails here.
                "timePartitioning": {"type": "DAY"},
                "requirePartitionFilter": True,
                "numRows": str(len(self.rows)),
                "numBytes": str(len(json.dumps(self.rows, default=str))),
                "creationTime": now,
                "lastModifiedTime": now,
                "type": "TABLE",
                "location": self.location,
            },
        )
