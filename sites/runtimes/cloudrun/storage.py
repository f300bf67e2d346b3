"""The `files` step on Google Cloud: the site's service account and its uploads bucket (the only
place a site writes; the code is baked into the image). Uniform bucket-level access, the billing
labels patched on after creation (so a re-run that finds the bucket converges them too), and
objectAdmin for the site's own service account alone."""

from google.api_core import exceptions as api_errors
from google.cloud.storage import Bucket

from sites.runtimes.cloudrun import clients, identity, names
from sites.runtimes.cloudrun.config import config
from sites.runtimes.cloudrun.errors import cloud_call
from sites.spec import SiteSpec

OBJECT_ADMIN = "roles/storage.objectAdmin"
ENFORCED = "enforced"


def _bucket(spec: SiteSpec) -> Bucket:
    cfg = config()
    return clients.storage_client().bucket(names.bucket_name(cfg.project, spec))


def ensure(spec: SiteSpec) -> str:
    cfg = config()
    email = identity.ensure(spec)
    identity.grant_sql_access(spec)
    bucket = _bucket(spec)
    with cloud_call(f"creating the uploads bucket {bucket.name}"):
        try:
            bucket.reload()
        except api_errors.NotFound:
            bucket.iam_configuration.uniform_bucket_level_access_enabled = True
            try:
                bucket = clients.storage_client().create_bucket(bucket, location=cfg.region)
            except api_errors.Conflict:
                bucket.reload()  # made meanwhile by a worker that died before recording it
        wanted = names.labels(spec)
        iam_configuration = bucket.iam_configuration
        if (
            bucket.labels != wanted
            or not iam_configuration.uniform_bucket_level_access_enabled
            or iam_configuration.public_access_prevention != ENFORCED
        ):
            bucket.labels = wanted
            iam_configuration.uniform_bucket_level_access_enabled = True
            # Uploads are served by WordPress, never straight from the bucket: nobody may make it public.
            iam_configuration.public_access_prevention = ENFORCED
            bucket.patch()
        policy = bucket.get_iam_policy(requested_policy_version=3)
        member = f"serviceAccount:{email}"
        bindings = [b for b in policy.bindings if b["role"] != OBJECT_ADMIN]
        bindings.append({"role": OBJECT_ADMIN, "members": {member}})
        if [b for b in policy.bindings if b["role"] == OBJECT_ADMIN] != [{"role": OBJECT_ADMIN, "members": {member}}]:
            policy.bindings = bindings
            bucket.set_iam_policy(policy)
    return f"uploads bucket {bucket.name}, writable by {email} alone; {email} may reach {cfg.sql_instance}"


def present(spec: SiteSpec) -> bool:
    bucket = _bucket(spec)
    with cloud_call(f"looking for the uploads bucket {bucket.name}"):
        return bool(bucket.exists()) and identity.present(spec) and identity.has_sql_access(spec)


def remove(spec: SiteSpec) -> None:
    bucket = _bucket(spec)
    with cloud_call(f"deleting the uploads bucket {bucket.name}"):
        try:
            # The site's uploads go with it: a bucket must be empty to be deleted.
            for blob in clients.storage_client().list_blobs(bucket.name):
                blob.delete()
            bucket.delete()
        except api_errors.NotFound:
            pass
    identity.revoke_sql_access(spec)
    identity.remove(spec)
