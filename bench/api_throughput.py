"""Requests per second and latency of `GET /api/v1/tenant/` with an API key, under Daphne and under
uvicorn, side by side in one run, with wrk (Debian package `wrk`) as the load generator.

    .venv/bin/python bench/api_throughput.py [--seconds 15] [--connections 16]

Each server runs the same ASGI application, DEBUG off, against a database of its own. Daphne has no
worker processes of its own, so both are measured with one process; uvicorn also with two, as the
Procfile runs it. The machine has 2 cores shared by server and load generator: compare the ratio.
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

LUA_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %.3f %.3f %.3f\\n", summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C, as a person would; Daphne can take long to drain, so kill it after a grace period."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def run_wrk(url: str, key: str, seconds: int, connections: int, script: str) -> dict:
    command = [
        "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", script,
        "-H", f"Authorization: Bearer {key}", "-H", "Host: aipress.localhost", url,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT"))
    requests, status_errors, socket_errors, p50, p95, p99 = line.split()[1:]
    return {
        "rps": int(requests) / seconds,
        "non2xx": int(status_errors),
        "socket_errors": int(socket_errors),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        subprocess.run([str(ROOT / "bin" / "ensure-system-packages"), "wrk:wrk"], check=True)

    url = fresh_database("aipress_bench_api")
    django_on(url)
    from tenants import services
    from tenants.audit import Actor
    from tenants.models import Role, User

    owner = User.objects.create_user(email="bench@example.com")
    tenant = services.tenant_create(actor=Actor.system("bench"), slug="bench", name="Bench", owner=owner)
    services.tenant_provision(tenant_id=tenant.pk)
    _, key = services.api_key_create(actor=Actor.of_user(owner), tenant=tenant, name="bench", role=Role.MEMBER)

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "API_THROTTLE_RATE": "100000000/min",  # measure the stack, not the throttle's refusal
        "API_TENANT_THROTTLE_RATE": "100000000/min",
        "PYTHONPATH": str(ROOT),
    }
    python = sys.executable
    servers = {
        "daphne (1 process)": [python, "-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "aipress.asgi:application"],
        "uvicorn (1 process)": [
            python, "-m", "uvicorn", "aipress.asgi:application", "--host", "127.0.0.1", "--port", "{port}",
            "--no-access-log", "--log-level", "warning",
        ],
        "uvicorn (2 workers)": [
            python, "-m", "uvicorn", "aipress.asgi:application", "--host", "127.0.0.1", "--port", "{port}",
            "--no-access-log", "--log-level", "warning", "--workers", "2",
        ],
    }  # fmt: skip

    results = {}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA_REPORT)
    try:
        for name, command in servers.items():
            port = free_port()
            argv = [part.replace("{port}", str(port)) for part in command]
            process = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)
            try:
                wait_listening(port)
                target = f"http://127.0.0.1:{port}/api/v1/tenant/"
                run_wrk(target, key, 3, args.connections, script.name)  # warm-up
                results[name] = run_wrk(target, key, args.seconds, args.connections, script.name)
            finally:
                stop(process)
    finally:
        Path(script.name).unlink()

    print()
    print(f"GET /api/v1/tenant/ with an API key: {args.connections} connections, {args.seconds} s, wrk -t2")
    print(f"{'server':<22} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'sock err':>8}")
    for name, r in results.items():
        print(
            f"{name:<22} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f} "
            f"{r['non2xx']:>8} {r['socket_errors']:>8}"
        )
    daphne = results["daphne (1 process)"]
    uvicorn = results["uvicorn (1 process)"]
    print()
    print(
        f"uvicorn / daphne, one process each: {uvicorn['rps'] / daphne['rps']:.2f}x requests per second, "
        f"p95 {uvicorn['p95']:.1f} ms vs {daphne['p95']:.1f} ms"
    )
    faster = max(results, key=lambda n: results[n]["rps"])
    print(f"fastest: {faster}")


if __name__ == "__main__":
    main()
