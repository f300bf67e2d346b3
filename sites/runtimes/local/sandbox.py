"""What a site's PHP cannot reach, on a host it shares with the platform.

A site's PHP is untrusted code. Besides its own system user and closed folders (system_user.py,
files.py), two walls keep it away from the platform's services on this host:

- Packet filtering by socket owner (nftables): a connection from a site's user to any address of this
  host is refused, except to the sites' database server, the sites' web port (WordPress calls itself)
  and DNS. PostgreSQL, Redis, the broker, the control plane and any MariaDB other than the sites' one
  answer "connection refused"; so do the platform's services on other hosts and link-local addresses
  (a cloud VM's metadata server, with its credentials). Other hosts (APIs, updates) are reachable.
- A mount namespace: php-fpm and the WordPress installer see an empty /run, so the UNIX sockets of
  the host's services (PostgreSQL with its local trust, the system MariaDB's root socket) are not
  there to connect to. Packet filtering cannot see UNIX sockets, and open_basedir does not cover them.

Both need root; without it the platform cannot run sites as users of their own either, and says so.
Each runtime (`make run`, a test run, a benchmark) has its own nftables table, holding the uids of
its own sites, so they never loosen or tighten each other's rules.
"""

import re
import shutil
import socket
import subprocess
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings

from sites.runtimes.local.server import running_as_root
from sites.spec import StepError

# Directories whose sockets a site must not see. /var/run is a link to /run on Debian.
HIDDEN_DIRECTORIES = ("/run",)
DNS_PORT = 53


def table_name() -> str:
    instance = re.sub(r"[^a-z0-9]", "", settings.SITES_KEY_PREFIX.lower()) or "main"
    return f"aipress_sites_{instance}"


def _is_this_host(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def allowed_local_ports() -> list[int]:
    """Ports of this host that sites may connect to: their database server, their web port, DNS."""
    from sites.runtimes.local.database import sites_db_host

    ports = {DNS_PORT, int(settings.SITES_PORT)}
    parsed = urlsplit(f"//{sites_db_host()}")
    if _is_this_host(parsed.hostname or ""):
        ports.add(parsed.port or 3306)
    return sorted(ports)


# Cloud metadata servers (a VM's service-account credentials) and link-local addresses in general.
LINK_LOCAL = ("169.254.0.0/16", "fe80::/10")


def _addresses(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except OSError:
        return set()


def platform_hosts() -> set[str]:
    """Addresses of the platform's services on other hosts (its database, Redis, the broker), which
    sites must not reach either; not the sites' own database server, which they need."""
    from sites.runtimes.local.database import sites_db_host

    sites_db = urlsplit(f"//{sites_db_host()}").hostname or ""
    found: set[str] = set()
    for url in (settings.DATABASE_URL, settings.REDIS_URL, settings.CELERY_BROKER_URL):
        host = urlsplit(url).hostname or ""
        if host and not _is_this_host(host) and host != sites_db:
            found |= _addresses(host)
    return found - _addresses(sites_db)


def enforced() -> bool:
    """Whether this host's sites are sandboxed (needs root: site users, nftables, namespaces)."""
    return running_as_root()


def _nft(script: str) -> None:
    if shutil.which("nft") is None:
        raise StepError("nftables is missing: install Debian's nftables package (`make run` does, as root).")
    result = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StepError(f"nftables refused the sites' sandbox rules: {result.stderr.strip()[:500]}")


def _table_exists() -> bool:
    result = subprocess.run(["nft", "list", "table", "inet", table_name()], capture_output=True, text=True, check=False)
    return result.returncode == 0


def _ruleset(uids: Iterable[int]) -> str:
    table = table_name()
    ports = ", ".join(str(port) for port in allowed_local_ports())
    elements = ", ".join(str(uid) for uid in sorted(set(uids)))
    element_line = f"\n\t\telements = {{ {elements} }}" if elements else ""
    closed = set(LINK_LOCAL) | platform_hosts()
    v4 = ", ".join(sorted(a for a in closed if ":" not in a))
    v6 = ", ".join(sorted(a for a in closed if ":" in a))
    elsewhere = f"\t\tmeta skuid @site_uids ip daddr {{ {v4} }} reject\n" if v4 else ""
    elsewhere += f"\t\tmeta skuid @site_uids ip6 daddr {{ {v6} }} reject\n" if v6 else ""
    # `add` then `delete` then the definition: one atomic replacement, whether or not it existed.
    return f"""add table inet {table}
delete table inet {table}
table inet {table} {{
\tset site_uids {{
\t\ttype uid{element_line}
\t}}
\tchain output {{
\t\ttype filter hook output priority filter; policy accept;
\t\tmeta skuid @site_uids fib daddr type local ct state new jump site_to_this_host
{elsewhere}\t}}
\tchain site_to_this_host {{
\t\ttcp dport {{ {ports} }} accept
\t\tudp dport {DNS_PORT} accept
\t\tmeta l4proto tcp reject with tcp reset
\t\treject
\t}}
}}
"""


def firewall_install(uids: Iterable[int]) -> None:
    """(Re)write this runtime's table with exactly these site users (at daemon start)."""
    if enforced():
        _nft(_ruleset(uids))


def firewall_add(uid: int) -> None:
    """Put a site's user behind the wall; creates the table when it is not there yet."""
    if not enforced():
        return
    if not _table_exists():
        from sites.runtimes.local.system_user import existing_site_uids

        _nft(_ruleset({uid, *existing_site_uids()}))
        return
    _nft(f"add element inet {table_name()} site_uids {{ {uid} }}\n")


def firewall_remove(uid: int) -> None:
    if enforced() and _table_exists():
        subprocess.run(
            ["nft", "delete", "element", "inet", table_name(), "site_uids", f"{{ {uid} }}"],
            capture_output=True,
            check=False,
        )


def firewall_guards(uid: int) -> bool:
    """Whether the wall is up for this user (the reconciler repairs it when not)."""
    if not enforced():
        return True
    result = subprocess.run(
        ["nft", "get", "element", "inet", table_name(), "site_uids", f"{{ {uid} }}"],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def firewall_uninstall() -> None:
    """Drop this runtime's table (a test run's, at its end)."""
    if enforced() and shutil.which("nft") is not None:
        subprocess.run(["nft", "delete", "table", "inet", table_name()], capture_output=True, check=False)


def isolated(command: list[str], *, as_user: str | None = None) -> list[str]:
    """`command` in a mount namespace where HIDDEN_DIRECTORIES are empty, optionally as `as_user`.

    php-fpm's master runs like this (its pools inherit the namespace), and so does every PHP the
    platform runs for a site. Paths come from our settings, passed as arguments, never spliced into
    the shell line.
    """
    if not enforced():
        return command
    hide = " && ".join(
        f'mount -t tmpfs -o mode=0755,size=64k aipress-hidden "${i + 1}"' for i in range(len(HIDDEN_DIRECTORIES))
    )
    shift = f"shift {len(HIDDEN_DIRECTORIES)}"
    # No new privileges (a setuid binary would not raise them) and no capabilities left to gain.
    drop = (
        ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--init-groups", "--no-new-privs",
         "--bounding-set=-all", "--"]
        if as_user
        else []
    )  # fmt: skip
    return [
        "unshare", "--mount", "--propagation", "private", "--",
        "/bin/sh", "-c", f'{hide} && {shift} && exec "$@"', "aipress-sandbox", *HIDDEN_DIRECTORIES, *drop, *command,
    ]  # fmt: skip
