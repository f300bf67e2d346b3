"""The protocol every site runtime implements. The pipeline, the reconciler and the services only
see this, so the Cloud Run runtime replaces the local one without changing them."""

from typing import Protocol

from sites.spec import SiteSpec, StepDriver


class Runtime(StepDriver, Protocol):
    """Owns the pipeline's steps that make a site run: database, files, pool, server, install, health."""

    def wordpress_version(self, spec: SiteSpec) -> str:
        """The WordPress version the site runs."""
        ...

    def public_records(self, spec: SiteSpec) -> list[tuple[str, str]]:
        """Where the site's hostnames must point, as DNS records (type, content): the addresses
        of this host, or the hostname of the cloud service."""
        ...
