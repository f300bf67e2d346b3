"""WordPress installed for the site, by WordPress's own installer, run as the site's user."""

import pwd
import shutil
import subprocess
from pathlib import Path

from sites.runtimes.base import SiteSpec, StepError
from sites.runtimes.local import database, files, pool, system_user
from sites.runtimes.local.server import running_as_root

INSTALL_SCRIPT = Path(__file__).with_name("install.php")


PARTIAL_INSTALL = 3


def install_wordpress(spec: SiteSpec) -> str:
    result = _run_installer(spec)
    if result.returncode == PARTIAL_INSTALL:
        # Cut short before: nothing of value is in the database yet, so start it afresh.
        database.reset_database(spec.key)
        result = _run_installer(spec)
    if result.returncode != 0:
        raise StepError(f"WordPress install failed: {(result.stderr or result.stdout).strip()[-500:]}")
    return f"WordPress {result.stdout.strip()} for {spec.admin_email or 'admin'}"


def set_title(spec: SiteSpec) -> str:
    result = _run_installer(spec, Path(__file__).with_name("set_title.php"))
    if result.returncode != 0:
        raise StepError(f"Setting the title failed: {(result.stderr or result.stdout).strip()[-500:]}")
    return f"title set to “{result.stdout.strip()}”"


def _run_installer(spec: SiteSpec, source: Path = INSTALL_SCRIPT) -> subprocess.CompletedProcess:
    """Run one of our PHP scripts against the site, as its user, with its environment."""
    site_dir = files.site_dir(spec.key)
    script = site_dir / "tmp" / f"aipress-{source.stem}.php"
    shutil.copyfile(source, script)
    env = {
        **pool.site_environment(spec),
        "PATH": "/usr/bin:/bin",
        "AIPRESS_HOST": spec.hostname,
        "AIPRESS_DOCROOT": str(files.docroot(spec.key)),
        "AIPRESS_TITLE": spec.title,
        "AIPRESS_ADMIN_LOGIN": spec.admin_email or "admin",
        "AIPRESS_ADMIN_EMAIL": spec.admin_email or "admin@example.com",
        "AIPRESS_ADMIN_PASSWORD": spec.secrets.get("WP_ADMIN_PASSWORD", ""),
    }
    identity = {}
    if running_as_root():
        entry = pwd.getpwnam(system_user.user_name(spec.key))
        identity = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        shutil.chown(script, entry.pw_uid, entry.pw_gid)
    try:
        result = subprocess.run(
            ["php", "-d", f"open_basedir={site_dir}/:/tmp/", str(script)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **identity,
        )
    finally:
        script.unlink(missing_ok=True)
    return result
