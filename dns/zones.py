"""Records an operator sets by hand in the local server's zones (`manage.py dns set-record`): with no
internet, a zone here stands in for a domain owner's DNS host, so the whole domain flow can be tried
(and is tested) for real. Every value is checked as its type requires before it is served."""

import ipaddress

from django.db import transaction

from dns.models import ZoneRecord
from dns.providers.local import platform_zone
from dns.rules import HOSTNAME
from kernel.errors import InvalidInput

MAX_TXT = 1024


def zone_for(name: str) -> str:
    """The platform's zone for its own names; otherwise the name's registered domain (its last two
    labels), which is the zone a registrar would keep."""
    own = platform_zone()
    if name == own or name.endswith(f".{own}"):
        return own
    return ".".join(name.split(".")[-2:])


def _checked(type: str, content: str) -> str:
    content = content.strip()
    if type in ("A", "AAAA"):
        try:
            address = ipaddress.ip_address(content)
        except ValueError:
            address = None
        if address is None or address.version != (4 if type == "A" else 6):
            raise InvalidInput(
                f"An {type} record holds an IPv{4 if type == 'A' else 6} address, not “{content}”.", field="value"
            )
        return str(address)
    if type == "CNAME":
        target = content.lower().removesuffix(".")
        if not HOSTNAME.fullmatch(target):
            raise InvalidInput(f"A CNAME record holds a hostname, not “{content}”.", field="value")
        return target
    if not content or len(content) > MAX_TXT or any(ord(c) < 32 for c in content):
        raise InvalidInput(f"A TXT value is 1 to {MAX_TXT} characters on one line.", field="value")
    return content


def operator_record_set(*, name: str, type: str, content: str, ttl: int = 300) -> ZoneRecord:
    """Make this the only record of its type at its name (a CNAME stands alone, as DNS requires)."""
    name = name.strip().lower().removesuffix(".")
    challenge = name.split(".", 1)[1] if name.startswith("_") and "." in name else name
    if not HOSTNAME.fullmatch(challenge):
        raise InvalidInput(f"“{name}” is not a hostname.", field="name")
    if not 60 <= ttl <= 86400:
        raise InvalidInput("A TTL is 60 to 86400 seconds.", field="ttl")
    content = _checked(type, content)
    with transaction.atomic():
        at_name = ZoneRecord.objects.select_for_update().filter(name=name)
        if type == "CNAME":
            at_name.delete()
        else:
            at_name.filter(type__in=(type, "CNAME")).delete()
        return ZoneRecord.objects.create(zone=zone_for(name), name=name, type=type, content=content, ttl=ttl)


def operator_records_delete(*, name: str, type: str | None = None) -> int:
    found = ZoneRecord.objects.filter(name=name.strip().lower().removesuffix("."))
    if type:
        found = found.filter(type=type)
    deleted, _ = found.delete()
    return deleted
