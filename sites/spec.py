"""What every driver that does a step of a site's pipeline sees and answers."""

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SiteSpec:
    """Everything a driver needs to know about one site, revealed secrets included (memory only)."""

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
    # What the secret store keeps for each secret and env var (not the values): a cloud runtime
    # refers to exactly these versions, so a new value rolls a new revision.
    references: dict[str, str] = field(default_factory=dict, repr=False)
    # Desired: the site answers a "suspended" page instead of WordPress.
    suspended: bool = False
    # The runtime the site was made on (sites.drivers.RUNTIME's short name).
    runtime: str = "local"
    # Its tenant's own domains that are verified: it answers on them too, beside `hostname`.
    aliases: tuple[str, ...] = ()

    @property
    def hostnames(self) -> tuple[str, ...]:
        return (self.hostname, *self.aliases)

    @property
    def key(self) -> str:
        """A name unique across tenants, safe for databases, users, files and pools."""
        from django.conf import settings

        return f"{settings.SITES_KEY_PREFIX}t{self.tenant_id}_s{self.site_id}"


class StepError(Exception):
    """A step failed; the message says what went wrong, for the person who asked."""


@dataclass(frozen=True)
class Done:
    """The step's piece exists as the spec says."""

    detail: str


@dataclass(frozen=True)
class Pending:
    """Long work was started (a cloud operation): the worker asks again with `handle` later."""

    handle: str
    detail: str
    poll_after_seconds: float = 5.0


StepResult = Done | Pending


class StepDriver(Protocol):
    """A driver that owns some steps of the pipeline (sites.pipeline.STEPS binds each to a concern).

    Every method is idempotent: ensuring twice converges, removing twice is quiet.
    """

    name: str

    def ensure(self, step: str, spec: SiteSpec, handle: str | None) -> StepResult:
        """Make `step`'s piece exist as `spec` says. `handle` is what a previous Pending returned."""
        ...

    def remove(self, step: str, spec: SiteSpec, handle: str | None) -> "Pending | None":
        """Remove `step`'s piece of this site, and nothing of any other site. Long work (a cloud
        deletion) answers Pending, and the worker asks again with its handle later."""
        ...

    def status(self, step: str, spec: SiteSpec) -> bool:
        """Whether `step`'s piece exists now (the reconciler repairs what does not)."""
        ...

    def check(self) -> str:
        """Whether what the driver drives answers; a line for people, or an exception."""
        ...


# WordPress's keys and salts: generated once per site, kept by the secret store, stable forever
# (changing them signs every visitor out).
SALT_NAMES = (
    "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
    "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT",
)  # fmt: skip
# The secrets the platform generates for every site when it is requested.
GENERATED_SECRETS = ("DB_PASSWORD", *SALT_NAMES)
# Shown once to the person who asked for the site, kept only until WordPress is installed with it.
ADMIN_PASSWORD_SECRET = "WP_ADMIN_PASSWORD"  # noqa: S105 - the name of a secret, not a secret
