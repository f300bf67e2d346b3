"""`manage.py dns serve|export-zone|set-record|delete-record|lookup`: the local provider's server
and zone, and a registrar's part for offline use."""

import signal
import threading
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dns import lookup, zones
from dns.providers.local import platform_zone
from dns.zonefile import export_zone
from kernel.errors import ServiceError

RETRY_SECONDS = 30


class Command(BaseCommand):
    help = "The platform's DNS: serve the local zone, export it, or add records as a registrar would."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        serve = commands.add_parser("serve", help="Answer DNS for the local zones (UDP and TCP) until stopped.")
        serve.add_argument("--host", default=settings.DNS_SERVER_HOST)
        serve.add_argument("--port", type=int, default=settings.DNS_SERVER_PORT)
        export = commands.add_parser("export-zone", help="Print a zone as a standard zone file.")
        export.add_argument("zone", nargs="?", default="", help="Default: the platform's zone (SITES_DOMAIN).")
        record = commands.add_parser(
            "set-record", help="Set a record in a local zone (the zone of a domain you hold, offline)."
        )
        record.add_argument("name")
        record.add_argument("type", choices=["A", "AAAA", "CNAME", "TXT"])
        record.add_argument("value")
        record.add_argument("--ttl", type=int, default=300)
        delete = commands.add_parser("delete-record", help="Delete records of a local zone.")
        delete.add_argument("name")
        delete.add_argument("type", nargs="?", choices=["A", "AAAA", "CNAME", "TXT"])
        ask = commands.add_parser("lookup", help="Ask DNS_RESOLVERS, as domain verification does.")
        ask.add_argument("name")
        ask.add_argument("type", nargs="?", default="A", choices=["A", "AAAA", "CNAME", "TXT", "SOA"])

    def handle(self, *args: Any, **options: Any) -> None:
        command = options["command"]
        try:
            if command == "serve":
                self._serve(options["host"], options["port"])
            elif command == "export-zone":
                self.stdout.write(export_zone(options["zone"] or platform_zone()), ending="")
            elif command == "set-record":
                record = zones.operator_record_set(
                    name=options["name"], type=options["type"], content=options["value"], ttl=options["ttl"]
                )
                self.stdout.write(f"{record.name} {record.ttl} IN {record.type} {record.content} (zone {record.zone})")
            elif command == "delete-record":
                count = zones.operator_records_delete(name=options["name"], type=options["type"])
                self.stdout.write(f"{count} record{'s' if count != 1 else ''} deleted")
            elif command == "lookup":
                self._lookup(options["name"], options["type"])
        except ServiceError as exc:
            raise CommandError(exc.message) from None

    def _serve(self, host: str, port: int) -> None:
        from dns.server import running

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        while not stop.is_set():
            try:
                with running(host, port):
                    self.stdout.write(
                        f"Answering DNS for {platform_zone()} and the local zones on {host}:{port} (UDP, TCP)"
                    )
                    self.stdout.flush()
                    stop.wait()
            except OSError as exc:
                # Stay up and say why: under `make run` a process that exits stops all the others, and
                # 5353 is also mDNS's port (avahi). The rest of the platform works without this server.
                self.stderr.write(
                    f"Cannot listen on {host}:{port} ({exc.strerror or exc}): set DNS_SERVER_PORT to a free port "
                    f"(and DNS_RESOLVERS to match). Trying again in {RETRY_SECONDS} s."
                )
                self.stderr.flush()
                stop.wait(RETRY_SECONDS)
            except KeyboardInterrupt:
                return

    def _lookup(self, name: str, kind: str) -> None:
        answer = lookup.query(name, kind)
        if answer.unreachable:
            raise CommandError(f"No resolver answered: {answer.resolver}")
        if answer.nxdomain:
            raise CommandError(f"{answer.name} does not exist ({answer.resolver})")
        if answer.cname:
            self.stdout.write(f"{answer.name} CNAME {answer.cname}")
        for value in answer.values:
            self.stdout.write(f"{answer.name} {kind} {value}")
        if not answer.values and not answer.cname:
            self.stdout.write(f"{answer.name} has no {kind} record ({answer.resolver})")
