"""What a domain's records say, through the resolvers in DNS_RESOLVERS: does the TXT record prove
the tenant holds it, and does it point at the site? Each finding is said in words that tell the
person what to change."""

from dataclasses import dataclass

from dns import lookup
from dns.models import CHALLENGE_LABEL


@dataclass(frozen=True)
class Findings:
    ownership_ok: bool
    ownership_detail: str
    dns_ok: bool
    dns_detail: str
    unanswered: bool = False  # no resolver answered: nothing is known, nothing may be concluded

    @property
    def points_elsewhere(self) -> bool:
        """The records were read, and they do not send visitors to the site."""
        return not self.dns_ok and not self.unanswered

    def problems(self) -> list[tuple[bool, str]]:
        return [(self.ownership_ok, self.ownership_detail), (self.dns_ok, self.dns_detail)]


UNANSWERED = "No DNS resolver answered"


def _unanswered(answer: lookup.Answer) -> str:
    return f"{UNANSWERED} ({answer.resolver}); it is checked again later."


def ownership(hostname: str, token: str) -> tuple[bool, str]:
    name = f"{CHALLENGE_LABEL}.{hostname}"
    answer = lookup.query(name, "TXT")
    if answer.unreachable:
        return False, _unanswered(answer)
    if token in answer.values:
        return True, f"The TXT record {name} holds this domain's token."
    if not answer.values:
        return False, f"No TXT record at {name} yet: create one with the value {token}."
    shown = ", ".join(f"“{value[:80]}”" for value in answer.values[:3])
    return False, f"The TXT record at {name} holds {shown}, not this domain's token {token}: change its value."


def pointing(hostname: str, origin: str) -> tuple[bool, str]:
    """A CNAME to the site's platform hostname, or the same addresses as it (an apex's A/AAAA, or a
    provider's CNAME flattening)."""
    alias = lookup.query(hostname, "CNAME")
    if alias.unreachable:
        return False, _unanswered(alias)
    target = alias.cname or (alias.values[0] if alias.values else "")
    if target == origin:
        return True, f"{hostname} is a CNAME to {origin}."
    if target:
        return False, f"{hostname} is a CNAME to {target}, not to {origin}: change its target."
    if alias.nxdomain:
        return False, f"{hostname} does not exist in DNS yet: create a CNAME record to {origin}."
    return _same_addresses(hostname, origin)


def _same_addresses(hostname: str, origin: str) -> tuple[bool, str]:
    mismatched = []
    found_any = False
    for kind in ("A", "AAAA"):
        theirs, ours = lookup.query(hostname, kind), lookup.query(origin, kind)
        if theirs.unreachable or ours.unreachable:
            return False, _unanswered(theirs if theirs.unreachable else ours)
        found_any = found_any or bool(theirs.values)
        if set(theirs.values) != set(ours.values):
            mismatched.append((kind, theirs.values, ours.values))
    if not found_any:
        return False, f"{hostname} has no CNAME, A or AAAA record: create a CNAME record to {origin}."
    if mismatched:
        kind, theirs_values, ours_values = mismatched[0]
        return False, (
            f"{hostname} points to {', '.join(theirs_values) or 'no address'} ({kind}), not to "
            f"{', '.join(ours_values) or 'nothing'}, the addresses of {origin}: create a CNAME to {origin} "
            "instead (or those addresses, at an apex)."
        )
    return True, f"{hostname} has the addresses of {origin}."


def check(hostname: str, *, token: str, origin: str) -> Findings:
    owned, owned_detail = ownership(hostname, token)
    points, points_detail = pointing(hostname, origin)
    unanswered = points_detail.startswith(UNANSWERED)
    return Findings(owned, owned_detail, points, points_detail, unanswered=unanswered)
