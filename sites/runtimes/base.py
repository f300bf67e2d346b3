"""The protocol every site runtime implements. Callers (the pipeline, the reconciler, the API) only
see this, so the Cloud Run runtime can replace the local one without changing them."""

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SiteSpec:
    """Everything a runtime needs to know about one site, decrypted secrets included."""

    tenant_id: int
    tenant_slug: str
    site_id: int
    slug: str
    title: str
    hostname: str
    max_php_workers: int
    admin_email: str
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> str:
        """A name unique across tenants, safe for databases, users, files and pools."""
        from django.conf import settings

        return f"{settings.SITES_KEY_PREFIX}t{self.tenant_id}_s{self.site_id}"


class StepError(Exception):
    """A step failed in a way worth retrying; the message says what went wrong."""


class Runtime(Protocol):
    name: str
    # Provisioning steps, in order. Each is idempotent: running it again converges, never duplicates.
    steps: tuple[str, ...]

    def secret_names(self) -> tuple[str, ...]:
        """Secrets the runtime wants generated before the first step (database password, salts)."""
        ...

    def provision_step(self, step: str, spec: SiteSpec) -> str:
        """Make `step` true for the site; returns a line for the event log."""
        ...

    def wordpress_version(self, spec: SiteSpec) -> str:
        """The WordPress version the site runs."""
        ...

    def status(self, spec: SiteSpec) -> dict[str, bool]:
        """Which of the site's pieces exist right now, by step name."""
        ...

    def missing(self, spec: SiteSpec) -> list[str]:
        """Steps whose result is not there now (the reconciler repairs them)."""
        ...

    def update(self, spec: SiteSpec) -> str:
        """Apply the site's current title and scaling to the running site."""
        ...

    def apply_env(self, spec: SiteSpec) -> str:
        """Hand the site's current env vars and secrets to the running site, without downtime."""
        ...

    def suspend(self, spec: SiteSpec) -> None:
        """The site answers 503 with a clear page; nothing of it is removed."""
        ...

    def resume(self, spec: SiteSpec) -> None: ...

    def delete(self, spec: SiteSpec) -> None:
        """Remove everything the site owned, and nothing else. Idempotent."""
        ...
