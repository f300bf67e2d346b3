"""The official clients, one per process and configuration, pointed at Google or at an endpoint
override (an emulator, a private endpoint, the tests' fakes). A plain-http endpoint gets anonymous
credentials: nothing secret is sent to it, and Application Default Credentials are never asked for."""

import threading
from functools import cache
from typing import Any

import google.auth
import google_auth_httplib2
import httplib2
from django.conf import settings
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import run_v2, secretmanager_v1
from google.cloud.storage import Client as StorageClient
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


def secrets() -> secretmanager_v1.SecretManagerServiceClient:
    """Secret Manager, for the secret store: it needs the project and this endpoint only, not the
    Cloud Run runtime's whole configuration."""
    return _secrets(settings.SECRETMANAGER_ENDPOINT)


_per_thread = threading.local()
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def _http(endpoint: str) -> Any:
    """An HTTP client with a timeout (a hung call would keep a step's heartbeat alive for ever):
    bare for a plain-http endpoint, with Application Default Credentials otherwise."""
    http = httplib2.Http(timeout=TIMEOUT_SECONDS)
    if endpoint.startswith("http://"):
        return http
    credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
    return google_auth_httplib2.AuthorizedHttp(credentials, http=http)


def _discovery(api: str, version: str, endpoint: str) -> Any:
    """A discovery client per thread (their httplib2 connection is not thread-safe), built once: the
    document ships with the client (static_discovery), so building costs no network call. A
    plain-http endpoint gets a bare HTTP client: no Authorization header, no credentials looked for."""
    built: dict[tuple[str, str, str], Any] = _per_thread.__dict__.setdefault("clients", {})
    key = (api, version, endpoint)
    if key not in built:
        built[key] = discovery.build(
            api,
            version,
            client_options=_options(endpoint),
            static_discovery=True,
            cache_discovery=False,
            http=_http(endpoint),
        )
    return built[key]


def sqladmin() -> Any:
    """Cloud SQL Admin v1."""
    return _discovery("sqladmin", "v1", config().cloudsql_admin_endpoint)


def iam() -> Any:
    return _discovery("iam", "v1", config().iam_endpoint)


def resourcemanager() -> Any:
    """Cloud Resource Manager v1: the project's IAM policy."""
    return _discovery("cloudresourcemanager", "v1", config().resourcemanager_endpoint)


@cache
def _storage(project: str, emulator: str) -> StorageClient:
    # With STORAGE_EMULATOR_HOST set the client talks to the emulator, anonymously. It is passed
    # explicitly so the setting, not only the process's environment, decides.
    if emulator:
        endpoint = emulator if "://" in emulator else f"http://{emulator}"
        return StorageClient(
            project=project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=endpoint),
        )
    return StorageClient(project=project)


def storage_client() -> StorageClient:
    cfg = config()
    return _storage(cfg.project, cfg.storage_emulator_host)
