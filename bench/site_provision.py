"""Site provisioning on the local runtime, measured end to end.

    .venv/bin/python bench/site_provision.py [--first 10] [--total 50] [--wrk-seconds 10]

From the create call (what POST /api/v1/sites/ does) to the first 200 from WordPress, for `--first`
sites (p50, p95), then the `--total`th site on a host already holding total-1. Then, with every site
idle: PHP processes and memory. Then requests per second of one site's home page with wrk, uncached.
Everything runs in a database, folder, port and Celery queue of its own, and is removed at the end.
Targets (issue 3): p50 <= 5 s, p95 <= 10 s; no PHP process for idle sites.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT, fresh_database, percentile


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_kib(pattern: str) -> tuple[int, int]:
    """(processes, total RSS in KiB) of processes whose command line contains `pattern`."""
    listing = subprocess.run(["ps", "-eo", "rss=,args="], capture_output=True, text=True, check=True).stdout
    rows = [line.split(None, 1) for line in listing.splitlines() if pattern in line]
    return len(rows), sum(int(rss) for rss, _ in rows)


def main() -> None:  # noqa: PLR0915 - one measured story, told in order
    parser = argparse.ArgumentParser()
    parser.add_argument("--first", type=int, default=10)
    parser.add_argument("--total", type=int, default=50)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="aipress-bench-"))
    os.chmod(work, 0o755)  # noqa: S103 - nginx and each site's user must reach their folders
    env = {
        "DATABASE_URL": fresh_database("aipress_bench_sites"),
        "CELERY_QUEUE": "aipress-bench-sites",
        "SITES_ROOT": str(work / "sites"),
        "SITES_RUNTIME_DIR": str(work / "runtime"),
        "SITES_PORT": str(free_port()),
        "SITES_KEY_PREFIX": "bench_",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipress.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django_tenants.utils import tenant_context

    from sites import pipeline, services
    from sites.models import Site
    from sites.runtimes.local import health, sandbox, server, system_user
    from sites.runtimes.local.runtime import LocalRuntime
    from tenants import services as tenant_services
    from tenants.audit import Actor
    from tenants.models import User

    call_command("setup_platform", verbosity=0)
    owner = User.objects.create_user(email="bench@example.com")
    tenant = tenant_services.tenant_create(actor=Actor.system(), slug="bench", name="Bench", owner=owner)
    tenant_services.tenant_provision(tenant_id=tenant.pk)
    tenant.max_sites = args.total
    tenant.save()

    daemons = server.start_daemons()  # as the Procfile runs them: sandboxed, minimal environment
    child_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "aipress", "worker", "--pool", "prefork", "--concurrency", "2",
         "--loglevel", "WARNING"],
        cwd=ROOT, env=child_env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    from aipress.celery import app

    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=1.0):  # the worker answers: it consumes its queue from now on
        if time.monotonic() > deadline:
            raise RuntimeError("the Celery worker did not start")

    def create_and_time(name: str) -> float:
        start = time.perf_counter()
        services.site_request(tenant=tenant, actor=Actor.of_user(owner), name=name, title=name)
        hostname = services.site_hostname(tenant, name)
        deadline = start + 120
        while time.perf_counter() < deadline:
            try:
                if health.fetch(hostname, "/", timeout=5)[0] == 200:
                    return time.perf_counter() - start
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not answer 200 within 120 s")

    try:
        first = [create_and_time(f"site{i}") for i in range(args.first)]
        print(f"{args.first} sites: p50 {percentile(first, 50):.2f} s, p95 {percentile(first, 95):.2f} s", flush=True)
        for i in range(args.first, args.total - 1):
            create_and_time(f"site{i}")
        last = create_and_time(f"site{args.total - 1}")
        time.sleep(15)  # pm.process_idle_timeout is 10 s
        php_workers, _ = rss_kib("php-fpm: pool bench_")
        master_count, master_rss = rss_kib("php-fpm: master")
        nginx_count, nginx_rss = rss_kib("nginx:")
        target = services.site_hostname(tenant, "site0")

        def home_page_rate() -> float:
            """The median of three wrk runs: one run of uncached WordPress on 2 cores varies a lot."""
            rates = []
            for _ in range(3):
                wrk = subprocess.run(
                    ["wrk", "-t1", "-c4", f"-d{args.wrk_seconds}s", "-H", f"Host: {target}:{env['SITES_PORT']}",
                     "-H", "Cookie: wordpress_no_cache=1",  # past the page cache: PHP for every request
                     f"http://127.0.0.1:{env['SITES_PORT']}/"],
                    capture_output=True, text=True, check=True,
                ).stdout  # fmt: skip
                rates.append(
                    float(next(line.split()[1] for line in wrk.splitlines() if line.startswith("Requests/sec")))
                )
            return percentile(rates, 50)

        rps = home_page_rate()
        # The packet filter's cost: the same page with this runtime's table taken away for a moment.
        sandboxed = sandbox.enforced()
        if sandboxed:
            sandbox.firewall_uninstall()
            unfiltered = home_page_rate()
            sandbox.firewall_install(system_user.existing_site_uids())
        print()
        print(f"{'measure':<52} {'value':>12}  target")
        print(f"{'POST to first 200, p50 over ' + str(args.first):<52} {percentile(first, 50):>10.2f} s  <= 5 s")
        print(f"{'POST to first 200, p95 over ' + str(args.first):<52} {percentile(first, 95):>10.2f} s  <= 10 s")
        print(f"{f'site {args.total} with {args.total - 1} present':<52} {last:>10.2f} s")
        print(f"{f'PHP worker processes, {args.total} idle sites':<52} {php_workers:>12}  0")
        print(f"{'php-fpm master RSS':<52} {master_rss / 1024:>10.1f} MiB")
        print(f"{'nginx RSS (master + worker)':<52} {nginx_rss / 1024:>10.1f} MiB")
        print(f"{'home page req/s, uncached, wrk -t1 -c4, median of 3':<52} {rps:>12.1f}")
        if sandboxed:
            print(f"{'  the same without the packet filter':<52} {unfiltered:>12.1f}  ratio {rps / unfiltered:.2f}")
        print()
        print(f"ratio to WordPress Playground's ~3 s throwaway site: p50 {percentile(first, 50) / 3:.2f}x")
        assert master_count >= 1 and nginx_count >= 1
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        runtime = LocalRuntime()
        with tenant_context(tenant):
            for site in Site.objects.all():
                spec = pipeline.site_spec(site=site, tenant=tenant)
                for step in reversed(pipeline.STEPS):
                    if step.concern == "runtime":
                        runtime.remove(step.name, spec, None)
        for daemon in daemons:
            daemon.terminate()
            daemon.wait(timeout=15)
        sandbox.firewall_uninstall()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
