"""Shared by the local runtime's tests: specs of test sites, provisioning them for real, and PHP
dropped into a site to see the world as the site's own code does."""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest

from sites.pipeline import STEPS
from sites.runtimes.local import files, health
from sites.runtimes.local.runtime import SALT_NAMES, LocalRuntime
from sites.spec import SiteSpec

if TYPE_CHECKING:
    from sites.tests.gcp.fakes import (
        FakeApi,
        FakeCloudRun,
        FakeCloudSql,
        FakeIam,
        FakeResourceManager,
        FakeSecretManager,
        Recorded,
        StorageEmulator,
    )

# The pipeline's steps that the runtime does, in order (the secret store does "secrets").
LOCAL_STEPS = [step.name for step in STEPS if step.concern == "runtime"]


def provision_all(runtime: LocalRuntime, spec: SiteSpec, steps: list[str] | None = None) -> None:
    for step in steps or LOCAL_STEPS:
        runtime.ensure(step, spec, None)


def tear_down(runtime: LocalRuntime, spec: SiteSpec) -> None:
    """What a delete operation does: every step removed, last first."""
    for step in reversed(LOCAL_STEPS):
        runtime.remove(step, spec, None)


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


# --- Google Cloud, offline: the runtime's SDKs pointed at loopback fakes (sites/tests/gcp) ----------

PROJECT = "aipress-test"
REGION = "europe-west1"
SQL_INSTANCE = "shared-sql"


@dataclass
class Cloud:
    """The fakes a test's sites live in, and what they were asked."""

    run: "FakeCloudRun"
    sql: "FakeCloudSql"
    secrets: "FakeSecretManager"
    iam: "FakeIam"
    projects: "FakeResourceManager"
    storage: "StorageEmulator"

    def fakes(self) -> list["FakeApi"]:
        return [self.run, self.sql, self.secrets, self.iam, self.projects]

    def requests(self) -> list["Recorded"]:
        return [request for fake in self.fakes() for request in fake.requests]

    def forget_requests(self) -> None:
        for fake in self.fakes():
            with fake.lock:
                fake.requests.clear()


@pytest.fixture
def gcp(settings: Any) -> Iterator[Cloud]:
    """SITES_RUNTIME=cloudrun and SITES_SECRETS=secretmanager, with every endpoint on a fake; database
    users are made on the sites' real MariaDB (standing in for the Cloud SQL instance's MySQL)."""
    from sites.runtimes.cloudrun import database as cloud_database
    from sites.secrets import secretmanager
    from sites.tests.gcp.fakes import (
        FakeCloudRun,
        FakeCloudSql,
        FakeIam,
        FakeResourceManager,
        FakeSecretManager,
        StorageEmulator,
    )

    secrets, iam = FakeSecretManager().start(), FakeIam().start()
    cloud = Cloud(
        run=FakeCloudRun(secret_manager=secrets).start(),
        sql=FakeCloudSql(instances={PROJECT: [SQL_INSTANCE]}, region=REGION, one_operation_at_a_time=True).start(),
        secrets=secrets,
        iam=iam,
        projects=FakeResourceManager(projects=(PROJECT,), iam=iam).start(),
        storage=StorageEmulator().start(),
    )
    settings.GOOGLE_CLOUD_PROJECT = PROJECT
    settings.SITES_CLOUDRUN_REGION = REGION
    settings.SITES_CLOUDSQL_INSTANCE = SQL_INSTANCE
    settings.SITES_CLOUDSQL_ADMIN_URL = settings.SITES_MARIADB_URL
    settings.SITES_IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/sites/wordpress:test"
    settings.CLOUDRUN_ENDPOINT = cloud.run.endpoint
    settings.CLOUDSQL_ADMIN_ENDPOINT = cloud.sql.endpoint
    settings.SECRETMANAGER_ENDPOINT = cloud.secrets.endpoint
    settings.IAM_ENDPOINT = cloud.iam.endpoint
    settings.RESOURCEMANAGER_ENDPOINT = cloud.projects.endpoint
    settings.STORAGE_EMULATOR_HOST = cloud.storage.endpoint
    settings.SITES_CLOUD_POLL_SECONDS = 0.05
    settings.DRIVERS = {**settings.DRIVERS, "runtime": "cloudrun", "secrets": "secretmanager"}
    secretmanager._revealed.clear()  # another test's fake may have held the same names
    yield cloud
    for fake in cloud.fakes():
        fake.stop()
    cloud.storage.stop()
    # The users made on the real MariaDB for this run's cloud sites.
    with cloud_database.admin(cloud_database.config()) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT User FROM mysql.user WHERE Host = %s AND User LIKE %s",
            (cloud_database.USER_HOST, f"wp_{settings.SITES_KEY_PREFIX}%"),
        )
        for (user,) in cursor.fetchall():
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, cloud_database.USER_HOST))
    for fake in cloud.fakes():
        assert fake.crashes == [], fake.crashes
