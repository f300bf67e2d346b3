"""The name of every cloud resource of a site, derived from its key (tenant and site ids, never a
name a tenant chose): a call made for one site can only name that site's resources."""

import hashlib
import re

from sites.spec import SiteSpec

TENANT_LABEL = "aipress-tenant-id"
SITE_LABEL = "aipress-site-id"
# On a site's own copy of a tenant secret's value (sites.secrets.secretmanager): what the sweep of
# copies no longer used lists by, beside the site's labels.
LINKED_LABEL = "aipress-linked"
_KEY = re.compile(r"^(?P<prefix>.*?)t(?P<tenant>\d+)_s(?P<site>\d+)$")
# A tenant's key (`t<tenant id>`, after the prefix): what owns its tenant secrets. Never a site's key:
# those end in `_s<site id>`.
_TENANT_KEY = re.compile(r"^(?P<prefix>.*?)t(?P<tenant>\d+)$")
SECRET_ID_LIMIT = 255  # Secret Manager's longest secret id


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


def is_tenant_key(key: str) -> bool:
    return _TENANT_KEY.match(key) is not None


def labels_of_tenant_key(key: str) -> dict[str, str]:
    """The labels of what a tenant owns beside its sites (its tenant secrets): the tenant's, and no
    site label, so that no sweep of a site's resources by its labels can ever list them."""
    found = _TENANT_KEY.match(key)
    if found is None:
        raise ValueError(f"{key!r} is not a tenant's key")
    return {TENANT_LABEL: found["tenant"], "aipress-managed": "true"}


def tenant_key_of(key: str) -> str:
    """The key of the tenant a site's key belongs to (`x_t5_s9` -> `x_t5`)."""
    found = _KEY.match(key)
    if found is None:
        raise ValueError(f"{key!r} is not a site's key")
    return f"{found['prefix']}t{found['tenant']}"


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


def tenant_secret_prefix(key: str) -> str:
    """What every secret id of a tenant's own secrets starts with. `t5-` never starts a site's
    (`t5_s9-`), nor another tenant's (`t55-`)."""
    labels_of_tenant_key(key)  # a site's key here would file a tenant secret under that site
    return f"aipress-{key}-"


def tenant_secret_id(key: str, name: str) -> str:
    """One Secret Manager secret per tenant secret (its versions are the value's history). Too long,
    the name becomes a digest but the tenant's prefix stays, so the id still says whose it is."""
    prefix = tenant_secret_prefix(key)
    return _fitted(f"{prefix}{name}", SECRET_ID_LIMIT, prefix, f"{key}/{name}")


def linked_secret_id(key: str, name: str, source: str) -> str:
    """The site's own copy of the tenant secret version `source` that its env var `name` takes its
    value from: one secret per value copied, so its only version is 1 and a new value of the tenant
    secret is a new id (hence a new revision). `NAME-<digest>` holds a hyphen, which no env var's name
    (capitals, digits, `_`) nor generated secret's has: it never meets the site's own secret `NAME`.
    Too long, a digest of both, still under the site's prefix (the deletion sweep looks there)."""
    prefix = secret_id(key, "")
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    return _fitted(f"{prefix}{name}-{digest}", SECRET_ID_LIMIT, prefix, f"{name}/{source}")
