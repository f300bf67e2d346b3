"""A zone as a standard (RFC 1035) zone file: what `manage.py dns export-zone` prints, for a
secondary server, a registrar's import, or to read what the platform serves."""

import time

from dns.models import ZoneRecord


def _quoted(text: str) -> str:
    """A TXT value as zone-file strings: quoted, backslash and quote escaped, 255 bytes a string."""
    raw = text.encode()
    parts = [raw[start : start + 255].decode("utf-8", "replace") for start in range(0, len(raw), 255)] or [""]
    return " ".join('"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"' for part in parts)


def export_zone(zone: str) -> str:
    zone = zone.lower().rstrip(".")
    serial = time.strftime("%Y%m%d%H", time.gmtime())
    lines = [
        f"; The zone {zone} as AIPress serves it (manage.py dns export-zone).",
        f"$ORIGIN {zone}.",
        "$TTL 300",
        f"@\tIN\tSOA\tns.{zone}. hostmaster.{zone}. {serial} 3600 600 86400 60",
        f"@\tIN\tNS\tns.{zone}.",
    ]
    for record in ZoneRecord.objects.filter(zone=zone).order_by("name", "type", "content"):
        relative = "@" if record.name == zone else record.name.removesuffix(f".{zone}")
        content = _quoted(record.content) if record.type == "TXT" else record.content
        if record.type == "CNAME":
            content += "."
        lines.append(f"{relative}\t{record.ttl}\tIN\t{record.type}\t{content}")
    return "\n".join(lines) + "\n"
