"""What the Cloud Run runtime needs to know, all from the environment (see README, "Sites on Google
Cloud"), and one place that says exactly which variable is missing."""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class CloudConfig:
    project: str
    region: str
    sql_instance: str  # the instance's name in the project, not its connection name
    sql_admin_url: str  # mysql://user:password@host:port/ (or ?unix_socket=): where users are made
    image: str
    max_instances: int
    poll_seconds: float  # between two questions about a long-running operation
    # Endpoint overrides for emulators, private endpoints and the tests ("" = Google's own).
    cloudrun_endpoint: str
    cloudsql_admin_endpoint: str
    secretmanager_endpoint: str
    iam_endpoint: str
    resourcemanager_endpoint: str
    storage_emulator_host: str

    @property
    def sql_connection_name(self) -> str:
        """project:region:instance, what a Cloud Run service's Cloud SQL volume names."""
        return f"{self.project}:{self.region}:{self.sql_instance}"


# Each setting the runtime cannot work without, with the variable an operator sets.
REQUIRED = (
    ("GOOGLE_CLOUD_PROJECT", "the Google Cloud project the sites run in"),
    ("SITES_CLOUDRUN_REGION", "the region of the sites' Cloud Run services, e.g. europe-west1"),
    ("SITES_CLOUDSQL_INSTANCE", "the shared Cloud SQL for MySQL instance's name"),
    ("SITES_CLOUDSQL_ADMIN_URL", "mysql://USER:PASSWORD@HOST:PORT/ of the instance's admin user"),
    ("SITES_IMAGE", "the image built from wordpress-runtime/, e.g. REGION-docker.pkg.dev/PROJECT/sites/wordpress:TAG"),
)


def missing() -> list[str]:
    """The required variables that are not set."""
    return [name for name, _ in REQUIRED if not getattr(settings, name, "")]


def missing_message() -> str:
    """What to set, in one line (setup_platform, /readyz): names only, never a value."""
    return f"SITES_RUNTIME=cloudrun needs {', '.join(missing())} set (see docs/cloudrun.md, “Configuration”)."


def config() -> CloudConfig:
    """The configuration, or ImproperlyConfigured naming every variable that is missing."""
    if missing():
        raise ImproperlyConfigured(missing_message())
    return CloudConfig(
        project=settings.GOOGLE_CLOUD_PROJECT,
        region=settings.SITES_CLOUDRUN_REGION,
        sql_instance=settings.SITES_CLOUDSQL_INSTANCE,
        sql_admin_url=settings.SITES_CLOUDSQL_ADMIN_URL,
        image=settings.SITES_IMAGE,
        max_instances=settings.SITES_CLOUDRUN_MAX_INSTANCES,
        poll_seconds=settings.SITES_CLOUD_POLL_SECONDS,
        cloudrun_endpoint=settings.CLOUDRUN_ENDPOINT,
        cloudsql_admin_endpoint=settings.CLOUDSQL_ADMIN_ENDPOINT,
        secretmanager_endpoint=settings.SECRETMANAGER_ENDPOINT,
        iam_endpoint=settings.IAM_ENDPOINT,
        resourcemanager_endpoint=settings.RESOURCEMANAGER_ENDPOINT,
        storage_emulator_host=settings.STORAGE_EMULATOR_HOST,
    )
