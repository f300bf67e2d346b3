"""The Cloud Run runtime: each site a Cloud Run service from the image built from wordpress-runtime/,
its database in the shared Cloud SQL instance, its uploads in its own bucket, its secrets in Secret
Manager, running as its own service account; everything labelled with the tenant and site ids.

The pipeline's steps, as this runtime does them (the secret store does `secrets`):

    database   a database in Cloud SQL (an Admin API operation, polled) and its own MySQL user
    files      the site's service account and its uploads bucket
    pool       the Cloud Run service (created or patched; its operation polled), then the site's
               copies of tenant secrets it no longer refers to are deleted
    server     who may call it: everyone, or no one while it is suspended (with ingress and scaling)
    install    WordPress installs itself when its first instance starts; this waits until it answers
               with the site's title, then rolls a revision without the admin password
    health     the service URL answers WordPress
"""

import re
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sites.runtimes import mysql
from sites.runtimes.cloudrun import clients, database, names, service, storage, web
from sites.runtimes.cloudrun.config import config, missing, missing_message
from sites.runtimes.cloudrun.errors import cloud_call
from sites.secrets import secretmanager
from sites.spec import ADMIN_PASSWORD_SECRET, Done, Pending, SiteSpec, StepError, StepResult

WAIT_HANDLE = "wordpress-wait:"
# How long a first instance may take to start and install WordPress before the step fails.
INSTALL_POLLS = 100


@cache
def image_wordpress_version() -> str:
    """The WordPress release the image pins (its Dockerfile's WORDPRESS_VERSION)."""
    dockerfile = Path(settings.BASE_DIR) / "wordpress-runtime" / "Dockerfile"
    found = re.search(r"^ARG WORDPRESS_VERSION=(\S+)", dockerfile.read_text(), re.MULTILINE)
    return found.group(1) if found else "unknown"


class CloudRunRuntime:
    name = "cloudrun"

    def ensure(self, step: str, spec: SiteSpec, handle: str | None) -> StepResult:
        steps = {
            "database": lambda: database.ensure(spec, handle),
            "files": lambda: Done(storage.ensure(spec)),
            "pool": lambda: self._pool(spec, handle),
            "server": lambda: self._server(spec, handle),
            "install": lambda: self._install(spec, handle),
            "health": lambda: Done(self._health(spec)),
        }
        if step not in steps:
            raise StepError(f"The Cloud Run runtime has no step {step!r}.")
        return steps[step]()

    def cache_purge(self, spec: SiteSpec, urls: tuple[str, ...]) -> str:
        """Nothing to empty here (sites.page_cache.CachePurging): instances come and go and keep no
        pages; the CDN in front keeps them, and the DNS provider empties those."""
        return "no page is kept by the Cloud Run service itself"

    def _pool(self, spec: SiteSpec, handle: str | None) -> StepResult:
        """The service as the spec says; once its revision serves, the site's copies of tenant secrets
        that it no longer refers to go (a link removed or replaced, a secret given a new value): only
        now, so the serving revision never loses a value it reads. Every operation that changes a
        link or a linked value runs this step (env), and deletion sweeps whatever is left."""
        deployed = service.ensure(spec, handle, admin_password=ADMIN_PASSWORD_SECRET in spec.secrets)
        if isinstance(deployed, Pending):
            return deployed
        gone = secretmanager.forget_unused_copies(spec)
        return Done(f"{deployed.detail}; {gone} unused copies of secrets removed") if gone else deployed

    def _server(self, spec: SiteSpec, handle: str | None) -> StepResult:
        """Ingress and scaling follow suspension (a new revision), then who may call the service."""
        deployed = service.ensure(spec, handle, admin_password=ADMIN_PASSWORD_SECRET in spec.secrets)
        if isinstance(deployed, Pending):
            return deployed
        return Done(f"{deployed.detail}; {service.ensure_access(spec)}")

    def _uri(self, spec: SiteSpec) -> str:
        found = service.current(spec)
        if found is None or not found.uri:
            raise StepError(f"The Cloud Run service {names.service_id(spec)} has no URL yet.")
        return str(found.uri)

    def _install(self, spec: SiteSpec, handle: str | None) -> StepResult:
        if spec.suspended:
            return Done("suspended: WordPress is not asked")
        if handle and handle.startswith(service.HANDLE):
            return self._without_admin_password(spec, handle)
        polls = int(handle.removeprefix(WAIT_HANDLE)) if handle and handle.startswith(WAIT_HANDLE) else 0
        name = web.site_name(self._uri(spec))
        if name != spec.title:
            if polls >= INSTALL_POLLS:
                seen = "no answer" if name is None else f"the title “{name}”"
                raise StepError(
                    f"WordPress did not come up with the title “{spec.title}” on Cloud Run ({seen} after "
                    f"{INSTALL_POLLS} checks): see the service's logs in Cloud Logging."
                )
            return Pending(
                handle=f"{WAIT_HANDLE}{polls + 1}",
                detail="waiting for WordPress to install itself and answer",
                poll_after_seconds=config().poll_seconds,
            )
        return self._without_admin_password(spec, None)

    def _without_admin_password(self, spec: SiteSpec, handle: str | None) -> StepResult:
        # Installed: the admin password is about to be forgotten, so no revision may refer to it.
        rolled = service.ensure(spec, handle, admin_password=False)
        if isinstance(rolled, Pending):
            return rolled
        return Done(f"WordPress installed and titled “{spec.title}”")

    def _health(self, spec: SiteSpec) -> str:
        uri = self._uri(spec)
        if spec.suspended:
            if not web.refused(uri):
                raise StepError(f"{uri} still serves visitors although the site is suspended.")
            return f"suspended: {uri} turns visitors away"
        return web.check(uri)

    def remove(self, step: str, spec: SiteSpec, handle: str | None) -> Pending | None:
        if step == "pool":
            return service.remove(spec, handle)
        if step == "files":
            storage.remove(spec)
        elif step == "database":
            return database.remove(spec, handle)
        # server (the service's policy), install and health leave nothing of their own behind.
        return None

    def status(self, step: str, spec: SiteSpec) -> bool:
        if step == "database":
            return database.present(spec)
        if step == "files":
            return storage.present(spec)
        if step == "pool":
            return service.current(spec) is not None
        if step == "server":
            return service.current(spec) is not None and service.public(spec) != spec.suspended
        return True

    def wordpress_version(self, spec: SiteSpec) -> str:
        return image_wordpress_version()

    def public_records(self, spec: SiteSpec) -> list[tuple[str, str]]:
        # The service's own run.app name; the DNS provider's edge (Cloudflare, proxied) sits in front.
        return [("CNAME", urlsplit(self._uri(spec)).hostname or "")]

    def check(self) -> str:
        if missing():
            raise ImproperlyConfigured(missing_message())
        if settings.DRIVERS.get("secrets") != "secretmanager":
            raise ImproperlyConfigured(
                "SITES_RUNTIME=cloudrun keeps sites' secrets in Secret Manager: set SITES_SECRETS=secretmanager."
            )
        cfg = config()
        with cloud_call(f"reading the Cloud SQL instance {cfg.sql_instance}"):
            instance = clients.sqladmin().instances().get(project=cfg.project, instance=cfg.sql_instance).execute()
        with cloud_call("listing Cloud Run services"):
            next(iter(clients.services().list_services(parent=f"projects/{cfg.project}/locations/{cfg.region}")), None)
        with database.admin(cfg) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            version = mysql.one_value(cursor)
        return (
            f"Cloud Run in {cfg.project}/{cfg.region}, Cloud SQL {cfg.sql_instance} "
            f"({instance.get('databaseVersion', '?')}, users made over MySQL {version}), image {cfg.image}"
        )
