"""How fast one site's pages are served, side by side with a hand-tuned server, in one run.

    flock /tmp/aipress-bench.lock .venv/bin/python bench/site_serving.py [--seconds 10] [--rounds 5] [--costs]

One real site, made by the platform's own pipeline on the local runtime (its user, files, database,
php-fpm pool and nginx server block, sandboxed as `make run` runs it), and a reference server that
this script builds by hand in a temp folder from the same Debian packages, serving the same WordPress
files and database: an nginx and a php-fpm master of its own, with the settings a performance-minded
administrator would choose (static workers, one per core; opcache sized and never checking files;
no open_basedir, nothing checked per request). Its pool runs as the site's user, so that it reads the
same files, and gets the same environment (database, salts) from a prepended file of its own.

Each row is measured with wrk (`-t1 -c4`, the issue's measure) in rounds that take turns, after a
warm-up; the table shows each row's median round (req/s, p50 and p95 latency, errors), the CPU time
its nginx and php-fpm spent per request, and its ratio to the row it is compared with: the median of
the ratios round by round, so that the load of other work on the machine, which changes from one
round to the next, cancels out. Target (issue 13): the platform's uncached home page at 0.9 or more
of the reference.

`--costs` adds rows that put one of the platform's restrictions or choices on the reference at a time
(each on a php-fpm master of its own), and the platform's site without its packet filter: what each
costs on this machine (docs/site-performance.md).

More rows: `rows()` returns the list measured and printed; append a Row (a URL, its headers, the row
it is compared with, its target). `measure()` measures any URL on its own.
"""

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from _setup import django_on, fresh_database
from site_provision import free_port

if TYPE_CHECKING:
    from sites.spec import SiteSpec

CONNECTIONS = 4
THREADS = 1
# Keeps a request off the site's full-page cache (docs/page-cache.md) and means nothing to WordPress:
# the uncached rows send it, to the platform and to the reference alike.
UNCACHED = {"Cookie": "wordpress_no_cache=1"}

# wrk's summary as one JSON line (its own text output has no p95).
WRK_REPORT = """
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "non_2xx": %d, '
    .. '"socket_errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
    latency:percentile(99) / 1e3, errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
"""


def cpu_seconds(pid_files: list[Path]) -> float:
    """CPU time used so far by the daemons whose masters these pid files name, and by their workers
    (alive ones, and those that ended: their time is in the master's cutime once it reaped them)."""
    from sites.runtimes.local import processes

    def times(pid: int, *, with_children: bool) -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the command name: utime, stime, cutime, cstime are the 12th to the 15th fields.
        return sum(int(value) for value in fields[11 : 15 if with_children else 13])

    ticks = 0
    for pid_file in pid_files:
        master = int(pid_file.read_text().strip())
        ticks += times(master, with_children=True)
        for worker in processes.children(master):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                ticks += times(worker, with_children=False)
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(
    url: str, headers: dict[str, str], *, seconds: int, connections: int = CONNECTIONS, pid_files: Sequence[Path] = ()
) -> dict[str, float]:
    """One wrk run against `url`: rps (requests per second), p50_ms, p95_ms, p99_ms, non_2xx,
    socket_errors, and with `pid_files` cpu_ms (CPU time of those daemons per request)."""
    cpu_before = cpu_seconds(list(pid_files))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="aipress-wrk-") as script:
        script.write(WRK_REPORT)
        script.flush()
        command = ["wrk", f"-t{THREADS}", f"-c{connections}", f"-d{seconds}s", "-s", script.name]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    report: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    report["rps"] = report["requests"] / report["seconds"]
    report["cpu_ms"] = (cpu_seconds(list(pid_files)) - cpu_before) * 1000 / max(report["requests"], 1)
    return report


@dataclass
class Row:
    """A line of the table: what is requested, with which headers, compared with which row."""

    label: str
    url: str
    headers: dict[str, str]
    compare_to: str | None = None
    target: str = ""
    # The pid files of the masters of the daemons that serve it (nginx, php-fpm): their CPU time per
    # request is measured too, a figure the machine's other load disturbs less than req/s.
    pid_files: list[Path] = field(default_factory=list)
    results: list[dict[str, float]] = field(default_factory=list)

    def median(self) -> dict[str, float]:
        ordered = sorted(self.results, key=lambda result: result["rps"])
        return ordered[(len(ordered) - 1) // 2]

    def ratio_to(self, base: "Row") -> float:
        """The median of the ratios round by round (each round measured this row and its base a few
        seconds apart, so a change of the machine's load between rounds cancels out)."""
        if len(self.results) != len(base.results):
            return self.median()["rps"] / base.median()["rps"]
        ratios = sorted(mine["rps"] / theirs["rps"] for mine, theirs in zip(self.results, base.results, strict=True))
        middle = len(ratios) // 2
        return ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2


def cache_status(url: str, headers: dict[str, str]) -> str:
    """What the response's X-Cache says ("" without one): a row meant to be uncached must not HIT."""
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:  # noqa: S310
        return str(response.headers.get("X-Cache", ""))


def measure_rows(table: list[Row], *, seconds: int, rounds: int) -> None:
    """Warm every row (opcache, workers), then take turns, so that a noisy moment hits them all."""
    for row in table:
        measure(row.url, row.headers, seconds=2, pid_files=row.pid_files)
    for _ in range(rounds):
        for row in table:
            row.results.append(measure(row.url, row.headers, seconds=seconds, pid_files=row.pid_files))


def print_table(table: list[Row]) -> None:
    by_label = {row.label: row for row in table}
    print(f"\n{'row':<62} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'errors':>6} {'CPU ms':>7}  {'ratio':<22} target")
    for row in table:
        best = row.median()
        errors = int(best["non_2xx"] + best["socket_errors"])
        cpu = sorted(result["cpu_ms"] for result in row.results)[(len(row.results) - 1) // 2] if row.pid_files else 0
        ratio = ""
        if row.compare_to:
            base = by_label[row.compare_to]
            ratio = f"{row.ratio_to(base):.2f} of {base.label.split()[0].rstrip(':')}"
        print(
            f"{row.label:<62} {best['rps']:>7.1f} {best['p50_ms']:>7.1f} {best['p95_ms']:>7.1f} {errors:>6} "
            f"{f'{cpu:.1f}' if cpu else '-':>7}  {ratio:<22} {row.target}"
        )
    print("\nreq/s and latency: each row's median round; CPU ms: nginx's and php-fpm's CPU time per request")
    print("(median of the rounds); ratio: of req/s, the median of the ratios round by round. Every round:")
    for row in table:
        rates = " ".join(f"{result['rps']:.1f}" for result in row.results)
        print(f"  {row.label.strip():<60} {rates}")


# --- The reference server: what an administrator tuning one WordPress by hand would run ------------

REFERENCE_NGINX = Template("""daemon off;
user www-data;
worker_processes auto;
pid ${WORK}/nginx.pid;
error_log ${WORK}/nginx-error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 30;
    access_log ${WORK}/access.log combined buffer=64k flush=5s;
    client_body_temp_path ${WORK}/tmp/body;
    fastcgi_temp_path ${WORK}/tmp/fastcgi;
    proxy_temp_path ${WORK}/tmp/proxy;
    uwsgi_temp_path ${WORK}/tmp/uwsgi;
    scgi_temp_path ${WORK}/tmp/scgi;
${SERVERS}
}
""")

REFERENCE_SERVER = Template("""    server {
        listen 127.0.0.1:${PORT};
        server_name _;
        root ${DOCROOT};
        index index.php;
        location / { try_files $$uri $$uri/ /index.php?$$args; }
        location ~ \\.php$$ {
            try_files $$uri =404;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $$document_root$$fastcgi_script_name;
            fastcgi_param HTTP_HOST $$http_host;
            fastcgi_pass unix:${SOCKET};
            fastcgi_buffers 32 16k;
            fastcgi_buffer_size 32k;
        }
    }
""")

REFERENCE_FPM = Template("""[global]
pid = ${WORK}/${NAME}.pid
error_log = ${WORK}/${NAME}.log
daemonize = no
[${NAME}]
user = ${USER}
group = ${USER}
listen = ${SOCKET}
listen.owner = www-data
listen.group = www-data
listen.mode = 0660
${PM}
php_admin_value[auto_prepend_file] = ${PREPEND}
${POOL}
""")

# The administrator's PHP settings: opcache sized for a few WordPress sites and never checking
# files (they deploy, then reload), the realpath cache large and long-lived.
REFERENCE_INI = {
    "opcache.enable": "1",
    "opcache.memory_consumption": "256",
    "opcache.interned_strings_buffer": "32",
    "opcache.max_accelerated_files": "20000",
    "opcache.validate_timestamps": "0",
    "realpath_cache_size": "4096K",
    "realpath_cache_ttl": "600",
}


@dataclass
class Variant:
    """A php-fpm master of the reference, on a port of its own: the reference, or it with one change."""

    label: str
    pm: str = ""  # default: static, one worker per core
    pool: str = ""  # more lines for its pool
    ini: dict[str, str] = field(default_factory=dict)  # on top of REFERENCE_INI
    prepend: Path | None = None  # default: the reference's own (the environment only)
    port: int = 0
    pid_files: list[Path] = field(default_factory=list)  # its php-fpm master's and nginx's

    def row(self, headers: dict[str, str], compare_to: str | None = None) -> Row:
        url = f"http://127.0.0.1:{self.port}/"
        return Row(self.label, url, headers, compare_to=compare_to, pid_files=self.pid_files)


@contextlib.contextmanager
def reference_server(work: Path, *, docroot: Path, prepend: Path, user: str, variants: list[Variant]) -> Iterator[None]:
    """One nginx and, for each variant, a php-fpm master (static workers, one per core, unless the
    variant says otherwise) and a port, all in `work`."""
    (work / "tmp").mkdir(parents=True)
    environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    servers, daemons, sockets = [], [], []
    try:
        for number, variant in enumerate(variants):
            name, variant.port = f"reference{number}", free_port()
            variant.pid_files = [work / f"{name}.pid", work / "nginx.pid"]
            socket = work / f"{name}.sock"
            sockets.append(socket)
            servers.append(REFERENCE_SERVER.substitute(PORT=variant.port, DOCROOT=docroot, SOCKET=socket))
            config = work / f"{name}.conf"
            config.write_text(
                REFERENCE_FPM.substitute(
                    WORK=work, NAME=name, USER=user, SOCKET=socket,
                    PM=variant.pm or f"pm = static\npm.max_children = {os.cpu_count() or 1}",
                    PREPEND=variant.prepend or prepend, POOL=variant.pool,
                )
            )  # fmt: skip
            ini = {**REFERENCE_INI, **variant.ini}
            defines = [argument for key, value in ini.items() for argument in ("-d", f"{key}={value}")]
            daemons.append(
                subprocess.Popen(
                    ["php-fpm8.2", "--nodaemonize", "--allow-to-run-as-root", "--fpm-config", str(config), *defines],
                    env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        (work / "nginx.conf").write_text(REFERENCE_NGINX.substitute(WORK=work, SERVERS="".join(servers)))
        daemons.append(
            subprocess.Popen(
                ["nginx", "-c", str(work / "nginx.conf"), "-e", str(work / "nginx-error.log")],
                env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while not all(socket.exists() for socket in sockets) or not (work / "nginx.pid").exists():
            if any(daemon.poll() is not None for daemon in daemons) or time.monotonic() > deadline:
                raise RuntimeError(f"the reference server did not start; see the logs in {work}")
            time.sleep(0.05)
        yield
    finally:
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            daemon.wait(timeout=15)


def cost_variants(site: "Site", work: Path) -> list[Variant]:
    """The reference with one of the platform's restrictions or choices at a time."""
    # That prepend sets the pool's open_basedir again, which PHP allows (it is not wider): no change.
    prepend = work / "reference-basedir-env.php"
    allowed = f"{site.site_dir}/:{prepend}"
    reference_prepend(site, prepend, allowed)
    template = Path(__file__).resolve().parent.parent / "wordpress-runtime" / "php-fpm-pool.conf.template"
    pool_limits = Template(
        "\n".join(
            line
            for line in template.read_text().splitlines()
            if line.startswith("php_admin_") and "auto_prepend_file" not in line
        )
    ).substitute(SITE_DIR=site.site_dir, PREPEND_FILE=site.env_file)
    return [
        Variant("  reference + open_basedir in the pool (as before issue 13)",
                pool=f"php_admin_value[open_basedir] = {allowed}", prepend=prepend),
        Variant("  reference + open_basedir set at run time (the platform's)", prepend=site.env_file),
        Variant("  reference + the pool's other limits (functions, tmp, log)", pool=pool_limits),
        Variant("  reference + opcache checks files every 2 s", ini={"opcache.validate_timestamps": "1",
                                                                      "opcache.revalidate_freq": "2"}),
        Variant("  reference + opcache permission and root checks", ini={"opcache.validate_permission": "1",
                                                                          "opcache.validate_root": "1"}),
        Variant("  reference + pm ondemand, 4 workers (the platform's default)",
                pm="pm = ondemand\npm.max_children = 4\npm.process_idle_timeout = 10s\npm.max_requests = 500"),
        Variant("  reference + pm static, 4 workers", pm="pm = static\npm.max_children = 4"),
        # Not a restriction: what the platform leaves off (docs/site-performance.md says why).
        Variant("  reference + opcache's JIT (tracing, 64 MB)", ini={"opcache.jit": "tracing",
                                                                     "opcache.jit_buffer_size": "64M"}),
    ]  # fmt: skip


# --- The platform's site ------------------------------------------------------------------------------


@dataclass
class Site:
    """The site under test, as the platform serves it: `url` and `headers` reach its server block."""

    spec: "SiteSpec"
    url: str
    headers: dict[str, str]
    docroot: Path
    site_dir: Path
    env_file: Path
    user: str
    gid: int | None
    pid_files: list[Path]  # the runtime's php-fpm and nginx masters'


@contextlib.contextmanager
def platform_site(work: Path) -> Iterator[Site]:
    """A site made by the platform's own pipeline (every step of its create operation, in this
    process) on the local runtime, in a folder, port and database of this run's own, served by the
    runtime's nginx and php-fpm as the Procfile runs them; removed at the end."""
    port = free_port()
    os.environ.update(
        {
            "SITES_ROOT": str(work / "sites"),
            "SITES_RUNTIME_DIR": str(work / "runtime"),
            "SITES_PORT": str(port),
            "SITES_KEY_PREFIX": "benchserve_",
        }
    )
    django_on(fresh_database("aipress_bench_serving"))
    from django_tenants.utils import tenant_context

    from sites import pipeline, services
    from sites.models import Site as SiteRecord
    from sites.runtimes.local import files, health, pool, sandbox, server, system_user
    from sites.runtimes.local.runtime import LocalRuntime
    from tenants import services as tenant_services
    from tenants.audit import Actor
    from tenants.models import User

    owner = User.objects.create_user(email="bench@example.com")
    tenant = tenant_services.tenant_create(actor=Actor.system(), slug="bench", name="Bench", owner=owner)
    tenant_services.tenant_provision(tenant_id=tenant.pk)
    daemons = server.start_daemons()  # sandboxed, with the minimal environment
    try:
        services.site_request(tenant=tenant, actor=Actor.of_user(owner), name="serving", title="Serving")
        with tenant_context(tenant):
            record = SiteRecord.objects.get(slug="serving")
            pipeline.advance(tenant=tenant, site_id=record.pk)
            record.refresh_from_db()
            if record.status != "ready":
                raise RuntimeError(f"the site is {record.status}, not ready")
            spec = pipeline.site_spec(site=record, tenant=tenant)
        if health.fetch(spec.hostname, "/")[0] != 200:
            raise RuntimeError("the site does not answer 200")
        ids = system_user.ids(spec.key)
        yield Site(
            spec=spec,
            url=f"http://127.0.0.1:{port}/",
            # WordPress's own address, whichever server answers (it redirects any other).
            headers={"Host": f"{spec.hostname}:{port}"},
            docroot=files.docroot(spec.key),
            site_dir=files.site_dir(spec.key),
            env_file=pool.env_file(spec.key),
            user=system_user.user_name(spec.key) if ids else "root",
            gid=ids[1] if ids else None,
            pid_files=[server.runtime_dir() / "php-fpm" / "php-fpm.pid", server.runtime_dir() / "nginx" / "nginx.pid"],
        )
    finally:
        runtime = LocalRuntime()
        with tenant_context(tenant):
            for record in SiteRecord.objects.all():
                removed = pipeline.site_spec(site=record, tenant=tenant, reveal=False)
                for step in reversed(pipeline.STEPS):
                    if step.concern == "runtime":
                        runtime.remove(step.name, removed, None)
        for daemon in daemons:
            daemon.terminate()
            daemon.wait(timeout=15)
        sandbox.firewall_uninstall()


def reference_prepend(site: Site, prepend: Path, allowed: str = "") -> Path:
    """The site's environment for a pool of the reference, as the platform renders it, with this
    open_basedir (an empty one is none)."""
    from sites.runtimes.local import pool

    prepend.write_text(pool.render_env(pool.site_environment(site.spec), allowed))
    if site.gid is not None:
        os.chown(prepend, 0, site.gid)
    prepend.chmod(0o640)
    return prepend


def packet_filter_rows(platform: Row, *, seconds: int, rounds: int) -> list[Row]:
    """The platform's site with this run's packet filter, and with it taken away, taking turns."""
    from sites.runtimes.local import sandbox, system_user

    if not sandbox.enforced():
        return []
    url, headers, pid_files = platform.url, platform.headers, platform.pid_files
    filtered = Row("  platform (again, taking turns with the next row)", url, headers, pid_files=pid_files)
    unfiltered = Row(
        "  platform without its packet filter", url, headers, compare_to=filtered.label, pid_files=pid_files
    )
    for _ in range(rounds):
        filtered.results.append(measure(url, headers, seconds=seconds, pid_files=pid_files))
        sandbox.firewall_uninstall()
        try:
            unfiltered.results.append(measure(url, headers, seconds=seconds, pid_files=pid_files))
        finally:
            sandbox.firewall_install(system_user.existing_site_uids())
    return [filtered, unfiltered]


def rows(reference: Row, platform: Row, site: Site) -> list[Row]:
    """The rows measured, in the order printed. Add rows here (a cached page, say): `site.url` with
    `site.headers` reaches the site through the platform's own server block (the uncached rows add
    UNCACHED to those headers)."""
    cached = Row(
        "platform, cached: the page cache's copy (X-Cache: HIT)",
        site.url,
        site.headers,
        compare_to=platform.label,
        target=">= 1,000 req/s",
        pid_files=site.pid_files,
    )
    cache_status(cached.url, cached.headers)  # the first anonymous request fills the cache
    if cache_status(cached.url, cached.headers) != "HIT":
        raise RuntimeError("the cached row is not served from the page cache: is SITES_PAGE_CACHE off?")
    return [reference, platform, cached]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each row, taking turns; the median is shown")
    parser.add_argument("--costs", action="store_true", help="also measure what each restriction costs")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="aipress-bench-serving-"))
    os.chmod(work, 0o755)  # noqa: S103 - nginx and the site's user must reach their folders
    try:
        with platform_site(work) as site:
            uncached = {**site.headers, **UNCACHED}
            reference = Variant("reference: hand-tuned nginx + php-fpm")
            prepend = reference_prepend(site, work / "reference-env.php")
            costs = cost_variants(site, work) if args.costs else []
            with reference_server(
                work / "reference", docroot=site.docroot, prepend=prepend, user=site.user, variants=[reference, *costs]
            ):
                base = reference.row(uncached)
                platform = Row(
                    "platform: the site's own pool and server block",
                    site.url,
                    uncached,
                    compare_to=base.label,
                    target=">= 0.90",
                    pid_files=site.pid_files,
                )
                if cache_status(platform.url, platform.headers) == "HIT":
                    raise RuntimeError("the uncached row was served from the page cache")
                table = rows(base, platform, site) + [variant.row(uncached, base.label) for variant in costs]
                measure_rows(table, seconds=args.seconds, rounds=args.rounds)
                if args.costs:
                    table += packet_filter_rows(platform, seconds=args.seconds, rounds=args.rounds)
        print(f"\n{os.cpu_count()} cores; wrk -t{THREADS} -c{CONNECTIONS} -d{args.seconds}s; {args.rounds} rounds")
        print_table(table)
        print(f"\nload average after the run: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
