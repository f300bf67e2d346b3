"""Shared by the local runtime's tests: specs of test sites, provisioning them for real, and PHP
dropped into a site to see the world as the site's own code does."""

import json
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import pytest

from sites.pipeline import STEPS
from sites.runtimes.local import files, health
from sites.runtimes.local.runtime import SALT_NAMES, LocalRuntime
from sites.spec import SiteSpec

# The pipeline's steps that the runtime does, in order (the secret store does "secrets").
LOCAL_STEPS = [step.name for step in STEPS if step.concern == "runtime"]


def provision_all(runtime: LocalRuntime, spec: SiteSpec, steps: list[str] | None = None) -> None:
    for step in steps or LOCAL_STEPS:
        runtime.ensure(step, spec, None)


def tear_down(runtime: LocalRuntime, spec: SiteSpec) -> None:
    """What a delete operation does: every step removed, last first."""
    for step in reversed(LOCAL_STEPS):
        runtime.remove(step, spec)


def missing(runtime: LocalRuntime, spec: SiteSpec) -> set[str]:
    return {step for step in LOCAL_STEPS if not runtime.status(step, spec)}


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
        provision_all(runtime, spec)
        return spec

    yield runtime, provision
    for spec in made:
        tear_down(runtime, spec)


def put_php(spec: SiteSpec, name: str, code: str) -> None:
    """A PHP file in the site's docroot, as if a plugin of the site's had put it there."""
    (files.docroot(spec.key) / name).write_text(code)


def run_php(spec: SiteSpec, name: str, **query: str) -> dict:
    """Request a PHP file of the site through nginx and its pool; its JSON answer."""
    status, _, body = health.fetch(spec.hostname, f"/{name}?{urlencode(query)}")
    assert status == 200, body[-2000:]
    return json.loads(body)
