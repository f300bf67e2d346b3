"""Sites on Cloud Run, created concurrently against the loopback fakes: calls and time per site.

    .venv/bin/python bench/cloudrun_provision.py [--sites 20] [--poll-seconds 1.0] [--run-polls 3] [--sql-polls 2]

SITES_RUNTIME=cloudrun and SITES_SECRETS=secretmanager, every Google endpoint on a fake of
sites/tests/gcp (Cloud Run, Cloud SQL Admin, Secret Manager, IAM; Cloud Storage on the emulator);
database users are made over MySQL on the sites' MariaDB, as the tests do. `--sites` sites are
created at once, each by a thread of its own that does what POST /api/v1/sites/ does
(services.site_request) and then acts as the worker of that site (pipeline.advance, sleeping until
the operation is due again, as a Celery countdown would). Reported per site: the calls made, by API,
in the web request and in the pipeline; the time from the create call to ready; and how the
pipeline's time splits between our code and waiting for the next poll. Everything runs in a database,
Celery queue and key prefix of its own; the MySQL users made are dropped at the end.

The threads share one interpreter (and its GIL) with the fakes, so under load the time in our code
includes waiting for the CPU; `--sites 1` gives the uncontended figures. The fakes finish an
operation after a number of polls, not of seconds: waiting is polls times the poll interval.
"""

import argparse
import io
import logging
import os
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from _setup import ROOT, fresh_database, percentile

PROJECT = "aipress-bench"
REGION = "europe-west1"
SQL_INSTANCE = "shared-sql"
KEY_PREFIX = "benchcr_"
PHASES = ("request", "pipeline")
# Rows of the calls table, in this order; the container is the fake's stand-in for WordPress.
APIS = (
    "Cloud Run Admin",
    "Cloud SQL Admin",
    "Secret Manager",
    "IAM",
    "Resource Manager",
    "Cloud Storage (emulator)",
)
CONTAINER = "Cloud Run service URL (WordPress)"
MYSQL = "MySQL admin connections"
REVEAL = "GET secrets/*/versions/*:access"  # a secret's value read


class Context(threading.local):
    """Whose calls these are: each thread is one site's web request, then its worker."""

    site: int | None = None
    phase: str = "request"
    after: float | None = None  # what the pipeline last asked a kick to wait
    step_started: float = 0.0
    pending_s: float = 0.0  # step attempts that answered Pending (no SiteEvent duration records them)
    publish_s: float = 0.0  # sending live progress events (Redis)
    publishes: int = 0


@dataclass
class SiteRun:
    index: int
    site_id: int = 0
    start: float = 0.0
    end: float = 0.0
    request_s: float = 0.0
    worker_s: float = 0.0
    waited_s: float = 0.0
    pending_s: float = 0.0
    publish_s: float = 0.0
    publishes: int = 0
    waits: int = 0

    @property
    def ready_s(self) -> float:
        return self.end - self.start


class PoolFull(logging.Filter):
    """urllib3 warns each time a shared client's connection pool (10) is full and a connection is
    thrown away: counted instead of printed."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "Connection pool is full" in record.getMessage():
            self.count += 1
            return False
        return True


class Tally:
    """Calls counted on the client side, by (site, phase, api, kind): the storage emulator is not a
    FakeApi, and a fake's own record cannot tell which thread (site, phase) asked."""

    def __init__(self) -> None:
        self.ctx = Context()
        self.lock = threading.Lock()
        self.calls: Counter[tuple[int, str, str, str]] = Counter()
        self.ports: dict[int, str] = {}
        self.discovery_builds: Counter[int] = Counter()
        self.discovery_s: defaultdict[int, float] = defaultdict(float)

    def count(self, api: str, kind: str) -> None:
        site = self.ctx.site
        if site is None:
            return  # set-up and clean-up
        with self.lock:
            self.calls[(site, self.ctx.phase, api, kind)] += 1

    def http(self, method: str, url: str) -> None:
        parts = urlsplit(url)
        api = self.ports.get(parts.port or 0)
        if api is None:
            return
        if api == "Cloud Run Admin" and parts.path.startswith("/run/"):
            self.count(CONTAINER, f"{method} /{parts.path.split('/', 3)[-1]}")
        else:
            self.count(api, f"{method} {shape(parts.path)}")

    def per_site(self, sites: int, api: str, phase: str) -> list[int]:
        totals = Counter(dict.fromkeys(range(sites), 0))
        for (site, called_in, called, _), n in self.calls.items():
            if called == api and called_in == phase:
                totals[site] += n
        return [totals[index] for index in range(sites)]


def shape(path: str) -> str:
    """A REST path with its ids starred: /v1/projects/p/secrets/s/versions/3:access becomes
    secrets/*/versions/*:access (project and location left out: they never change here)."""
    segments = [s for s in path.split("/") if s]
    start = next((i + 1 for i, s in enumerate(segments) if s[:1] == "v" and s[1:2].isdigit()), 0)
    rest = segments[start:]
    out: list[str] = []
    for i, segment in enumerate(rest):
        if i % 2 == 0:
            out.append(segment)
        else:
            verb = segment.rsplit(":", 1)[1] if ":" in segment else ""
            out.append("*" + (f":{verb}" if verb else ""))
    while out[:2] and out[0] in ("projects", "locations") and len(out) > 2:
        out = out[2:]
    return "/".join(out)


def install_counters(tally: Tally) -> None:
    """Count every HTTP call the SDKs make, where all of them pass: requests (the GAPIC REST
    transports of Cloud Run and Secret Manager, google-cloud-storage), httplib2 (the discovery
    clients of Cloud SQL Admin and IAM) and urllib (web.py asking the service URL)."""
    import httplib2
    import requests

    from sites.runtimes.cloudrun import clients
    from sites.runtimes.cloudrun import database as cloud_database

    session_request = requests.Session.request

    def counted_session(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        tally.http(method.upper(), url)
        return session_request(self, method, url, *args, **kwargs)

    requests.Session.request = counted_session  # type: ignore[method-assign, assignment]  # a wrapper

    http_request = httplib2.Http.request

    def counted_http(self: Any, uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        tally.http(method.upper(), uri)
        return http_request(self, uri, method, *args, **kwargs)

    httplib2.Http.request = counted_http

    # web.py opens URLs with an opener of its own (no redirects): every opener goes through here.
    opener_open = urllib.request.OpenerDirector.open

    def counted_open(self: urllib.request.OpenerDirector, url: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(url, urllib.request.Request):
            tally.http(url.get_method(), url.full_url)
        else:
            tally.http("GET", str(url))
        return opener_open(self, url, *args, **kwargs)

    urllib.request.OpenerDirector.open = counted_open  # type: ignore[method-assign, assignment]  # a wrapper

    # Not HTTP, but worth seeing: how many discovery clients sqladmin() and iam() build.
    discovery = clients.discovery.build

    def timed_discovery(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return discovery(*args, **kwargs)
        finally:
            site = tally.ctx.site
            if site is not None:
                with tally.lock:
                    tally.discovery_builds[site] += 1
                    tally.discovery_s[site] += time.perf_counter() - began

    clients.discovery.build = timed_discovery

    admin = cloud_database.admin

    def counted_admin(cfg: Any) -> Any:
        tally.count(MYSQL, "connect")
        return admin(cfg)

    cloud_database.admin = counted_admin


def install_worker_hooks(ctx: Context) -> None:
    """The thread is the worker: a kick is remembered (the thread sleeps that long, then advances
    again), and a step attempt that answers Pending is timed, since only finished steps get a
    SiteEvent with a duration."""
    from sites import pipeline

    def kick(tenant: Any, site_id: int, *, after: float | None = None) -> None:
        ctx.after = after

    pipeline.kick = kick

    site_spec = pipeline.site_spec

    def timed_spec(**kwargs: Any) -> Any:
        # A step's clock starts just before it asks for the site's spec: so does this one.
        ctx.step_started = time.perf_counter()
        return site_spec(**kwargs)

    pipeline.site_spec = timed_spec

    wait = pipeline._wait

    def timed_wait(operation: Any, tenant: Any, worker: str, step: str, pending: Any) -> str:
        ctx.pending_s += time.perf_counter() - ctx.step_started
        return wait(operation, tenant, worker, step, pending)

    pipeline._wait = timed_wait

    # Live progress: every event is sent to the tenant's sockets through Redis, once its
    # transaction commits, each send a fresh event loop of async_to_sync's.
    from tenants import events

    async_to_sync = events.async_to_sync

    def timed_async_to_sync(function: Any) -> Callable[..., Any]:
        sync = async_to_sync(function)

        def call(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return sync(*args, **kwargs)
            finally:
                ctx.publish_s += time.perf_counter() - began
                ctx.publishes += 1

        return call

    events.async_to_sync = timed_async_to_sync  # type: ignore[assignment]  # a wrapper


@contextmanager
def fakes(run_polls: int, sql_polls: int) -> Iterator[dict[str, Any]]:
    from sites.tests.gcp.fakes import (
        FakeCloudRun,
        FakeCloudSql,
        FakeIam,
        FakeResourceManager,
        FakeSecretManager,
        StorageEmulator,
    )

    secrets = FakeSecretManager().start()
    started: dict[str, Any] = {"Secret Manager": secrets}
    try:
        started["Cloud Run Admin"] = FakeCloudRun(polls_before_done=run_polls, secret_manager=secrets).start()
        started["Cloud SQL Admin"] = FakeCloudSql(
            instances={PROJECT: [SQL_INSTANCE]},
            region=REGION,
            polls_before_done=sql_polls,
            one_operation_at_a_time=True,
        ).start()
        started["IAM"] = FakeIam().start()
        started["Resource Manager"] = FakeResourceManager(projects=(PROJECT,), iam=started["IAM"]).start()
        started["Cloud Storage (emulator)"] = StorageEmulator().start()
        yield started
    finally:
        for fake in started.values():
            fake.stop()


def drop_users() -> int:
    """The MySQL users this bench's sites got (the runtime never drops them unless a site is deleted)."""
    from sites.runtimes.cloudrun import database as cloud_database

    pattern = "wp_" + KEY_PREFIX
    pattern = pattern.replace("_", "\\_") + "%"  # LIKE's `_` is any character: only ours
    with cloud_database.admin(cloud_database.config()) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT User FROM mysql.user WHERE Host = %s AND User LIKE %s", (cloud_database.USER_HOST, pattern)
        )
        users = [user for (user,) in cursor.fetchall()]
        for user in users:
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, cloud_database.USER_HOST))
    return len(users)


def spread(values: list[float], digits: int = 2, unit: str = "") -> str:
    return " | ".join(f"{percentile(values, pct):.{digits}f}{unit}" for pct in (50, 95)) + (
        f" | {max(values):.{digits}f}{unit}" if values else " | -"
    )


def mean_range(values: list[int]) -> str:
    low, high = min(values), max(values)
    mean = sum(values) / len(values)
    return f"{mean:.1f}" if low == high else f"{mean:.1f} ({low}–{high})"


@dataclass
class Results:
    args: argparse.Namespace
    runs: list[SiteRun]
    tally: Tally
    events: list[tuple[int, str, str, int | None]]  # (site id, step, outcome, duration_ms)
    seen: dict[str, int]  # requests each fake recorded
    dropped: int
    pool_full: int

    @property
    def wall(self) -> float:
        return max(run.end for run in self.runs) - min(run.start for run in self.runs)

    def step_events(self) -> tuple[dict[int, float], dict[str, list[float]], Counter[tuple[int, str]]]:
        """Per site, seconds in finished steps; per step, its succeeded attempts' ms; attempts by (site, step)."""
        from sites import pipeline
        from sites.models import SiteEvent

        index_of = {run.site_id: run.index for run in self.runs}
        finished = (SiteEvent.Outcome.SUCCEEDED, SiteEvent.Outcome.FAILED)
        seconds: defaultdict[int, float] = defaultdict(float)
        succeeded: defaultdict[str, list[float]] = defaultdict(list)
        attempts: Counter[tuple[int, str]] = Counter()
        for site_id, step, outcome, duration_ms in self.events:
            if step not in pipeline.STEP_BY_NAME:
                continue
            attempts[(index_of[site_id], step)] += outcome in (*finished, SiteEvent.Outcome.WAITING)
            if outcome in finished and duration_ms is not None:
                seconds[index_of[site_id]] += duration_ms / 1000
                if outcome == SiteEvent.Outcome.SUCCEEDED:
                    succeeded[step].append(float(duration_ms))
        return seconds, succeeded, attempts


def report_calls(results: Results) -> tuple[int, int]:
    """The calls tables; (all Google API calls, those made in the web requests)."""
    tally, n = results.tally, results.args.sites
    print()
    print("| calls per site, mean (min–max) | web request | pipeline | total |")
    print("|---|---:|---:|---:|")
    google = {phase: [0] * n for phase in PHASES}
    for api in (*APIS, CONTAINER, MYSQL):
        by_phase = {phase: tally.per_site(n, api, phase) for phase in PHASES}
        both = [a + b for a, b in zip(by_phase["request"], by_phase["pipeline"], strict=True)]
        if api in APIS:
            for phase in PHASES:
                google[phase] = [a + b for a, b in zip(google[phase], by_phase[phase], strict=True)]
        label = f"{api} (not HTTP)" if api == MYSQL else api
        print(
            f"| {label} | {mean_range(by_phase['request'])} | {mean_range(by_phase['pipeline'])} | {mean_range(both)} |"
        )
        if api == APIS[-1]:
            total = [a + b for a, b in zip(google["request"], google["pipeline"], strict=True)]
            print(
                f"| **all Google APIs** | **{mean_range(google['request'])}** | "
                f"**{mean_range(google['pipeline'])}** | **{mean_range(total)}** |"
            )
    all_calls = sum(google["request"]) + sum(google["pipeline"])

    kinds: Counter[tuple[str, str]] = Counter()
    kinds_by_phase: Counter[tuple[str, str, str]] = Counter()
    for (_, phase, api, kind), count in tally.calls.items():
        if api in APIS:
            kinds[(api, kind)] += count
            kinds_by_phase[(api, kind, phase)] += count
    print()
    print("| busiest calls, per site | web request | pipeline | share of all API calls |")
    print("|---|---:|---:|---:|")
    for (api, kind), count in kinds.most_common(8):
        request, work = kinds_by_phase[(api, kind, "request")] / n, kinds_by_phase[(api, kind, "pipeline")] / n
        print(f"| {api}: {kind} | {request:.1f} | {work:.1f} | {count / all_calls:.0%} |")
    return all_calls, sum(google["request"])


def report_time(results: Results) -> dict[str, float]:
    """The time table; the pipeline's shares of waiting, steps and bookkeeping."""
    runs, n = results.runs, results.args.sites
    step_s, _, _ = results.step_events()
    steps = [step_s[run.index] for run in runs]
    pending = [run.pending_s for run in runs]
    bookkeeping = [run.worker_s - step_s[run.index] - run.pending_s for run in runs]
    waited = [run.waited_s for run in runs]
    publish = [run.publish_s for run in runs]
    pipeline_total = sum(run.worker_s + run.waited_s for run in runs)
    print()
    print("| per site, seconds | p50 | p95 | max | share of the pipeline's time |")
    print("|---|---:|---:|---:|---:|")
    print(f"| create call → ready | {spread([run.ready_s for run in runs])} | |")
    print(f"| web request (site_request: 10 secrets stored) | {spread([run.request_s for run in runs])} | |")
    rows = {
        "steps done or failed (SiteEvent.duration_ms)": steps,
        "step attempts that answered Pending (not in SiteEvent)": pending,
        "the worker's bookkeeping (claims, events, status, final reveal)": bookkeeping,
        "waiting for the next poll (sleeping)": waited,
    }
    for label, values in rows.items():
        print(f"| pipeline: {label} | {spread(values)} | {sum(values) / pipeline_total:.0%} |")
    print(
        f"| of which: live progress sent to Redis ({sum(run.publishes for run in runs) / n:.0f} sends) "
        f"| {spread(publish)} | {sum(publish) / pipeline_total:.0%} |"
    )
    print(f"| **all {n} sites: first create call → last ready** | | | **{results.wall:.2f}** | |")
    return {
        "waiting": sum(waited) / pipeline_total,
        "steps": (sum(steps) + sum(pending)) / pipeline_total,
        "bookkeeping": sum(bookkeeping) / pipeline_total,
    }


def report_steps(results: Results) -> None:
    from sites import pipeline

    n = results.args.sites
    _, succeeded, attempts = results.step_events()
    print()
    print("| step (per site) | attempts | succeeded attempt p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for stage in pipeline.STEPS:
        tries = [attempts[(index, stage.name)] for index in range(n)]
        print(f"| {stage.name} | {mean_range(tries)} | {spread(succeeded[stage.name], 0)} |")


def report_notes(results: Results) -> None:
    tally, n = results.tally, results.args.sites
    builds = sum(tally.discovery_builds.values())
    print()
    print(
        f"Also: {builds / n:.1f} discovery clients built per site (one per worker thread and API), "
        f"{sum(tally.discovery_s.values()) / max(builds, 1) * 1000:.0f} ms each on average under this load; "
        f"{sum(run.waits for run in results.runs) / n:.1f} waits per site; {results.dropped} MySQL users dropped; "
        f"{results.pool_full} HTTP connections thrown away by urllib3 (a shared client's pool of 10 was full)."
    )
    counted = {api: sum(c for (_, _, a, _), c in tally.calls.items() if a == api) for api in APIS}
    counted["Cloud Run Admin"] += sum(c for (_, _, a, _), c in tally.calls.items() if a == CONTAINER)
    differ = {api: (counted[api], seen) for api, seen in results.seen.items() if counted[api] != seen}
    print(
        "Client-side counts match what the fakes recorded."
        if not differ
        else f"Client-side counts differ from the fakes' records (counted, recorded): {differ}"
    )
    print("Cloud Storage is counted on the client side only (the emulator keeps no record of requests).")


def main() -> None:  # noqa: PLR0915 - one measured story, told in order
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="SITES_CLOUD_POLL_SECONDS")
    parser.add_argument("--run-polls", type=int, default=3, help="Cloud Run operations: polls answered not done")
    parser.add_argument("--sql-polls", type=int, default=2, help="Cloud SQL operations: polls answered not done")
    args = parser.parse_args()

    import environ

    environ.Env.read_env(ROOT / "var" / "env", overwrite=False)  # what `make services` found
    mariadb = os.environ.get("SITES_MARIADB_URL", "")
    if not mariadb:
        raise SystemExit("SITES_MARIADB_URL is not set: run `make services` first.")

    with fakes(args.run_polls, args.sql_polls) as cloud:
        storage_endpoint = cloud["Cloud Storage (emulator)"].endpoint
        os.environ.update(
            {
                "DATABASE_URL": fresh_database("aipress_bench_cloudrun"),
                "CELERY_QUEUE": "aipress-bench-cloudrun",
                "SITES_KEY_PREFIX": KEY_PREFIX,
                "LOG_LEVEL": "WARNING",
                # N threads stand for N worker processes, each with a connection of its own (and one
                # for a step's heartbeat): the process's pool must not be what they queue on.
                "DATABASE_POOL_MAX": str(2 * args.sites + 4),
                "SITES_RUNTIME": "cloudrun",
                "SITES_SECRETS": "secretmanager",
                "GOOGLE_CLOUD_PROJECT": PROJECT,
                "SITES_CLOUDRUN_REGION": REGION,
                "SITES_CLOUDSQL_INSTANCE": SQL_INSTANCE,
                "SITES_CLOUDSQL_ADMIN_URL": mariadb,  # the sites' MariaDB stands in for the instance's MySQL
                "SITES_IMAGE": f"{REGION}-docker.pkg.dev/{PROJECT}/sites/wordpress:bench",
                "SITES_CLOUD_POLL_SECONDS": str(args.poll_seconds),
                "CLOUDRUN_ENDPOINT": cloud["Cloud Run Admin"].endpoint,
                "CLOUDSQL_ADMIN_ENDPOINT": cloud["Cloud SQL Admin"].endpoint,
                "SECRETMANAGER_ENDPOINT": cloud["Secret Manager"].endpoint,
                "IAM_ENDPOINT": cloud["IAM"].endpoint,
                "RESOURCEMANAGER_ENDPOINT": cloud["Resource Manager"].endpoint,
                "STORAGE_EMULATOR_HOST": storage_endpoint,
            }
        )
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipress.settings")
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django_tenants.utils import tenant_context

        from sites import pipeline, services
        from sites.models import Site, SiteEvent, SiteStatus
        from tenants import services as tenant_services
        from tenants.audit import Actor
        from tenants.models import Tenant, User

        said = io.StringIO()
        call_command("setup_platform", verbosity=0, stdout=said)
        if "NOT REACHABLE" in said.getvalue():
            raise SystemExit(f"a driver does not answer:\n{said.getvalue()}")
        drop_users()  # left by an interrupted run: the fresh database gives the same ids again
        owner = User.objects.create_user(email="bench@example.com")
        tenant = tenant_services.tenant_create(actor=Actor.system(), slug="bench", name="Bench", owner=owner)
        tenant_services.tenant_provision(tenant_id=tenant.pk)
        Tenant.objects.filter(pk=tenant.pk).update(max_sites=args.sites)
        tenant.refresh_from_db()  # active now, and room for every site
        actor = Actor.of_user(owner)

        tally = Tally()
        tally.ports = {urlsplit(fake.endpoint).port or 0: api for api, fake in cloud.items()}
        install_counters(tally)
        pool_full = PoolFull()
        logging.getLogger("urllib3.connectionpool").addFilter(pool_full)
        install_worker_hooks(tally.ctx)
        for api, fake in cloud.items():
            if api != "Cloud Storage (emulator)":
                with fake.lock:
                    fake.requests.clear()  # what setup_platform's driver checks asked

        ctx = tally.ctx
        gate = threading.Barrier(args.sites)

        def provision(index: int) -> SiteRun:
            run = SiteRun(index)
            ctx.site, ctx.phase, ctx.pending_s = index, "request", 0.0
            try:
                gate.wait(timeout=60)  # all at once: the point is concurrency
                run.start = time.perf_counter()
                site, _, _ = services.site_request(
                    tenant=tenant, actor=actor, name=f"site{index}", title=f"Bench site {index}"
                )
                run.site_id = site.pk
                run.request_s = time.perf_counter() - run.start
                ctx.phase, ctx.publish_s, ctx.publishes = "pipeline", 0.0, 0
                while True:
                    ctx.after = None
                    began = time.perf_counter()
                    with tenant_context(tenant):
                        stopped = pipeline.advance(tenant=tenant, site_id=site.pk)
                    run.worker_s += time.perf_counter() - began
                    if stopped == "idle":
                        break
                    if stopped != "waiting" or time.perf_counter() - run.start > 100:
                        raise RuntimeError(f"site{index}: the worker stopped: {stopped}")
                    slept = time.perf_counter()
                    time.sleep(ctx.after or 0.0)
                    run.waited_s += time.perf_counter() - slept
                    run.waits += 1
                run.end = time.perf_counter()
                run.pending_s, run.publish_s, run.publishes = ctx.pending_s, ctx.publish_s, ctx.publishes
                return run
            finally:
                ctx.site = None
                connection.close()  # each thread's own connection

        try:
            with ThreadPoolExecutor(max_workers=args.sites) as pool:
                runs = list(pool.map(provision, range(args.sites)))

            # What the fakes saw, to check the client-side counts against (storage has no record).
            seen = {api: len(fake.requests) for api, fake in cloud.items() if api != "Cloud Storage (emulator)"}
            with tenant_context(tenant):
                statuses = Counter(Site.objects.values_list("status", flat=True))
                events = list(
                    SiteEvent.objects.filter(operation__isnull=False).values_list(
                        "site_id", "step", "outcome", "duration_ms"
                    )
                )
        finally:
            dropped = drop_users()
            from aipress.celery import app

            app.control.purge()

    if statuses != {SiteStatus.READY: args.sites}:
        raise SystemExit(f"not every site became ready: {dict(statuses)}")
    results = Results(args, runs, tally, events, seen, dropped, pool_full.count)
    print()
    print(
        f"{args.sites} sites created at once, {args.sites} threads each its own site's web request and then its "
        f"worker; SITES_CLOUD_POLL_SECONDS={args.poll_seconds:g}; fakes: a Cloud Run operation answers done on "
        f"poll {args.run_polls + 1} (polls_before_done={args.run_polls}), a Cloud SQL one on poll "
        f"{args.sql_polls + 1} (polls_before_done={args.sql_polls})."
    )
    all_calls, in_request = report_calls(results)
    split = report_time(results)
    report_steps(results)
    report_notes(results)
    ready = [run.ready_s for run in runs]
    reveals = sum(c for (_, _, api, kind), c in tally.calls.items() if api == "Secret Manager" and kind == REVEAL)
    n = args.sites
    print()
    print(
        f"Summary: {n} concurrent sites ready in {results.wall:.1f} s (create→ready p50 {percentile(ready, 50):.1f} "
        f"s, p95 {percentile(ready, 95):.1f} s, max {max(ready):.1f} s); {all_calls / n:.0f} Google API calls per "
        f"site ({in_request / n:.0f} in the web request), {reveals / all_calls:.0%} of them Secret Manager reads; "
        f"the pipeline's time: {split['waiting']:.0%} waiting for polls, {split['steps']:.0%} in steps, "
        f"{split['bookkeeping']:.0%} bookkeeping."
    )


if __name__ == "__main__":
    main()
