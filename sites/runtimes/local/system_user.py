"""When the platform runs as root, each site's PHP runs as a system user of its own, whose group is
shared with nginx's user only: the site's folders are closed to every other site, and the platform
puts the user behind the sandbox's packet filter (sandbox.py) the moment it exists."""

import contextlib
import grp
import os
import pwd
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

from django.conf import settings

from sites.runtimes.local import sandbox
from sites.runtimes.local.server import WEB_USER, running_as_root


def user_name(key: str) -> str:
    return f"aip-{key}".replace("_", "-")[:32]


def _this_runtimes_users() -> re.Pattern[str]:
    prefix = re.escape(settings.SITES_KEY_PREFIX.replace("_", "-"))
    return re.compile(rf"^aip-{prefix}t\d+-s\d+$")


def existing_site_uids() -> list[int]:
    """Users of this runtime's sites (not those of another runtime sharing the host)."""
    pattern = _this_runtimes_users()
    return [entry.pw_uid for entry in pwd.getpwall() if pattern.fullmatch(entry.pw_name)]


def ids(key: str) -> tuple[int, int] | None:
    """(uid, gid) of the site's user, or None when it does not exist or we do not run as root."""
    if not running_as_root():
        return None
    try:
        entry = pwd.getpwnam(user_name(key))
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def ensure_user(key: str, home: Path) -> tuple[int, int] | None:
    """(uid, gid) of the site's user, created if needed; None when not running as root."""
    if not running_as_root():
        return None
    name = user_name(key)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", str(home),
             "--shell", "/usr/sbin/nologin", name],
            check=True, capture_output=True,
        )  # fmt: skip
        entry = pwd.getpwnam(name)
    if WEB_USER not in grp.getgrgid(entry.pw_gid).gr_mem:
        # nginx serves the site's static files through the site's group; its workers pick the
        # membership up at the next reload (the web server step reloads).
        subprocess.run(["gpasswd", "--add", WEB_USER, name], check=True, capture_output=True)
    sandbox.firewall_add(entry.pw_uid)
    return entry.pw_uid, entry.pw_gid


def user_guarded(key: str) -> bool:
    """The user exists and is behind the packet filter (always true when not running as root)."""
    if not running_as_root():
        return True
    found = ids(key)
    return found is not None and sandbox.firewall_guards(found[0])


def remove_user(key: str) -> None:
    if not running_as_root():
        return
    name = user_name(key)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return
    # Its processes go first (a worker finishing a request, anything the site left running): the
    # packet filter is lifted only once nothing can run as this user any more.
    _end_processes(entry.pw_uid)
    # userdel keeps a group that still has members: take nginx's user out first.
    subprocess.run(["gpasswd", "--delete", WEB_USER, name], check=False, capture_output=True)
    subprocess.run(["userdel", name], check=True, capture_output=True)
    subprocess.run(["groupdel", name], check=False, capture_output=True)
    sandbox.firewall_remove(entry.pw_uid)


def _processes_of(uid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        zombie = fields.get("State", "").strip().startswith("Z")  # dead already, waiting for its parent
        if fields.get("Uid", "").split()[:1] == [str(uid)] and not zombie:
            found.append(int(status.parent.name))
    return found


def _end_processes(uid: int, timeout: float = 10.0) -> None:
    """SIGKILL every process of `uid` until none is left (a fork bomb included)."""
    deadline = time.monotonic() + timeout
    while remaining := _processes_of(uid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes of uid {uid} survive SIGKILL: {remaining[:10]}")
        for pid in remaining:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def hand_over(root: Path, ids: tuple[int, int] | None, *, mode: int) -> None:
    """Give `root` and everything under it to the site's user, without following links.

    The tree may hold links the site made (to /etc/shadow, say): a chown that followed one would hand
    its target to the site. os.fwalk walks by file descriptor, so a folder swapped for a link half-way
    is not followed either. Hard links into WordPress's core (shared by every site, owned by root) stay
    root's, so no site can change them for the others.
    """
    if ids is None:
        return
    if root.is_symlink():
        raise ValueError(f"{root} is a link; refusing to hand it over")
    uid, gid = ids
    for _, subdirectories, names, folder in os.fwalk(root, follow_symlinks=False):
        os.fchown(folder, uid, gid)
        for name in [*names, *subdirectories]:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink > 1):
                continue
            os.chown(name, uid, gid, dir_fd=folder, follow_symlinks=False)
    os.chmod(root, mode)


def close(path: Path, ids: tuple[int, int] | None, *, mode: int = 0o750) -> None:
    """A folder the platform owns, readable by the site's group (the site and nginx) only."""
    if ids is None:
        return
    os.chown(path, 0, ids[1], follow_symlinks=False)
    os.chmod(path, mode)
