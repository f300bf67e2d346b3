"""The site's Cloud Run service: built from the site's spec, created or patched, its long-running
operation persisted as the step's handle and polled by the worker, never waited for.

What the service should be is fingerprinted in an annotation: a step that finds the fingerprint
already there changes nothing (a re-run after a worker died, a repair), and any change of the site
(title, scaling, env, suspension) changes it, so exactly one revision is rolled per change.
"""

import hashlib
import time

from django.conf import settings
from google.cloud import run_v2
from google.iam.v1 import iam_policy_pb2, policy_pb2

from sites import page_cache
from sites.runtimes.cloudrun import clients, names
from sites.runtimes.cloudrun.config import CloudConfig, config
from sites.runtimes.cloudrun.errors import cloud_call, quietly_missing
from sites.secrets import secretmanager
from sites.spec import ADMIN_PASSWORD_SECRET, SALT_NAMES, Done, Pending, SiteSpec, StepError, StepResult

HANDLE = "run-operation:"
SPEC_ANNOTATION = "aipress.io/spec-sha256"
REDEPLOY_ANNOTATION = "aipress.io/redeployed-at"  # on the template: a new revision of the same spec
ROLLING = "rolling:"  # a handle: how many times a rollout without a known operation was checked
ROLLING_CHECKS = 200
INVOKER = "roles/run.invoker"
PUBLIC = "allUsers"
UPLOADS = "/mnt/uploads"  # where the image expects the bucket (wordpress-runtime/entrypoint.sh)
CLOUDSQL = "/cloudsql"
HEALTH_PATH = "/_aipress/health"
INGRESS_ALL = run_v2.IngressTraffic.INGRESS_TRAFFIC_ALL
INGRESS_SUSPENDED = run_v2.IngressTraffic.INGRESS_TRAFFIC_INTERNAL_ONLY


def service_name(cfg: CloudConfig, spec: SiteSpec) -> str:
    return f"projects/{cfg.project}/locations/{cfg.region}/services/{names.service_id(spec)}"


def _secret_env(name: str, spec: SiteSpec) -> run_v2.EnvVar:
    """A secret by reference to an exact version: the one the platform keeps of the site's own, or
    the site's copy of a tenant secret's value (secretmanager.env_secret). A new value is a new
    version or copy, hence a new revision, and every instance of a revision reads the same value."""
    secret, version = secretmanager.env_secret(spec, name)
    return run_v2.EnvVar(
        name=name,
        value_source=run_v2.EnvVarSource(secret_key_ref=run_v2.SecretKeySelector(secret=secret, version=version)),
    )


def page_cache_env(spec: SiteSpec) -> dict[str, str]:
    """What the site's page cache plugin needs (docs/page-cache.md): how long the CDN may keep an
    anonymous page, and where it asks the platform to empty the site's pages, with the site's purge
    token. The token is plain, not a Secret Manager reference: it is derived (nothing to store) and
    opens nothing but this site's purge, and whoever can read the service can already redeploy it."""
    if not settings.SITES_PAGE_CACHE:
        return {}
    port = f":{settings.PLATFORM_PORT}" if settings.PLATFORM_PORT else ""
    portal = f"{settings.PLATFORM_SCHEME}://{spec.tenant_slug}.{settings.PLATFORM_DOMAIN}{port}"
    return {
        "AIPRESS_PAGE_CACHE_SECONDS": str(settings.SITES_PAGE_CACHE_SECONDS),
        "AIPRESS_CACHE_PURGE_URL": f"{portal}/api/v1/sites/{spec.slug}/cache/purge",
        "AIPRESS_CACHE_PURGE_TOKEN": page_cache.purge_token(spec.tenant_id, spec.site_id),
    }


def desired(spec: SiteSpec, *, admin_password: bool) -> run_v2.Service:
    """The service as the site's spec says; `admin_password` only until WordPress is installed."""
    cfg = config()
    plain = {
        "WP_HOME": f"https://{spec.hostname}",
        # The names WordPress may answer under (wp-config.php): the platform's and verified domains.
        "AIPRESS_HOSTNAMES": ",".join(spec.hostnames),
        "WP_TITLE": spec.title,
        "WP_ADMIN_EMAIL": spec.admin_email or f"admin@{spec.hostname}",
        "DB_NAME": names.database_name(spec),
        "DB_USER": names.database_name(spec),
        "DB_SOCKET": f"{CLOUDSQL}/{cfg.sql_connection_name}",
        "MAX_PHP_WORKERS": str(spec.max_php_workers),
        "DISABLE_WP_CRON": "true",
        **page_cache_env(spec),
    }
    env = [run_v2.EnvVar(name=k, value=v) for k, v in plain.items()]
    secret_names = ["DB_PASSWORD", *SALT_NAMES, *sorted(spec.env)]
    if admin_password:
        secret_names.append(ADMIN_PASSWORD_SECRET)
    env += [_secret_env(name, spec) for name in secret_names]
    labels = names.labels(spec)
    container = run_v2.Container(
        name="wordpress",
        image=cfg.image,
        ports=[run_v2.ContainerPort(container_port=8080)],
        env=env,
        resources=run_v2.ResourceRequirements(limits={"cpu": "1", "memory": "512Mi"}, cpu_idle=True),
        volume_mounts=[
            run_v2.VolumeMount(name="cloudsql", mount_path=CLOUDSQL),
            run_v2.VolumeMount(name="uploads", mount_path=UPLOADS),
        ],
        startup_probe=run_v2.Probe(
            http_get=run_v2.HTTPGetAction(path=HEALTH_PATH), period_seconds=5, failure_threshold=24
        ),
    )
    template = run_v2.RevisionTemplate(
        labels=labels,  # only the revision's labels reach the billing export
        service_account=names.service_account_email(cfg.project, spec),
        scaling=run_v2.RevisionScaling(min_instance_count=0, max_instance_count=cfg.max_instances),
        max_instance_request_concurrency=max(1, spec.max_php_workers),
        execution_environment=run_v2.ExecutionEnvironment.EXECUTION_ENVIRONMENT_GEN2,  # GCS volumes need it
        containers=[container],
        volumes=[
            run_v2.Volume(
                name="cloudsql", cloud_sql_instance=run_v2.CloudSqlInstance(instances=[cfg.sql_connection_name])
            ),
            run_v2.Volume(
                name="uploads",
                gcs=run_v2.GCSVolumeSource(
                    # PHP runs as www-data (33) in the image: the mounted bucket must be its to write.
                    bucket=names.bucket_name(cfg.project, spec),
                    mount_options=["uid=33", "gid=33"],
                ),
            ),
        ],
    )
    service = run_v2.Service(
        labels=labels,
        template=template,
        # Suspended: internal traffic only (the documented settable ingress closest to none) and, with
        # the public invoker removed, no visitor gets in; manual scaling to 0 instances. Resuming puts
        # both back, with the service's bounds explicit (leaving manual scaling must not inherit its 0).
        ingress=INGRESS_SUSPENDED if spec.suspended else INGRESS_ALL,
        scaling=(
            run_v2.ServiceScaling(scaling_mode=run_v2.ServiceScaling.ScalingMode.MANUAL, manual_instance_count=0)
            if spec.suspended
            else run_v2.ServiceScaling(
                scaling_mode=run_v2.ServiceScaling.ScalingMode.AUTOMATIC, max_instance_count=cfg.max_instances
            )
        ),
    )
    # The wire form (set fields only, deterministic): an SDK upgrade that adds fields with defaults
    # does not change it, so it does not redeploy every site.
    wire = run_v2.Service.pb(service).SerializeToString(deterministic=True)
    fingerprint = hashlib.sha256(wire).hexdigest()
    service.annotations[SPEC_ANNOTATION] = fingerprint
    return service


def current(spec: SiteSpec) -> run_v2.Service | None:
    cfg = config()
    with cloud_call(f"looking for the Cloud Run service {names.service_id(spec)}"):
        found: run_v2.Service | None = quietly_missing(
            lambda: clients.services().get_service(name=service_name(cfg, spec))
        )
    return found


def _poll(handle: str, what: str) -> bool:
    """Whether the operation behind `handle` is over; a failed one is a StepError with Google's reason."""
    with cloud_call(f"asking Cloud Run how {what} goes"):
        operation = clients.services().get_operation(request={"name": handle.removeprefix(HANDLE)})
    if not operation.done:
        return False
    if operation.error.code:
        raise StepError(f"Cloud Run could not finish {what}: {operation.error.message}")
    return True


def _deploying(operation: str, detail: str) -> Pending:
    return Pending(handle=HANDLE + operation, detail=detail, poll_after_seconds=config().poll_seconds)


def ensure(spec: SiteSpec, handle: str | None, *, admin_password: bool) -> StepResult:
    """Create or patch the service until it is as the spec says and its revision serves."""
    cfg = config()
    sid = names.service_id(spec)
    if handle and handle.startswith(HANDLE) and not _poll(handle, f"deploying {sid}"):
        return _deploying(handle.removeprefix(HANDLE), f"Cloud Run is deploying {sid}")
    waited = int(handle.removeprefix(ROLLING)) if handle and handle.startswith(ROLLING) else 0
    wanted = desired(spec, admin_password=admin_password)
    found = current(spec)
    client = clients.services()
    fingerprint = wanted.annotations[SPEC_ANNOTATION]
    if found is None or found.annotations.get(SPEC_ANNOTATION) != fingerprint:
        # Whichever operation rolls this revision (an update queued before a tenant secret was given
        # a new value, say), the copies it refers to exist and its account may read them; a revision
        # that refers to a missing secret would fail to start.
        secretmanager.ensure_linked_copies(spec)
    if found is None:
        with cloud_call(f"creating the Cloud Run service {sid}"):
            operation = client.create_service(
                parent=f"projects/{cfg.project}/locations/{cfg.region}", service=wanted, service_id=sid
            )
        return _deploying(operation.operation.name, f"Cloud Run is creating {sid}")
    wanted.name = found.name
    if found.annotations.get(SPEC_ANNOTATION) != fingerprint:
        with cloud_call(f"updating the Cloud Run service {sid}"):
            operation = client.update_service(service=wanted)
        return _deploying(operation.operation.name, f"Cloud Run is rolling out a revision of {sid}")
    if found.reconciling:
        # Rolling out under an operation whose name was lost (a worker killed before saving it).
        if waited >= ROLLING_CHECKS:
            raise StepError(f"The Cloud Run service {sid} is still rolling out after {waited} checks.")
        return Pending(
            handle=f"{ROLLING}{waited + 1}",
            detail=f"Cloud Run is still rolling out {sid}",
            poll_after_seconds=cfg.poll_seconds,
        )
    if found.terminal_condition.state == run_v2.Condition.State.CONDITION_FAILED:
        # Its last revision failed (a retry after a failed deployment): deploy it again, or the
        # unchanged fingerprint would keep the site failed for ever.
        wanted.template.annotations[REDEPLOY_ANNOTATION] = str(time.time_ns())
        secretmanager.ensure_linked_copies(spec)  # a copy deleted meanwhile would fail it again
        with cloud_call(f"deploying the Cloud Run service {sid} again"):
            operation = client.update_service(service=wanted)
        return _deploying(operation.operation.name, f"Cloud Run is deploying {sid} again")
    return Done(f"Cloud Run service {sid}, revision {found.latest_ready_revision.rsplit('/', 1)[-1]}")


def ensure_access(spec: SiteSpec) -> str:
    """Public (allUsers may invoke) while the site serves; nobody while it is suspended."""
    cfg = config()
    resource = service_name(cfg, spec)
    client = clients.services()
    with cloud_call(f"setting who may call {names.service_id(spec)}"):
        policy = client.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(resource=resource))
        others = [b for b in policy.bindings if b.role != INVOKER]
        invokers = [] if spec.suspended else [policy_pb2.Binding(role=INVOKER, members=[PUBLIC])]
        if [(b.role, list(b.members)) for b in policy.bindings if b.role == INVOKER] != [
            (b.role, list(b.members)) for b in invokers
        ]:
            wanted = policy_pb2.Policy(bindings=[*others, *invokers], etag=policy.etag)
            client.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(resource=resource, policy=wanted))
    return "blocked: no one may call it" if spec.suspended else "public: anyone may call it"


def public(spec: SiteSpec) -> bool:
    cfg = config()
    with cloud_call(f"reading who may call {names.service_id(spec)}"):
        policy = clients.services().get_iam_policy(
            request=iam_policy_pb2.GetIamPolicyRequest(resource=service_name(cfg, spec))
        )
    return any(b.role == INVOKER and PUBLIC in b.members for b in policy.bindings)


def remove(spec: SiteSpec, handle: str | None) -> Pending | None:
    """Delete the service; its deletion is an operation, polled like a deployment."""
    sid = names.service_id(spec)
    if handle and handle.startswith(HANDLE):
        if _poll(handle, f"deleting {sid}"):
            return None
        return Pending(handle=handle, detail=f"Cloud Run is deleting {sid}", poll_after_seconds=config().poll_seconds)
    found = current(spec)
    if found is None:
        return None
    with cloud_call(f"deleting the Cloud Run service {sid}"):
        operation = quietly_missing(lambda: clients.services().delete_service(name=found.name))
    if operation is None:
        return None
    return Pending(
        handle=HANDLE + operation.operation.name,
        detail=f"Cloud Run is deleting {sid}",
        poll_after_seconds=config().poll_seconds,
    )
