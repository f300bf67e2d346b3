"""500 websocket clients, each holding a conversation with the local assistant on /ws/chat/, under
uvicorn and under Daphne side by side in one run (one process each, as they would serve it).

    .venv/bin/python bench/chat_ws.py [--clients 500] [--turns 2] [--think 5]

For each server: every client opens its conversation and stays connected (memory per idle
connection = the server's resident memory after they connected, less before, divided by the
clients); then each client sends `--turns` messages, each after a random think time of up to
`--think` seconds, and times each turn from sending to the end of the turn. Lost messages: at the end,
every message stored in each conversation must have reached its client, at its newest version.
The machine has 2 cores shared by the server, PostgreSQL, Redis and the 500 clients: compare ratios.
"""

import argparse
import asyncio
import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
from typing import Any

from _setup import ROOT, django_on, fresh_database, percentile
from api_throughput import free_port, stop, wait_listening

HOST = "bench.aipress.localhost"
MESSAGES = ["list my sites", "help", "what is the status of blog?", "list the env vars of blog"]


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (a server may fork workers), in KiB."""
    total = 0
    pids = [pid]
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    pids += [int(child) for child in children]
    for each in pids:
        try:
            with open(f"/proc/{each}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total


class Client:
    def __init__(self, port: int, cookie: str, conversation: int) -> None:
        self.port = port
        self.cookie = cookie
        self.conversation = conversation
        self.latest: dict[int, int] = {}  # message id -> newest seq received
        self.turn_times: list[float] = []
        self.errors: list[str] = []
        self.turn_ended = asyncio.Event()
        self.unfinished = 0

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        sock = socket.create_connection(("127.0.0.1", self.port))
        self.ws = await connect(
            f"ws://{HOST}:{self.port}/ws/chat/?conversation={self.conversation}&after=0",
            sock=sock,
            origin=f"http://{HOST}",  # type: ignore[arg-type]  # an Origin is a str
            additional_headers={"Cookie": f"sessionid={self.cookie}"},
            open_timeout=60,
            ping_interval=None,
            compression=None,
            max_queue=None,
        )
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            event = json.loads(raw)
            if event.get("type") == "message":
                message = event["message"]
                self.latest[message["id"]] = max(self.latest.get(message["id"], 0), message["seq"])
            elif event.get("type") == "turn" and event.get("state") == "ended":
                self.turn_ended.set()
            elif event.get("type") == "error":
                self.errors.append(event.get("message", ""))
                self.turn_ended.set()

    async def converse(self, turns: int, think: float) -> None:
        for _ in range(turns):
            await asyncio.sleep(random.uniform(0, think))
            self.turn_ended.clear()
            started = time.perf_counter()
            await self.ws.send(json.dumps({"type": "message", "text": random.choice(MESSAGES)}))
            try:
                await asyncio.wait_for(self.turn_ended.wait(), timeout=120)
            except TimeoutError:
                self.unfinished += 1  # reported: a turn whose end never reached this client
                continue
            self.turn_times.append(time.perf_counter() - started)

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def drive(*, port: int, pid: int, cookies: list[str], conversations: list[int], turns: int, think: float) -> dict:
    clients = [Client(port, cookie, conversation) for cookie, conversation in zip(cookies, conversations, strict=True)]
    before = rss_kib(pid)
    for start in range(0, len(clients), 50):  # open in batches: a SYN flood is not what we measure
        await asyncio.gather(*(client.open() for client in clients[start : start + 50]))
    await asyncio.sleep(1)
    idle = rss_kib(pid)
    started = time.perf_counter()
    await asyncio.gather(*(client.converse(turns, think) for client in clients))
    wall = time.perf_counter() - started
    await asyncio.sleep(1)  # the last progress rewrites are in flight
    for client in clients:
        await client.close()
    return {"before": before, "idle": idle, "wall": wall, "clients": clients}


def lost_messages(tenant: Any, clients: list[Client]) -> int:
    from django_tenants.utils import tenant_context

    from chat.models import Message

    lost = 0
    with tenant_context(tenant):
        for client in clients:
            stored = dict(Message.objects.filter(conversation_id=client.conversation).values_list("id", "seq"))
            lost += sum(1 for mid, seq in stored.items() if client.latest.get(mid, 0) < seq)
    return lost


def prepare() -> tuple[Any, Any, Any]:
    """A tenant with one site, its owner, and a maker of signed-in sessions for the clients."""
    from importlib import import_module

    from django.conf import settings

    from sites.tests.factories import requested_site
    from tenants import services
    from tenants.audit import Actor
    from tenants.models import User

    owner = User.objects.create_user(email="bench@example.com")
    tenant = services.tenant_create(actor=Actor.system("bench"), slug="bench", name="Bench", owner=owner)
    services.tenant_provision(tenant_id=tenant.pk)
    tenant.refresh_from_db()
    tenant.ai_monthly_tokens = 10**9
    tenant.save(update_fields=["ai_monthly_tokens"])
    requested_site(tenant, "blog")

    def sessions(count: int) -> list[str]:
        keys = []
        for _ in range(count):
            session = import_module(settings.SESSION_ENGINE).SessionStore()
            session["_auth_user_id"] = str(owner.pk)
            session["_auth_user_backend"] = settings.AUTHENTICATION_BACKENDS[0]
            session["_auth_user_hash"] = owner.get_session_auth_hash()
            session.create()
            keys.append(str(session.session_key))
        return keys

    return tenant, owner, sessions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--think", type=float, default=5.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.clients + 256)), hard))

    url = fresh_database("aipress_bench_chat")
    os.environ["SITES_RUNTIME"] = "memory"
    django_on(url)
    from django_tenants.utils import tenant_context

    from chat.models import Conversation

    tenant, owner, sessions = prepare()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "SITES_RUNTIME": "memory",
        "PYTHONPATH": str(ROOT),
    }
    python = sys.executable
    servers = {
        "uvicorn": [
            python, "-m", "uvicorn", "aipress.asgi:application", "--host", "127.0.0.1", "--port", "{port}",
            "--no-access-log", "--log-level", "warning", "--ws-ping-interval", "0",
        ],
        "daphne": [python, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", "{port}", "aipress.asgi:application"],
    }  # fmt: skip
    results = {}
    for name, command in servers.items():
        with tenant_context(tenant):
            conversations = [Conversation.objects.create(user_id=owner.pk).pk for _ in range(args.clients)]
        cookies = sessions(args.clients)
        port = free_port()
        argv = [part.replace("{port}", str(port)) for part in command]
        print(f"{name}: {args.clients} clients…", flush=True)
        process = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)
        try:
            wait_listening(port)
            run = asyncio.run(
                drive(
                    port=port,
                    pid=process.pid,
                    cookies=cookies,
                    conversations=conversations,
                    turns=args.turns,
                    think=args.think,
                )
            )
        finally:
            stop(process)
        clients: list[Client] = run["clients"]
        times = [t for client in clients for t in client.turn_times]
        results[name] = {
            "turns": len(times),
            "p50": percentile(times, 50) * 1000,
            "p99": percentile(times, 99) * 1000,
            "idle_kib": (run["idle"] - run["before"]) / args.clients,
            "lost": lost_messages(tenant, clients),
            "errors": sum(len(client.errors) for client in clients),
            "unfinished": sum(client.unfinished for client in clients),
            "wall": run["wall"],
        }

    print()
    print(
        f"/ws/chat/ with the local assistant: {args.clients} clients, {args.turns} turns each, "
        f"think time up to {args.think:.0f} s, one server process"
    )
    print(
        f"{'server':<10} {'turns':>6} {'p50 ms':>8} {'p99 ms':>8} {'KiB/idle conn':>14} {'lost':>5} "
        f"{'errors':>7} {'no end':>7} {'turns/s':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:<10} {r['turns']:>6} {r['p50']:>8.0f} {r['p99']:>8.0f} {r['idle_kib']:>14.1f} "
            f"{r['lost']:>5} {r['errors']:>7} {r['unfinished']:>7} {r['turns'] / r['wall']:>8.1f}"
        )
    u, d = results["uvicorn"], results["daphne"]
    print()
    print(
        f"uvicorn / daphne: p50 {u['p50'] / d['p50']:.2f}x, p99 {u['p99'] / d['p99']:.2f}x, "
        f"memory per idle connection {u['idle_kib'] / max(d['idle_kib'], 0.01):.2f}x"
    )


if __name__ == "__main__":
    main()
