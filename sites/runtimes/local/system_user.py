"""When the platform runs as root, each site's PHP runs as a system user of its own, and its folder
is closed to every other site (owner: the site, group: the web server, mode 0750)."""

import grp
import os
import pwd
import subprocess
from pathlib import Path

from sites.runtimes.local.server import WEB_USER, running_as_root


def user_name(key: str) -> str:
    return f"aip-{key}".replace("_", "-")[:32]


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
    return entry.pw_uid, entry.pw_gid


def remove_user(key: str) -> None:
    if not running_as_root():
        return
    name = user_name(key)
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    subprocess.run(["userdel", name], check=True, capture_output=True)


def close_site_dir(site_dir: Path, ids: tuple[int, int] | None, writable: list[Path]) -> None:
    """Owner the site, group the web server, 0750; `writable` folders belong to the site."""
    if ids is None:
        return
    uid, _gid = ids
    web_gid = grp.getgrnam(WEB_USER).gr_gid
    os.chown(site_dir, uid, web_gid)
    os.chmod(site_dir, 0o750)
    for folder in writable:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir() or path.stat().st_nlink == 1:  # never chown a hard link into core
                os.chown(path, uid, web_gid)
        os.chmod(folder, 0o770)
