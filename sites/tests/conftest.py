"""Shared by the local runtime's tests: specs of test sites, provisioning them for real, and PHP
dropped into a site to see the world as the site's own code does."""

import json
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import pytest

from sites.runtimes.base import SiteSpec
from sites.runtimes.local import files, health
from sites.runtimes.local.runtime import SALT_NAMES, LocalRuntime


def site_spec(site_id: int, title: str = "Crumbs", env: dict[str, str] | None = None) -> SiteSpec:
    secrets = {name: f"{name.lower()}-{site_id}-" + "s" * 40 for name in ("DB_PASSWORD", *SALT_NAMES)}
    secrets["WP_ADMIN_PASSWORD"] = "admin-pass-" + "p" * 20
    return SiteSpec(
        tenant_id=7,
        tenant_slug="acme",
        site_id=site_id,
        slug=f"blog{site_id}",
        title=title,
        hostname=f"blog{site_id}--acme.sites.localhost",
        max_php_workers=2,
        admin_email="owner@acme.test",
        secrets=secrets,
        env=env or {},
    )


@pytest.fixture
def provisioned(site_daemons: None) -> Iterator[tuple[LocalRuntime, Callable[..., SiteSpec]]]:
    """Provision sites through every step of the local runtime; delete them afterwards."""
    runtime = LocalRuntime()
    made: list[SiteSpec] = []

    def provision(site_id: int, title: str = "Crumbs", env: dict[str, str] | None = None) -> SiteSpec:
        spec = site_spec(site_id, title, env)
        made.append(spec)
        for step in runtime.steps:
            runtime.provision_step(step, spec)
        return spec

    yield runtime, provision
    for spec in made:
        runtime.delete(spec)


def put_php(spec: SiteSpec, name: str, code: str) -> None:
    """A PHP file in the site's docroot, as if a plugin of the site's had put it there."""
    (files.docroot(spec.key) / name).write_text(code)


def run_php(spec: SiteSpec, name: str, **query: str) -> dict:
    """Request a PHP file of the site through nginx and its pool; its JSON answer."""
    status, _, body = health.fetch(spec.hostname, f"/{name}?{urlencode(query)}")
    assert status == 200, body[-2000:]
    return json.loads(body)
