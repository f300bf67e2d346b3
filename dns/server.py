"""The platform's own authoritative DNS server (`manage.py dns serve`, on DNS_SERVER_HOST:PORT): it
answers from ZoneRecord for the platform's zone and for the zones an operator added, so that
verifying a domain speaks real DNS even with no internet. It stands in for the whole of DNS there: a
name outside those zones does not exist (NXDOMAIN, without authority), as an unregistered domain.
It resolves nothing elsewhere."""

import logging
import socket
import socketserver
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import close_old_connections, connection
from dnslib import AAAA, CNAME, NS, QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

from dns.models import ZoneRecord
from dns.providers.local import platform_zone

logger = logging.getLogger(__name__)

MAX_ALIASES = 8  # CNAME chains followed inside our zones
TCP_CLIENT_SECONDS = 2.0


def _rdata(kind: str, content: str) -> object:
    if kind == "A":
        return A(content)
    if kind == "AAAA":
        return AAAA(content)
    if kind == "CNAME":
        return CNAME(content + ".")
    # A TXT value is one or more strings of at most 255 bytes each.
    raw = content.encode()
    return TXT([raw[start : start + 255] for start in range(0, len(raw), 255)] or [b""])


def _soa(zone: str) -> RR:
    serial = int(time.time()) // 60  # minutes: changes whenever records may have
    return RR(
        zone + ".",
        QTYPE.SOA,
        ttl=60,
        rdata=SOA(f"ns.{zone}.", f"hostmaster.{zone}.", (serial, 3600, 600, 86400, 60)),
    )


def zone_of(name: str, zones: set[str]) -> str | None:
    """The most specific zone we serve that holds `name`."""
    holding = [zone for zone in zones if name == zone or name.endswith(f".{zone}")]
    return max(holding, key=len) if holding else None


def served_zones() -> set[str]:
    return set(ZoneRecord.objects.values_list("zone", flat=True).distinct()) | {platform_zone()}


def answer(request: DNSRecord) -> DNSRecord:
    """The authoritative reply to one question, from the records in the database now."""
    reply = request.reply(ra=0, aa=1)
    qname = str(request.q.qname).lower().rstrip(".")
    qtype = QTYPE.get(request.q.qtype)
    zones = served_zones()
    zone = zone_of(qname, zones)
    if zone is None:
        reply.header.aa = 0
        reply.header.rcode = RCODE.NXDOMAIN
        return reply
    if qname == zone and qtype in ("SOA", "NS", "ANY"):
        reply.add_answer(_soa(zone))
        reply.add_answer(RR(zone + ".", QTYPE.NS, ttl=3600, rdata=NS(f"ns.{zone}.")))
        return reply
    current = qname
    for _ in range(MAX_ALIASES):
        records = list(ZoneRecord.objects.filter(name=current))
        aliases = [record for record in records if record.type == "CNAME"]
        if aliases and qtype != "CNAME":
            target = aliases[0].content.lower().rstrip(".")
            reply.add_answer(RR(current + ".", QTYPE.CNAME, ttl=aliases[0].ttl, rdata=_rdata("CNAME", target)))
            if zone_of(target, zones) is None:
                return reply  # the resolver asking follows it from here
            current = target
            continue
        for record in records:
            if qtype in (record.type, "ANY"):
                reply.add_answer(
                    RR(
                        current + ".",
                        getattr(QTYPE, record.type),
                        ttl=record.ttl,
                        rdata=_rdata(record.type, record.content),
                    )
                )
        if not reply.rr:
            exists = records or ZoneRecord.objects.filter(name__endswith=f".{current}").exists()
            if not exists:
                reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(_soa(zone_of(current, zones) or zone))
        return reply
    return reply


class ZoneResolver(BaseResolver):
    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        # Questions are answered one at a time, on the server's own thread (one for UDP, one for TCP),
        # each borrowing a pooled connection only while it reads: a flood of questions can hold at most
        # two of the process's connections, and only for a moment.
        try:
            return answer(request)
        except Exception:
            logger.exception("a DNS question could not be answered", extra={"question": str(request.q.qname)})
            reply = request.reply(ra=0, aa=0)
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        finally:
            connection.close()


class SerialUDPServer(socketserver.UDPServer):
    """dnslib's servers start a thread per question; this one answers them in turn (see above)."""

    allow_reuse_address = True


class SerialTCPServer(socketserver.TCPServer):
    allow_reuse_address = True

    def get_request(self) -> tuple[socket.socket, Any]:
        client, address = super().get_request()
        client.settimeout(TCP_CLIENT_SECONDS)  # a client that stalls cannot hold the server
        return client, address


class TruncatingHandler(DNSHandler):
    """Answers longer than a classic UDP message are truncated (TC): the client asks again over TCP,
    and a forged source address cannot turn a small question into a large answer."""

    udplen = 512


class QuietLogger(DNSLogger):
    """dnslib prints every packet; the platform logs only what went wrong."""

    def __init__(self) -> None:
        super().__init__(log="-recv,-send,-request,-reply,-truncated,-data,-error", prefix=False)

    def log_error(self, handler: DNSHandler, e: Exception) -> None:
        logger.warning("DNS server error", extra={"client": handler.client_address[0], "error": str(e)})


def make_servers(host: str, port: int) -> list[DNSServer]:
    """A UDP and a TCP server on the same address (an answer too long for UDP is asked again by TCP)."""
    close_old_connections()
    resolver = ZoneResolver()
    return [
        DNSServer(
            resolver,
            address=host,
            port=port,
            logger=QuietLogger(),
            handler=TruncatingHandler,
            server=SerialTCPServer if tcp else SerialUDPServer,
        )
        for tcp in (False, True)
    ]


@contextmanager
def running(host: str, port: int) -> Iterator[list[DNSServer]]:
    """The servers in background threads while the block runs (tests, `dns serve`)."""
    servers = make_servers(host, port)
    for server in servers:
        server.start_thread()
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
            server.server.server_close()
