"""A site's files: WordPress core hard-linked from Debian's package (instant, no extra disk, and
read-only to the site), its own wp-content, and the platform's wp-config.php.

Hard links rather than symlinks: PHP resolves __FILE__ through symlinks, so symlinked core would find
Debian's /usr/share/wordpress/wp-config.php instead of the site's.
"""

import os
import shutil
from pathlib import Path

from django.conf import settings

RUNTIME_TEMPLATES = Path(settings.BASE_DIR) / "wordpress-runtime"
CORE_EXCLUDED = {"wp-config.php", "wp-config-sample.php", "wp-content"}


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


def ensure_files(key: str) -> str:
    """Lay out the site's docroot; converge it to the installed WordPress version. Returns it."""
    core = Path(settings.WORDPRESS_CORE_DIR)
    version = wordpress_version()
    root = docroot(key)
    marker = root / f".aipress-core-{version}"
    if not marker.exists():
        # Build beside the live docroot and swap, so a crash never leaves a half-linked tree in place.
        staging = site_dir(key) / "htdocs.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
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
        if existing_content.exists():
            existing_content.rename(staging / "wp-content")
        else:
            shutil.copytree(core / "wp-content", staging / "wp-content", copy_function=_link_or_copy, symlinks=True)
        (staging / "wp-content" / "uploads").mkdir(exist_ok=True)
        marker_staged = staging / marker.name
        marker_staged.write_text(version)
        old = site_dir(key) / "htdocs.old"
        shutil.rmtree(old, ignore_errors=True)
        if root.exists():
            root.rename(old)
        staging.rename(root)
        shutil.rmtree(old, ignore_errors=True)
    shutil.copyfile(RUNTIME_TEMPLATES / "wp-config.php", root / "wp-config.php")
    return version


def files_present(key: str) -> bool:
    root = docroot(key)
    return (root / "wp-settings.php").exists() and (root / "wp-config.php").exists()


def remove_files(key: str) -> None:
    shutil.rmtree(site_dir(key), ignore_errors=True)
