"""The driver concerns the sites app owns, and how the rest of it asks for them."""

from kernel import drivers
from sites.runtimes.base import Runtime
from sites.secrets.base import SecretStore

RUNTIME = drivers.Concern(
    name="runtime",
    protocol=Runtime,
    variable="SITES_RUNTIME",
    known={
        "local": "sites.runtimes.local.runtime.LocalRuntime",
        # Each site a Cloud Run service, with Cloud SQL, Cloud Storage and Secret Manager.
        "cloudrun": "sites.runtimes.cloudrun.runtime.CloudRunRuntime",
        # Keeps each site's pieces in this process's memory: fast tests of the pipeline's own logic.
        "memory": "sites.runtimes.memory.MemoryRuntime",
    },
)
SECRETS = drivers.Concern(
    name="secrets",
    protocol=SecretStore,
    variable="SITES_SECRETS",
    known={
        "local": "sites.secrets.local.LocalSecretStore",
        "secretmanager": "sites.secrets.secretmanager.SecretManagerStore",
    },
)


def register() -> None:
    drivers.register(RUNTIME)
    drivers.register(SECRETS)


def runtime(name: str | None = None) -> Runtime:
    """The configured runtime, or the one a site was made on (`name`)."""
    found: Runtime = drivers.driver(RUNTIME.name, name)
    return found


def secret_store() -> SecretStore:
    found: SecretStore = drivers.driver(SECRETS.name)
    return found
