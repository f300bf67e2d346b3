"""WordPress installed for the site, by WordPress's own installer, run as the site's user, sandboxed.

Success is what the installer prints on its last line (`AIPRESS-RESULT ...`), never its exit code
alone: WordPress answers many failures (no database, say) with an error page and exit code 0.

The installer runs in a process group of its own, recorded in the platform's runtime folder. A
worker killed mid-install leaves that group running; the next attempt ends it first, so two
installers never write the same database at once.
"""

import html
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from sites.runtimes.local import database, files, pool, processes, sandbox, server, system_user
from sites.spec import SiteSpec, StepError

SCRIPTS = Path(__file__).parent
INSTALL_SCRIPT = SCRIPTS / "install.php"
SET_TITLE_SCRIPT = SCRIPTS / "set_title.php"
RESULT_PREFIX = "AIPRESS-RESULT "
TIMEOUT_SECONDS = 120
# The same functions as in the site's pool: the installer loads the site's code too.
DISABLED_FUNCTIONS = "exec,passthru,shell_exec,system,proc_open,popen,mail,mb_send_mail"


def ensure_installed(spec: SiteSpec) -> str:
    """WordPress installed, with the site's current title (the update operation changes it here)."""
    detail = install_wordpress(spec)
    if "already" in detail:
        return f"{detail}; {set_title(spec)}"
    return detail


def install_wordpress(spec: SiteSpec) -> str:
    result = _run(spec, INSTALL_SCRIPT, "WordPress install")
    if result == "partial":
        # Cut short before: nothing of value is in the database yet, so start it afresh.
        database.reset_database(spec.key)
        result = _run(spec, INSTALL_SCRIPT, "WordPress install")
    if result not in ("installed", "already-installed"):
        raise StepError(f"WordPress install ended with “{result}”.")
    return f"WordPress {result} for {spec.admin_email or 'admin'}"


def set_title(spec: SiteSpec) -> str:
    result = _run(spec, SET_TITLE_SCRIPT, "Setting the title")
    return f"title set to “{result.removeprefix('title ')}”"


def _pid_file(key: str) -> Path:
    folder = server.runtime_dir() / "installers"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder / f"{key}.pgid"


def end_previous_installer(key: str) -> bool:
    """End an installer a killed worker left running for this site; True when there was one."""
    pid_file = _pid_file(key)
    try:
        pgid = int(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return False
    ended = False
    if processes.group_members(pgid):
        os.killpg(pgid, signal.SIGKILL)
        ended = True
        deadline = time.monotonic() + 10
        while processes.group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)
    pid_file.unlink(missing_ok=True)
    return ended


def _readable(output: str) -> str:
    """The start of what PHP printed, as text (WordPress's error pages are HTML)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", output, flags=re.DOTALL | re.IGNORECASE)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.split())[:400] or "no output"


def _run(spec: SiteSpec, script: Path, what: str) -> str:
    """Run one of our PHP scripts against the site, as its user, with its environment; returns the
    result it printed (after RESULT_PREFIX), or raises StepError with what it printed instead."""
    end_previous_installer(spec.key)
    site_dir = files.site_dir(spec.key)
    env_file = pool.env_file(spec.key)
    # The site's environment reaches PHP the way it reaches the pool: the env file, prepended. The
    # process itself gets only what the installer needs: the commands that wrap it (unshare, mount,
    # setpriv) run as root, and no value of the site's may steer them (LD_PRELOAD, say).
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AIPRESS_HOST": spec.hostname,
        "AIPRESS_DOCROOT": str(files.docroot(spec.key)),
        "AIPRESS_TITLE": spec.title,
        "AIPRESS_ADMIN_LOGIN": spec.admin_email or "admin",
        "AIPRESS_ADMIN_EMAIL": spec.admin_email or "admin@example.com",
        "AIPRESS_ADMIN_PASSWORD": spec.secrets.get("WP_ADMIN_PASSWORD", ""),
    }
    command = [
        "php",
        "-d", f"open_basedir={site_dir}/:{script}:{env_file}",
        "-d", f"auto_prepend_file={env_file}",
        "-d", f"disable_functions={DISABLED_FUNCTIONS}",
        "-d", f"sys_temp_dir={site_dir}/tmp",  # noqa: S108 - the site's own tmp, not /tmp
        str(script),
    ]  # fmt: skip
    if system_user.ids(spec.key) is not None:
        command = sandbox.isolated(command, as_user=system_user.user_name(spec.key))
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, which a later attempt can end
    )
    pid_file = _pid_file(spec.key)
    pid_file.write_text(str(process.pid))
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise StepError(f"{what} took more than {TIMEOUT_SECONDS} s and was stopped.") from None
    finally:
        if pid_file.exists() and pid_file.read_text() == str(process.pid):
            pid_file.unlink()
    lines = [line for line in stdout.splitlines() if line.strip()]
    if lines and lines[-1].startswith(RESULT_PREFIX):
        return lines[-1].removeprefix(RESULT_PREFIX).strip()
    raise StepError(f"{what} failed: {_readable(stderr + ' ' + stdout)}")
