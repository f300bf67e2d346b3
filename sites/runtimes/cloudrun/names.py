"""The name of every cloud resource of a site, derived from its key (tenant and site ids, never a
name a tenant chose): a call made for one site can only name that site's resources."""

import hashlib
import re

from sites.spec import SiteSpec

TENANT_LABEL = "aipress-tenant-id"
SITE_LABEL = "aipress-site-id"
_KEY = re.compile(r"^(?P<prefix>.*?)t(?P<tenant>\d+)_s(?P<site>\d+)$")


def _dashed(key: str) -> str:
    """The key in the alphabet of Cloud Run, buckets and service accounts: lowercase and hyphens."""
    return re.sub(r"[^a-z0-9-]+", "-", key.lower()).strip("-")


def labels_of_key(key: str) -> dict[str, str]:
    """The billing export's labels for the site a key names (every resource of it carries them)."""
    found = _KEY.match(key)
    if found is None:
        raise ValueError(f"{key!r} is not a site's key")
    return {TENANT_LABEL: found["tenant"], SITE_LABEL: found["site"], "aipress-managed": "true"}


def labels(spec: SiteSpec) -> dict[str, str]:
    return labels_of_key(spec.key)


def _fitted(name: str, limit: int, prefix: str, key: str) -> str:
    """`name`, or when it is too long a digest of the key: never a cut, which could make two sites'
    names equal (t12_s345 and t12_s34 cut to the same)."""
    return name if len(name) <= limit else f"{prefix}{hashlib.sha256(key.encode()).hexdigest()[: limit - len(prefix)]}"


def service_id(spec: SiteSpec) -> str:
    return _fitted(f"aipress-{_dashed(spec.key)}", 49, "aipress-", spec.key)


def bucket_name(project: str, spec: SiteSpec) -> str:
    """Bucket names are global across Google Cloud: the project's id keeps ours apart from others'."""
    name = f"{project}-{_dashed(spec.key)}-uploads"
    if len(name) > 63:
        name = f"aipress-{hashlib.sha256(name.encode()).hexdigest()[:24]}-uploads"
    return name


def service_account_id(spec: SiteSpec) -> str:
    """6 to 30 characters; a long key (a prefix) falls back to a digest of it."""
    account = f"ap-{_dashed(spec.key)}"
    if len(account) > 30:
        account = f"ap-{hashlib.sha256(spec.key.encode()).hexdigest()[:26]}"
    return account


def service_account_email(project: str, spec: SiteSpec) -> str:
    return f"{service_account_id(spec)}@{project}.iam.gserviceaccount.com"


def database_name(spec: SiteSpec) -> str:
    """Also the name of the database's only user (MySQL allows 32 characters)."""
    return _fitted(f"wp_{spec.key}", 32, "wp_", spec.key)


def secret_id(key: str, name: str) -> str:
    """One Secret Manager secret per site and value (its versions are the value's history)."""
    return f"aipress-{key}-{name}"
