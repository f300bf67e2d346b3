"""The local provider's authoritative server, asked over the wire as any resolver would: what the
pipeline writes to the platform's zone, what an operator sets in a stand-in registrar zone, and what
neither holds."""

import pytest
from django.core.management import call_command
from dnslib import QTYPE, RCODE, DNSRecord
from dnslib.zoneresolver import ZoneResolver

from dns import lookup, zones
from dns.models import ZoneRecord
from dns.providers.base import Record
from dns.providers.local import LocalDnsProvider
from dns.zonefile import export_zone

pytestmark = pytest.mark.django_db(transaction=True)


def _ask(server: str, name: str, kind: str, *, tcp: bool = False) -> DNSRecord:
    host, port = server.split(":")
    return DNSRecord.parse(DNSRecord.question(name, kind).send(host, int(port), tcp=tcp, timeout=2))


def test_a_site_hostname_written_by_the_provider_is_answered_with_authority(dns_server):
    LocalDnsProvider().record_set(Record("blog--acme.sites.localhost", "A", "127.0.0.1"))
    reply = _ask(dns_server, "blog--acme.sites.localhost", "A")
    assert RCODE.get(reply.header.rcode) == "NOERROR" and reply.header.aa == 1
    assert [str(rr.rdata) for rr in reply.rr] == ["127.0.0.1"]
    # Asked for another type: it exists, without that type (NODATA with the zone's SOA).
    empty = _ask(dns_server, "blog--acme.sites.localhost", "AAAA")
    assert RCODE.get(empty.header.rcode) == "NOERROR" and not empty.rr
    assert QTYPE.get(empty.auth[0].rtype) == "SOA"


def test_names_that_do_not_exist_and_zones_not_served(dns_server):
    missing = _ask(dns_server, "nothing--here.sites.localhost", "A")
    assert RCODE.get(missing.header.rcode) == "NXDOMAIN" and missing.header.aa == 1
    # Outside every zone it serves: as an unregistered domain, without claiming authority.
    elsewhere = _ask(dns_server, "example.org", "A")
    assert RCODE.get(elsewhere.header.rcode) == "NXDOMAIN" and elsewhere.header.aa == 0


def test_a_registrar_zone_set_by_an_operator_follows_cnames_into_the_platform_zone(dns_server):
    LocalDnsProvider().record_set(Record("shop--acme.sites.localhost", "A", "127.0.0.1"))
    call_command("dns", "set-record", "www.their-shop.test", "CNAME", "shop--acme.sites.localhost.")
    answer = lookup.query("www.their-shop.test", "A")
    assert answer.cname == "shop--acme.sites.localhost"
    assert answer.values == ["127.0.0.1"]
    assert lookup.query("www.their-shop.test", "CNAME").values == ["shop--acme.sites.localhost"]


def test_long_txt_values_survive_udp_and_tcp(dns_server):
    value = "v=" + "x" * 600
    zones.operator_record_set(name="_aipress-challenge.www.their-shop.test", type="TXT", content=value)
    # Over UDP it is too long: truncated, so a forged source cannot amplify; lookup asks again by TCP.
    over_udp = _ask(dns_server, "_aipress-challenge.www.their-shop.test", "TXT")
    assert over_udp.header.tc == 1 and not over_udp.rr
    assert lookup.query("_aipress-challenge.www.their-shop.test", "TXT").values == [value]
    over_tcp = _ask(dns_server, "_aipress-challenge.www.their-shop.test", "TXT", tcp=True)
    assert b"".join(over_tcp.rr[0].rdata.data).decode() == value


def test_a_forged_reply_is_ignored_and_a_resolver_cut_off_mid_answer_does_not_hang(settings):
    """A datagram with another question's id is skipped; a TCP answer cut short is an error in time."""
    import socket
    import threading

    settings.DNS_QUERY_TIMEOUT_SECONDS = 1.0
    # One port number free for both UDP and TCP: the UDP port's number may be taken for TCP by another
    # process, so try a few.
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        tcp = socket.socket()
        try:
            tcp.bind(("127.0.0.1", udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        break
    tcp.listen()
    port = udp.getsockname()[1]

    def resolver() -> None:
        data, client = udp.recvfrom(512)
        question = DNSRecord.parse(data)
        forged = question.reply()
        forged.header.id = (question.header.id + 1) % 65536
        forged.add_answer(*DNSRecord.parse(DNSRecord.question("x.test").pack()).rr)
        udp.sendto(forged.pack(), client)  # wrong id: must not be taken for the answer
        truncated = question.reply()
        truncated.header.tc = 1
        udp.sendto(truncated.pack(), client)  # the right id, too long: ask by TCP
        connection, _ = tcp.accept()
        connection.recv(512)
        connection.sendall(b"\x01\x00\xab")  # announces 256 bytes, sends one, and goes
        connection.close()

    thread = threading.Thread(target=resolver, daemon=True)
    thread.start()
    try:
        answer = lookup.query("www.their-shop.test", "A", resolvers=[f"127.0.0.1:{port}"])
    finally:
        thread.join(timeout=5)
        udp.close()
        tcp.close()
    assert answer.unreachable and "closed the connection mid-answer" in answer.resolver


def test_a_resolver_that_does_not_answer_is_reported_not_mistaken_for_no_record(settings):
    settings.DNS_RESOLVERS = ["127.0.0.1:9"]  # discard: nothing answers
    settings.DNS_QUERY_TIMEOUT_SECONDS = 0.3
    answer = lookup.query("www.their-shop.test", "TXT")
    assert answer.unreachable and not answer.values and "127.0.0.1:9" in answer.resolver


@pytest.mark.parametrize(
    ("name", "kind", "value", "message"),
    [
        ("www.their-shop.test", "A", "300.1.1.1", "IPv4 address"),
        ("www.their-shop.test", "AAAA", "127.0.0.1", "IPv6 address"),
        ("www.their-shop.test", "CNAME", "not a host", "hostname"),
        ("www.their-shop.test", "TXT", "two\nlines", "one line"),
        ("bad name.test", "A", "127.0.0.1", "not a hostname"),
    ],
)
def test_an_operator_record_that_is_not_valid_is_refused_and_nothing_is_written(name, kind, value, message):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=message):
        call_command("dns", "set-record", name, kind, value)
    assert not ZoneRecord.objects.exists()


def test_the_exported_zone_file_is_standard_and_holds_what_is_served(dns_server):
    provider = LocalDnsProvider()
    provider.record_set(Record("blog--acme.sites.localhost", "A", "127.0.0.1"))
    provider.record_set(Record("blog--acme.sites.localhost", "TXT", 'quoted "value"'))
    provider.record_set(Record("cdn.sites.localhost", "CNAME", "blog--acme.sites.localhost"))
    text = export_zone("sites.localhost")
    assert "$ORIGIN sites.localhost." in text and "IN\tSOA\t" in text
    # Another implementation reads it back: dnslib's zone file parser, answering the same.
    parsed = ZoneResolver(text, glob=False)
    reply = parsed.resolve(DNSRecord.question("blog--acme.sites.localhost", "TXT"), None)
    assert b"".join(reply.rr[0].rdata.data).decode() == 'quoted "value"'
    reply = parsed.resolve(DNSRecord.question("cdn.sites.localhost", "CNAME"), None)
    assert str(reply.rr[0].rdata) == "blog--acme.sites.localhost."


def test_the_serve_command_answers_as_make_run_starts_it_and_a_taken_port_is_said_not_fatal(dns_server):
    """`manage.py dns serve` in a process of its own (the Procfile's), on the test database."""
    import os
    import socket
    import subprocess
    import sys

    from django.conf import settings

    from conftest import database_url_of_this_run
    from kernel.testing import wait_until

    LocalDnsProvider().record_set(Record("blog--acme.sites.localhost", "A", "127.0.0.1"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database_url_of_this_run(), "DATABASE_POOL": "0", "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "manage.py", "dns", "serve", "--port", str(port)]

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    first = start()
    second = None
    try:
        answered = wait_until(
            lambda: lookup.query("blog--acme.sites.localhost", "A", resolvers=[f"127.0.0.1:{port}"]).values,
            timeout=30,
            what="dns serve to answer",
        )
        assert answered == ["127.0.0.1"]
        second = start()
        line = second.stderr.readline()
        assert f"Cannot listen on 127.0.0.1:{port}" in line and "DNS_SERVER_PORT" in line
        assert second.poll() is None  # still up: under honcho, an exit would stop the whole platform
    finally:
        for process in (first, second):
            if process is not None:
                process.terminate()
                process.wait(timeout=15)
