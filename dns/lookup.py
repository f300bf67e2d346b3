"""DNS queries, over the wire, to the resolvers in DNS_RESOLVERS (host:port, the first that answers
counts). dnslib encodes and decodes; dnspython is never used (our app shadows it)."""

import random
import socket
import struct
import time
from dataclasses import dataclass, field

from django.conf import settings
from dnslib import CNAME, QTYPE, RCODE, TXT, DNSError, DNSRecord


@dataclass(frozen=True)
class Answer:
    name: str
    type: str
    values: list[str] = field(default_factory=list)  # of the type asked (TXT: each record's text)
    cname: str = ""  # where `name` is an alias of, when it is one
    nxdomain: bool = False  # the name does not exist at all
    unreachable: bool = False  # no resolver answered
    resolver: str = ""  # which one answered, or what each said when none did


def _endpoints(resolvers: list[str] | None) -> list[tuple[str, int]]:
    found = []
    for given in resolvers if resolvers is not None else settings.DNS_RESOLVERS:
        entry = given.strip()
        if entry.startswith("["):  # [::1]:53
            host, _, port = entry[1:].partition("]")
            port = port.removeprefix(":")
        elif entry.count(":") == 1:
            host, _, port = entry.partition(":")
        else:  # an address alone (IPv4, or IPv6 without brackets)
            host, port = entry, ""
        found.append((host, int(port or 53)))
    return found


def _text(record: TXT) -> str:
    return b"".join(part if isinstance(part, bytes) else str(part).encode() for part in record.data).decode(
        "utf-8", "replace"
    )


def _udp(question: DNSRecord, host: str, port: int, deadline: float) -> DNSRecord:
    """One question over UDP: only a reply from that resolver to that question counts (a stray or
    forged datagram is skipped, not taken for the answer)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))  # the kernel drops datagrams from anyone else
        sock.send(question.pack())
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            reply = DNSRecord.parse(sock.recv(65535))
            # A truncated answer may carry no question section: its id alone ties it to ours.
            asked = not reply.questions or reply.q.qname == question.q.qname
            if reply.header.id == question.header.id and asked:
                return reply


def _read_exactly(sock: socket.socket, size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise DNSError("the resolver closed the connection mid-answer")
        data += chunk
    return data


def _tcp(question: DNSRecord, host: str, port: int, deadline: float) -> DNSRecord:
    """One question over TCP (an answer too long for UDP), within the same deadline."""
    packet = question.pack()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        sock.connect((host, port))
        sock.sendall(struct.pack("!H", len(packet)) + packet)
        (length,) = struct.unpack("!H", _read_exactly(sock, 2, deadline))
        reply = DNSRecord.parse(_read_exactly(sock, length, deadline))
    if reply.header.id != question.header.id:
        raise DNSError("the reply answers another question")
    return reply


def _ask(question: DNSRecord, host: str, port: int, timeout: float) -> DNSRecord:
    deadline = time.monotonic() + timeout
    reply = _udp(question, host, port, deadline)
    if reply.header.tc:  # too long for UDP: ask again over TCP
        reply = _tcp(question, host, port, deadline)
    return reply


def query(name: str, rtype: str, *, resolvers: list[str] | None = None, timeout: float | None = None) -> Answer:
    """The records of type `rtype` at `name` (following an alias), as the first resolver that answers says."""
    name = name.lower().rstrip(".")
    problems = []
    for host, port in _endpoints(resolvers):
        question = DNSRecord.question(name, rtype)
        question.header.id = random.randint(1, 65535)  # noqa: S311 - a query id, not a secret
        try:
            reply = _ask(question, host, port, timeout or settings.DNS_QUERY_TIMEOUT_SECONDS)
        except (TimeoutError, OSError, DNSError, ValueError) as exc:
            problems.append(f"{host}:{port} {type(exc).__name__ if not str(exc) else exc}")
            continue
        rcode = RCODE.get(reply.header.rcode)
        if rcode not in ("NOERROR", "NXDOMAIN"):
            problems.append(f"{host}:{port} answered {rcode}")
            continue
        wanted = getattr(QTYPE, rtype)
        values, cname = [], ""
        for rr in reply.rr:
            if rr.rtype == QTYPE.CNAME and isinstance(rr.rdata, CNAME) and str(rr.rname).lower().rstrip(".") == name:
                cname = str(rr.rdata.label).lower().rstrip(".")
            if rr.rtype == wanted:
                values.append(_text(rr.rdata) if isinstance(rr.rdata, TXT) else str(rr.rdata).lower().rstrip("."))
        return Answer(name, rtype, values, cname, nxdomain=rcode == "NXDOMAIN", resolver=f"{host}:{port}")
    return Answer(name, rtype, unreachable=True, resolver="; ".join(problems))
