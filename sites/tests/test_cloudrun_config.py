"""An operator switching sites to Google Cloud is told exactly what is missing, by setup_platform and
by /readyz, and sees the cloud answer once everything is set."""

import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

VARIABLES = (
    "GOOGLE_CLOUD_PROJECT",
    "SITES_CLOUDRUN_REGION",
    "SITES_CLOUDSQL_INSTANCE",
    "SITES_CLOUDSQL_ADMIN_URL",
    "SITES_IMAGE",
)


@pytest.fixture
def cloudrun_without_configuration(settings):
    for name in VARIABLES:
        setattr(settings, name, "")
    settings.SITES_CLOUDSQL_INSTANCE = "shared-sql"  # one of them set: it must not be named
    settings.DRIVERS = {**settings.DRIVERS, "runtime": "cloudrun", "secrets": "secretmanager"}


def test_readyz_names_every_missing_variable_and_no_other(client, cloudrun_without_configuration):
    body = client.get("/readyz", HTTP_HOST="aipress.localhost").json()
    runtime = body["drivers"]["runtime"]
    assert runtime["driver"] == "cloudrun" and runtime["reachable"] is False
    for name in ("GOOGLE_CLOUD_PROJECT", "SITES_CLOUDRUN_REGION", "SITES_CLOUDSQL_ADMIN_URL", "SITES_IMAGE"):
        assert name in runtime["problem"]
    assert "SITES_CLOUDSQL_INSTANCE" not in runtime["problem"]
    assert body["drivers"]["secrets"]["problem"] == (
        "ImproperlyConfigured: SITES_SECRETS=secretmanager needs GOOGLE_CLOUD_PROJECT (the project to keep them in)."
    )


def test_setup_platform_says_what_to_set(cloudrun_without_configuration):
    out = io.StringIO()
    call_command("setup_platform", stdout=out)
    (line,) = [
        line for line in out.getvalue().splitlines() if "SITES_RUNTIME=cloudrun" in line and "NOT REACHABLE" in line
    ]
    assert line.endswith(
        "SITES_RUNTIME=cloudrun needs GOOGLE_CLOUD_PROJECT, SITES_CLOUDRUN_REGION, SITES_CLOUDSQL_ADMIN_URL, "
        "SITES_IMAGE set (see docs/cloudrun.md, “Configuration”)."
    )


def test_the_cloud_runtime_needs_secret_manager(settings, gcp):
    from kernel import drivers

    settings.DRIVERS = {**settings.DRIVERS, "secrets": "local"}
    (runtime,) = [r for r in drivers.report() if r.concern == "runtime"]
    assert not runtime.reachable
    assert runtime.detail.endswith("keeps sites' secrets in Secret Manager: set SITES_SECRETS=secretmanager.")


def test_configured_it_reports_the_project_the_instance_and_the_image(settings, gcp):
    from kernel import drivers

    reports = {r.concern: r for r in drivers.report()}
    assert reports["runtime"].reachable, reports["runtime"].detail
    assert reports["runtime"].detail.startswith(
        "Cloud Run in aipress-test/europe-west1, Cloud SQL shared-sql (MYSQL_8_0"
    )
    assert reports["secrets"].reachable and reports["secrets"].detail == "Secret Manager in aipress-test"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("WP_TITLE", "is set by the platform"),
        ("DB_PASSWORD_FILE", "is set by the platform"),  # the image reads a secret from NAME_FILE too
        ("PORT", "is set by the platform"),
        ("K_SERVICE", "is reserved by Cloud Run"),
    ],
)
def test_a_site_cannot_override_what_the_cloud_image_reads(name, reason):
    from kernel.errors import InvalidInput
    from sites.rules import check_env_name

    with pytest.raises(InvalidInput, match=f"^{name} {reason}; choose another name.$"):
        check_env_name(name)
    assert check_env_name("STRIPE_KEY_FILE") == "STRIPE_KEY_FILE"  # not a name the platform sets
