"""The official clients, one per process and configuration, pointed at Google or at an endpoint
override (an emulator, a private endpoint, the tests' fakes). A plain-http endpoint gets anonymous
credentials: nothing secret is sent to it, and Application Default Credentials are never asked for."""

from functools import cache
from typing import Any

import httplib2
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import run_v2, secretmanager_v1, storage
from googleapiclient import discovery

from sites.runtimes.cloudrun.config import config

# What a call to a Google API may take before the step gives up and is retried by the pipeline.
TIMEOUT_SECONDS = 30.0


def _credentials(endpoint: str) -> Credentials | None:
    return AnonymousCredentials() if endpoint.startswith("http://") else None


def _options(endpoint: str) -> ClientOptions | None:
    return ClientOptions(api_endpoint=endpoint) if endpoint else None


@cache
def _services(endpoint: str) -> run_v2.ServicesClient:
    return run_v2.ServicesClient(
        transport="rest", client_options=_options(endpoint), credentials=_credentials(endpoint)
    )


def services() -> run_v2.ServicesClient:
    return _services(config().cloudrun_endpoint)


@cache
def _secrets(endpoint: str) -> secretmanager_v1.SecretManagerServiceClient:
    return secretmanager_v1.SecretManagerServiceClient(
        transport="rest", client_options=_options(endpoint), credentials=_credentials(endpoint)
    )


def secrets(endpoint: str | None = None) -> secretmanager_v1.SecretManagerServiceClient:
    from django.conf import settings

    return _secrets(settings.SECRETMANAGER_ENDPOINT if endpoint is None else endpoint)


def _discovery(api: str, version: str, endpoint: str) -> Any:
    # The discovery documents ship with the client (static_discovery): no network call to build it.
    # A plain-http endpoint gets a bare HTTP client: no Authorization header, no credentials looked for.
    anonymous = {"http": httplib2.Http(timeout=TIMEOUT_SECONDS)} if endpoint.startswith("http://") else {}
    return discovery.build(
        api, version, client_options=_options(endpoint), static_discovery=True, cache_discovery=False, **anonymous
    )


def sqladmin() -> Any:
    """Cloud SQL Admin v1. Discovery clients share an httplib2 connection that is not thread-safe:
    a new one per use (they are cheap: the document is on disk)."""
    return _discovery("sqladmin", "v1", config().cloudsql_admin_endpoint)


def iam() -> Any:
    return _discovery("iam", "v1", config().iam_endpoint)


@cache
def _storage(project: str, emulator: str) -> storage.Client:
    # With STORAGE_EMULATOR_HOST set the client talks to the emulator, anonymously. It is passed
    # explicitly so the setting, not only the process's environment, decides.
    if emulator:
        endpoint = emulator if "://" in emulator else f"http://{emulator}"
        return storage.Client(
            project=project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=endpoint),
        )
    return storage.Client(project=project)


def storage_client() -> storage.Client:
    cfg = config()
    return _storage(cfg.project, cfg.storage_emulator_host)


def forget_clients() -> None:
    """New clients on the next call (settings changed: another endpoint, another project)."""
    _services.cache_clear()
    _secrets.cache_clear()
    _storage.cache_clear()
