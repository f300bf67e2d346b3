"""The control plane's hot path, measured beside a bare Django view on the same server (issue 14).

    .venv/bin/python bench/api_throughput.py [--seconds 10] [--connections 16] [--servers shipped|all]

One server process (one core: wrk runs on the other), DEBUG off, throttling raised out of the way,
against a database of its own holding one tenant with 20 sites. For each server configuration, in
one run: a bare Django view (bench/bare_django.py: no middleware, no database; the ceiling),
`/healthz`, `GET /api/v1/tenant/`, `GET /api/v1/sites/` (20 sites) and a site `PATCH` (202, a title
change; a PATCH while the site's update is still queued joins it), each with `wrk -t1`. Prints
requests per second, p50 and p95, and the ratio to the bare view on the same server.

Targets: the two GETs at 400 requests per second per core or more, p95 at most 30 ms at 16
connections, and at least 0.5 of the bare view. `--servers all` also measures the configurations
we did not ship, to show why.
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

from _setup import ROOT, django_on, fresh_database

REPORT = """
local told = false
response = function(status, headers, body)
  if status >= 300 and not told then
    io.stderr:write(string.format("first non-2xx answer: %d %s\\n", status, body:sub(1, 300)))
    told = true
  end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %.3f %.3f\\n", summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000))
end
"""
# A PATCH of the title, over the 20 sites in turn.
PATCH = """
local names = {%s}
local n = 0
request = function()
  n = n + 1
  local name = names[(n %% #names) + 1]
  return wrk.format("PATCH", "/api/v1/sites/" .. name .. "/", nil, '{"title": "Bench ' .. n .. '"}')
end
"""

PYTHON = sys.executable
UVICORN = [
    PYTHON, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--no-access-log", "--log-level", "warning",
]  # fmt: skip
GUNICORN = [PYTHON, "-m", "gunicorn", "--bind", "127.0.0.1:{port}", "--workers", "1", "--log-level", "warning"]
# name -> (command for the product, command for the bare view, extra environment)
SERVERS: dict[str, tuple[list[str], list[str], dict[str, str]]] = {
    "uvicorn, HTTP over WSGI (shipped)": (
        [*UVICORN, "aipress.asgi:application"], [*UVICORN, "bench.bare_django:asgi_over_wsgi"], {"WEB_HTTP": "wsgi"}
    ),
    "uvicorn, Django's ASGI handler": (
        [*UVICORN, "aipress.asgi:application"], [*UVICORN, "bench.bare_django:asgi"], {"WEB_HTTP": "asgi"}
    ),
    "gunicorn, 1 sync worker (no websockets)": (
        [*GUNICORN, "aipress.wsgi:application"], [*GUNICORN, "bench.bare_django:wsgi"], {}
    ),
}  # fmt: skip
SHIPPED = next(iter(SERVERS))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wrk(url: str, seconds: int, connections: int, script: str, headers: list[str]) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", script, url]
    for header in headers:
        command[1:1] = ["-H", header]
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    if finished.stderr:
        print(f"{url}: {finished.stderr.strip()}", file=sys.stderr)
    line = next(line for line in finished.stdout.splitlines() if line.startswith("RESULT"))
    requests, status_errors, socket_errors, p50, p95 = line.split()[1:]
    return {
        "rps": int(requests) / seconds,
        "errors": int(status_errors) + int(socket_errors),
        "p50": float(p50),
        "p95": float(p95),
    }


def serve(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    argv = [part.replace("{port}", str(port)) for part in command]
    process = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)
    wait_listening(port)
    return process, f"http://127.0.0.1:{port}"


def prepare() -> tuple[str, str, list[str]]:
    """A database with one tenant, 20 ready sites and an admin key. Returns (url, key, site names)."""
    url = fresh_database("aipress_bench_api")
    django_on(url)
    from django_tenants.utils import tenant_context

    from sites import services as site_services
    from sites.inventory.models import SiteRecord
    from sites.models import OperationState, Site, SiteOperation, SiteStatus
    from tenants import services
    from tenants.audit import Actor
    from tenants.models import Role, User

    owner = User.objects.create_user(email="bench@example.com")
    tenant = services.tenant_create(actor=Actor.system("bench"), slug="bench", name="Bench", owner=owner)
    tenant = services.tenant_provision(tenant_id=tenant.pk) or tenant
    tenant.max_sites = 50
    tenant.save(update_fields=["max_sites"])
    _, key = services.api_key_create(actor=Actor.of_user(owner), tenant=tenant, name="bench", role=Role.ADMIN)
    names = [f"site-{n:02d}" for n in range(20)]
    for name in names:
        site_services.site_request(tenant=tenant, actor=Actor.of_user(owner), name=name)
    # Ready at once: the pipeline is not what this bench measures (bench/site_provision.py is).
    with tenant_context(tenant):
        SiteOperation.objects.update(state=OperationState.SUCCEEDED)
        Site.objects.update(status=SiteStatus.READY)
    SiteRecord.objects.update(status=SiteStatus.READY)
    return url, key, names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--servers", choices=["shipped", "all"], default="shipped")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        subprocess.run([str(ROOT / "bin" / "ensure-system-packages"), "wrk:wrk"], check=True)

    url, key, names = prepare()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "API_THROTTLE_RATE": "100000000/min",  # measure the stack, not the throttle's refusals
        "API_TENANT_THROTTLE_RATE": "100000000/min",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}",
    }
    host = "Host: aipress.localhost"
    auth = f"Authorization: Bearer {key}"
    scripts = {}
    with tempfile.TemporaryDirectory() as folder:
        scripts["get"] = str(Path(folder) / "get.lua")
        Path(scripts["get"]).write_text(REPORT)
        scripts["patch"] = str(Path(folder) / "patch.lua")
        quoted = ", ".join(f'"{name}"' for name in names)
        Path(scripts["patch"]).write_text(PATCH % quoted + REPORT)
        # (row, path, script, headers, the product's server or the bare one)
        rows = [
            ("bare Django view", "/", "get", [host], "bare"),
            ("/healthz", "/healthz", "get", [host], "product"),
            ("GET /api/v1/tenant/", "/api/v1/tenant/", "get", [host, auth], "product"),
            ("GET /api/v1/sites/ (20)", "/api/v1/sites/", "get", [host, auth], "product"),
            ("PATCH a site (202)", "/", "patch", [host, auth, "Content-Type: application/json"], "product"),
        ]
        chosen = SERVERS if args.servers == "all" else {SHIPPED: SERVERS[SHIPPED]}
        results: dict[str, dict[str, dict[str, float]]] = {}
        for server, (product, bare, extra) in chosen.items():
            results[server] = {}
            for which, command in (("bare", bare), ("product", product)):
                process, base = serve(command, {**env, **extra})
                try:
                    for row, path, script, headers, target in rows:
                        if target != which:
                            continue
                        lua = scripts[script]
                        wrk(base + path, 2, args.connections, lua, headers)  # warm-up
                        results[server][row] = wrk(base + path, args.seconds, args.connections, lua, headers)
                finally:
                    stop(process)

    print()
    print(f"One server process, wrk -t1 -c{args.connections}, {args.seconds} s per row; load {os.getloadavg()[0]:.2f}")
    for server, measured in results.items():
        bare_rps = measured["bare Django view"]["rps"]
        print()
        print(server)
        print(f"  {'request':<26} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7} {'/ bare':>7}")
        for row, r in measured.items():
            print(
                f"  {row:<26} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['errors']:>7.0f} "
                f"{r['rps'] / bare_rps:>7.2f}"
            )
    print()
    print("Targets: the two GETs >= 400 req/s per core, p95 <= 30 ms, >= 0.5 of the bare view.")


if __name__ == "__main__":
    main()
