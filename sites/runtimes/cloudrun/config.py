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
    # Endpoint overrides for emulators, private endpoints and the tests ("" = Google's own); the
    # secret store reads SECRETMANAGER_ENDPOINT itself.
    cloudrun_endpoint: str
    cloudsql_admin_endpoint: str
    iam_endpoint: str
    resourcemanager_endpoint: str
    storage_emulator_host: str

    @property
    def sql_connection_name(self) -> str:
        """project:region:instance, what a Cloud Run service's Cloud SQL volume names."""
        return f"{self.project}:{self.region}:{self.sql_instance}"


# The settings the runtime cannot work without (docs/cloudrun.md says what each holds).
REQUIRED = (
    "GOOGLE_CLOUD_PROJECT",
    "SITES_CLOUDRUN_REGION",
    "SITES_CLOUDSQL_INSTANCE",
    "SITES_CLOUDSQL_ADMIN_URL",
    "SITES_IMAGE",
)


def missing() -> list[str]:
    """The required variables that are not set."""
    return [name for name in REQUIRED if not getattr(settings, name, "")]


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
        iam_endpoint=settings.IAM_ENDPOINT,
        resourcemanager_endpoint=settings.RESOURCEMANAGER_ENDPOINT,
        storage_emulator_host=settings.STORAGE_EMULATOR_HOST,
    )
