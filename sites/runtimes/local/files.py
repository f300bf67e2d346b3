"""A site's files and its system user.

WordPress core is hard-linked from Debian's package (instant, no extra disk, read-only to the site),
beside the platform's wp-config.php and the site's own wp-content.

Hard links rather than symlinks: PHP resolves __FILE__ through symlinks, so symlinked core would find
Debian's /usr/share/wordpress/wp-config.php instead of the site's.

Who owns what (when the platform runs as root): the site's folder and its docroot belong to root,
with the site's group (the site's user and nginx) able to read them; only wp-content, tmp and logs
belong to the site. So the site can never rename or replace anything the platform writes later
(wp-config.php, core), and no platform write ever lands in a folder the site controls, where a link
it planted could redirect it.
"""

import contextlib
import errno
import os
import shutil
from pathlib import Path

from django.conf import settings

from sites.runtimes.local import system_user

RUNTIME_TEMPLATES = Path(settings.BASE_DIR) / "wordpress-runtime"
CORE_EXCLUDED = {"wp-config.php", "wp-config-sample.php", "wp-content", ".htaccess"}
# Must-use plugins the platform puts in every site (mail through SMTP).
MU_PLUGINS = sorted((RUNTIME_TEMPLATES / "mu-plugins").glob("*.php"))


def site_dir(key: str) -> Path:
    return Path(settings.SITES_ROOT) / key


def docroot(key: str) -> Path:
    return site_dir(key) / "htdocs"


def wordpress_version() -> str:
    version_file = Path(settings.WORDPRESS_CORE_DIR) / "wp-includes" / "version.php"
    for line in version_file.read_text().splitlines():
        if line.startswith("$wp_version"):
            return line.split("'")[1]
    raise RuntimeError(f"No $wp_version in {version_file}")


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:  # another filesystem: fall back to a copy
        shutil.copy2(source, destination)


def _fresh_content(staging: Path, ids: tuple[int, int] | None) -> None:
    """wp-content for a new site: the bundled themes, the platform's must-use plugins, uploads."""
    core = Path(settings.WORDPRESS_CORE_DIR)
    content = staging / "wp-content"
    shutil.copytree(core / "wp-content", content, copy_function=_link_or_copy, symlinks=True)
    (content / "uploads").mkdir(exist_ok=True)
    (content / "mu-plugins").mkdir(exist_ok=True)
    for plugin in MU_PLUGINS:
        _link_or_copy(str(plugin), str(content / "mu-plugins" / plugin.name))
    # Handed over before the site ever runs, so no link of the site's can be in the tree yet.
    system_user.hand_over(content, ids, mode=0o750)


def _recover_content(staging: Path, root: Path) -> None:
    """A run that died between moving the site's wp-content into the staging tree and swapping it in
    left the site's own content there: put it back before the staging tree is thrown away."""
    stranded = staging / "wp-content"
    if stranded.is_dir() and not stranded.is_symlink() and not (root / "wp-content").exists() and root.is_dir():
        stranded.rename(root / "wp-content")


def _ensure_mu_plugins(root: Path, ids: tuple[int, int] | None) -> None:
    """The platform's must-use plugins are in the site's wp-content (sites made before they existed,
    or a site that removed them). The folder is the site's: every step goes through file
    descriptors opened without following links, so a link the site planted leads nowhere."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        content = os.open(root / "wp-content", flags)
    except OSError:
        return  # wp-content is a link (or gone): the site broke its own mail, nobody else's
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir("mu-plugins", 0o750, dir_fd=content)
            if ids is not None:
                os.chown("mu-plugins", ids[0], ids[1], dir_fd=content, follow_symlinks=False)
        mu_plugins = os.open("mu-plugins", flags, dir_fd=content)
        try:
            for plugin in MU_PLUGINS:
                _place(plugin, mu_plugins)
        finally:
            os.close(mu_plugins)
    except OSError:
        return
    finally:
        os.close(content)


def _place(plugin: Path, folder: int) -> None:
    """A hard link to the platform's file (read-only to the site), or a copy on another filesystem."""
    try:
        os.link(plugin, plugin.name, dst_dir_fd=folder, follow_symlinks=False)
    except FileExistsError:
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy = os.open(plugin.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder)
        with os.fdopen(copy, "wb") as handle:
            handle.write(plugin.read_bytes())


def ensure_files(key: str) -> str:
    """The site's user and files, converged to the installed WordPress version. Returns the version."""
    site = site_dir(key)
    site.mkdir(parents=True, exist_ok=True)
    ids = system_user.ensure_user(key, site)
    system_user.close(site, ids)
    core = Path(settings.WORDPRESS_CORE_DIR)
    version = wordpress_version()
    root = docroot(key)
    marker = root / f".aipress-core-{version}"
    if not marker.exists():
        # Build beside the live docroot and swap, so a crash never leaves a half-linked tree in place.
        staging = site / "htdocs.new"
        _recover_content(staging, root)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for entry in core.iterdir():
            if entry.name in CORE_EXCLUDED:
                continue
            target = staging / entry.name
            if entry.is_dir():
                shutil.copytree(entry, target, copy_function=_link_or_copy, symlinks=True)
            else:
                _link_or_copy(str(entry), str(target))
        # The site's own content survives a core upgrade: move it over when there is one.
        existing_content = root / "wp-content"
        if existing_content.is_dir() and not existing_content.is_symlink():
            existing_content.rename(staging / "wp-content")
        else:
            _fresh_content(staging, ids)
        (staging / marker.name).write_text(version)
        old = site / "htdocs.old"
        shutil.rmtree(old, ignore_errors=True)
        if root.exists():
            root.rename(old)
        staging.rename(root)
        shutil.rmtree(old, ignore_errors=True)
    shutil.copyfile(RUNTIME_TEMPLATES / "wp-config.php", root / "wp-config.php")
    system_user.close(root, ids)
    _ensure_mu_plugins(root, ids)
    for private in ("tmp", "logs"):
        folder = site / private
        folder.mkdir(exist_ok=True)
        if ids is not None:
            os.chown(folder, ids[0], ids[1], follow_symlinks=False)
            folder.chmod(0o700)
    return version


def files_present(key: str) -> bool:
    """Core, config and the site's user, behind the sandbox's packet filter."""
    root = docroot(key)
    return (root / "wp-settings.php").exists() and (root / "wp-config.php").exists() and system_user.user_guarded(key)


def remove_files(key: str) -> None:
    shutil.rmtree(site_dir(key), ignore_errors=True)
