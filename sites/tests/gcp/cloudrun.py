"""A fake of the Cloud Run Admin API v2 (services, their long-running operations and IAM policies), plus
the "container" each Ready service runs, mimicking the platform's WordPress image."""

from __future__ import annotations

import copy
import html
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from google.cloud import run_v2
from google.longrunning import operations_pb2  # type: ignore[import-untyped]  # no stubs installed

from sites.tests.gcp.base import (
    GRPC_CODES,
    ApiError,
    FakeApi,
    Handler,
    Request,
    Response,
    already_exists,
    check_labels,
    check_policy,
    check_proto,
    enums_as_ints,
    invalid,
    members_with,
    not_found,
    paginate,
    policy_etag,
)

if TYPE_CHECKING:
    from sites.tests.gcp.secretmanager import FakeSecretManager

SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
# Importing the SDK's messages registers them, so Any fields (an operation's response) resolve too.
SERVICE_MESSAGE = run_v2.Service.pb().DESCRIPTOR
OPERATION_MESSAGE = operations_pb2.Operation.DESCRIPTOR
SERVICE_ID = re.compile(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$")
REQUIRED_TEMPLATE_LABELS = ("aipress-tenant-id", "aipress-site-id")
# Set by Cloud Run itself; a container may not override them.
RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"})
CLOUD_SQL_INSTANCE = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]:[a-z]+-[a-z]+[0-9]+:[a-z][-a-z0-9]{0,96}$")
BUCKET = re.compile(r"^[a-z0-9][-a-z0-9_.]{1,61}[a-z0-9]$")
SECRET_REF = re.compile(r"^([A-Za-z0-9_-]{1,255}|projects/[^/]+/secrets/[A-Za-z0-9_-]{1,255})$")
SECRET_VERSION = re.compile(r"^(latest|[1-9][0-9]*|[A-Za-z][A-Za-z0-9_-]{0,62})$")
EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
DURATION = re.compile(r"^(\d+)(\.\d{1,9})?s$")
# Fields Cloud Run computes; what a client sends there is ignored.
OUTPUT_ONLY = frozenset(
    {
        "uid",
        "generation",
        "createTime",
        "updateTime",
        "deleteTime",
        "expireTime",
        "creator",
        "lastModifier",
        "observedGeneration",
        "terminalCondition",
        "conditions",
        "latestReadyRevision",
        "latestCreatedRevision",
        "trafficStatuses",
        "uri",
        "urls",
        "satisfiesPzs",
        "reconciling",
    }
)
# Roles a Cloud Run service's policy accepts (besides owner/editor/viewer).
RUN_ROLES = ("roles/run.",)
DEFAULT_PROJECT_NUMBER = "123456789012"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Service:
    resource: dict[str, Any]
    policy: dict[str, Any] = field(default_factory=lambda: {"version": 1, "bindings": []})
    policy_generation: int = 1
    # The first container's env of the latest revision that became ready: what the "container" sees.
    ready_env: list[dict[str, Any]] | None = None
    revisions: set[str] = field(default_factory=set)
    deleting: bool = False


@dataclass
class _Operation:
    name: str
    service_name: str
    kind: str  # create, update, delete
    metadata: dict[str, Any]
    polls: int = 0
    done: bool = False
    error: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    injected_error: tuple[str, str] | None = None


class FakeCloudRun(FakeApi):
    """Cloud Run Admin API v2, as `run_v2.ServicesClient(transport="rest")` speaks it.

    Platform rule (not Cloud Run's): a service's `template.labels` must carry `aipress-tenant-id` and
    `aipress-site-id`, so every revision can be traced to its tenant and site; a create or update without
    them is refused with 400.

    Long-running operations answer `done: false` to the first `polls_before_done` polls and then finish;
    a service is Ready (terminalCondition CONDITION_SUCCEEDED, `uri`, `latestReadyRevision`) only once its
    operation has been seen done. When a FakeSecretManager is given, finishing a revision also checks what
    Cloud Run checks when it starts one: every secret an env var refers to exists, has the version, and
    the revision's service account holds roles/secretmanager.secretAccessor on it (set on the secret:
    project-level grants are not modelled). Otherwise the operation fails as Cloud Run's does.

    A Ready service's `uri` is `{endpoint}/run/{service-id}` on this same server and stands for the
    container: see `serve`."""

    error_domain = "run.googleapis.com"

    def __init__(
        self,
        *,
        polls_before_done: int = 1,
        secret_manager: FakeSecretManager | None = None,
        project_number: str = DEFAULT_PROJECT_NUMBER,
    ) -> None:
        self.polls_before_done = polls_before_done
        self.secret_manager = secret_manager
        self.project_number = project_number
        self.services: dict[str, _Service] = {}
        self.operations: dict[str, _Operation] = {}
        self._operation_failures: list[tuple[str, str]] = []
        super().__init__()

    def routes(self) -> list[tuple[str, str, Handler]]:
        parent = r"/v2/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
        service = parent + r"/services/(?P<service_id>[^/:]+)"
        return [
            ("POST", parent + "/services", self._create),
            ("GET", parent + "/services", self._list),
            ("GET", service, self._get),
            ("PATCH", service, self._update),
            ("DELETE", service, self._delete),
            ("POST", service + ":setIamPolicy", self._set_iam_policy),
            ("GET", service + ":getIamPolicy", self._get_iam_policy),
            ("GET", parent + r"/operations/(?P<operation_id>[^/:]+)", self._get_operation),
        ]

    # For tests

    def fail_next_operation(self, message: str, *, status: str = "FAILED_PRECONDITION") -> None:
        """The next operation started finishes with this error instead of making its revision ready."""
        with self.lock:
            self._operation_failures.append((status, message))

    def service(self, name_or_id: str) -> dict[str, Any] | None:
        """The stored resource, by full name or service id."""
        with self.lock:
            for name, svc in self.services.items():
                if name == name_or_id or name.rsplit("/", 1)[-1] == name_or_id:
                    return svc.resource
            return None

    # Services

    def _create(self, request: Request, project: str, location: str) -> Response:
        service_id = request.param("serviceId") or ""
        if not SERVICE_ID.fullmatch(service_id):
            raise invalid(
                "service_id",
                f"Invalid value specified for service_id '{service_id}': it must contain only lowercase letters, "
                "digits and hyphens, begin with a letter, not end with a hyphen and be at most 49 characters.",
            )
        body = self._check_body(request.body)
        self._check_service(body, service_id)
        name = f"projects/{project}/locations/{location}/services/{service_id}"
        if name in self.services:
            raise already_exists(f"Resource '{service_id}' already exists.")
        if request.flag("validateOnly"):
            return self._operation_response(request, self._new_operation(name, "create", body, validate_only=True))
        now = _now()
        resource: dict[str, Any] = {
            **body,
            "name": name,
            "uid": str(uuid.uuid4()),
            "generation": "1",
            "createTime": now,
            "updateTime": now,
            "creator": "anonymous@fake.test",
            "lastModifier": "anonymous@fake.test",
            "etag": f'"{uuid.uuid4().hex[:16]}"',
        }
        resource.setdefault("ingress", "INGRESS_TRAFFIC_ALL")
        resource.setdefault("launchStage", "GA")
        resource.setdefault("traffic", [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}])
        svc = _Service(resource)
        self._new_revision(svc, service_id, resource)
        self.services[name] = svc
        return self._operation_response(request, self._new_operation(name, "create", resource))

    def _get(self, request: Request, project: str, location: str, service_id: str) -> Response:
        self._time_passes(f"projects/{project}/locations/{location}/services/{service_id}")
        svc = self._find(project, location, service_id)
        return self._resource_response(request, svc.resource)

    def _time_passes(self, service_name: str) -> None:
        """The fake's clock is being asked: reading a service counts as a poll of its unfinished
        operations, so a caller that lost an operation's name (a worker killed before it saved it)
        still sees the service become ready, as it would on Cloud Run with time."""
        for operation in list(self.operations.values()):
            if operation.service_name == service_name and not operation.done:
                operation.polls += 1
                if operation.polls > self.polls_before_done:
                    self._finish(operation)

    def _list(self, request: Request, project: str, location: str) -> Response:
        prefix = f"projects/{project}/locations/{location}/services/"
        found = [s.resource for n, s in sorted(self.services.items()) if n.startswith(prefix)]
        page, token = paginate(found, request)
        body: dict[str, Any] = {"services": [self._render(request, r) for r in page]}
        if token:
            body["nextPageToken"] = token
        return Response(200, body)

    def _update(self, request: Request, project: str, location: str, service_id: str) -> Response:
        name = f"projects/{project}/locations/{location}/services/{service_id}"
        if name not in self.services or self.services[name].deleting:
            if request.flag("allowMissing") and name not in self.services:
                request.query["serviceId"] = [service_id]
                return self._create(request, project, location)
            raise self._missing(project, location, service_id)
        svc = self.services[name]
        body = self._check_body(request.body)
        sent_name = (request.body or {}).get("name")
        if sent_name and sent_name != name:
            raise invalid("service.name", f"service.name '{sent_name}' does not match the URL ({name}).")
        if body.get("etag") and body["etag"] != svc.resource["etag"]:
            raise ApiError(409, "The etag does not match the current service; read it again.", status="ABORTED")
        mask = [p for p in (request.param("updateMask") or "").split(",") if p]
        # Work on a copy: a refused update leaves the service as it was.
        resource = copy.deepcopy(svc.resource)
        settable = {k for k in body if k not in ("name", "etag")}
        if mask:
            # Only the masked top-level fields change; a masked field absent from the body is cleared.
            for path in mask:
                top = path.split(".", 1)[0]
                if top in body:
                    resource[top] = body[top]
                else:
                    resource.pop(top, None)
        else:
            # Without a mask the service is replaced by what was sent.
            for key in [k for k in resource if k not in OUTPUT_ONLY and k not in ("name", "etag")]:
                if key not in settable:
                    resource.pop(key)
            resource.update({k: body[k] for k in settable})
        resource.setdefault("ingress", "INGRESS_TRAFFIC_ALL")
        self._check_service(resource, service_id)
        if request.flag("validateOnly"):
            return self._operation_response(request, self._new_operation(name, "update", resource, True))
        resource["generation"] = str(int(resource["generation"]) + 1)
        resource["updateTime"] = _now()
        resource["etag"] = f'"{uuid.uuid4().hex[:16]}"'
        self._new_revision(svc, service_id, resource)
        svc.resource = resource
        return self._operation_response(request, self._new_operation(name, "update", resource))

    def _delete(self, request: Request, project: str, location: str, service_id: str) -> Response:
        svc = self._find(project, location, service_id)
        etag = request.param("etag")
        if etag and etag != svc.resource["etag"]:
            raise ApiError(409, "The etag does not match the current service; read it again.", status="ABORTED")
        if request.flag("validateOnly"):
            return self._operation_response(request, self._new_operation(svc.resource["name"], "delete", {}, True))
        svc.deleting = True
        svc.resource["deleteTime"] = _now()
        svc.resource["reconciling"] = True
        return self._operation_response(request, self._new_operation(svc.resource["name"], "delete", svc.resource))

    def _find(self, project: str, location: str, service_id: str) -> _Service:
        svc = self.services.get(f"projects/{project}/locations/{location}/services/{service_id}")
        if svc is None:
            raise self._missing(project, location, service_id)
        return svc

    @staticmethod
    def _missing(project: str, location: str, service_id: str) -> ApiError:
        return not_found(
            f"Resource '{service_id}' of kind 'SERVICE' in region '{location}' in project '{project}' does not exist."
        )

    @staticmethod
    def _new_revision(svc: _Service, service_id: str, resource: dict[str, Any]) -> None:
        template = resource["template"]
        revision = template.get("revision") or (
            f"{service_id}-{int(resource['generation']):05d}-{uuid.uuid4().hex[:3]}"
        )
        if revision in svc.revisions:
            raise already_exists(f"Revision named '{revision}' with different configuration already exists.")
        svc.revisions.add(revision)
        resource["latestCreatedRevision"] = f"{resource['name']}/revisions/{revision}"
        resource["reconciling"] = True
        resource["observedGeneration"] = resource["generation"]
        resource["terminalCondition"] = {
            "type": "Ready",
            "state": "CONDITION_RECONCILING",
            "lastTransitionTime": _now(),
        }
        resource["conditions"] = [
            {"type": "RoutesReady", "state": "CONDITION_RECONCILING"},
            {"type": "ConfigurationsReady", "state": "CONDITION_RECONCILING"},
        ]

    # Validation

    @staticmethod
    def _check_body(body: Any) -> dict[str, Any]:
        service = check_proto(body if body is not None else {}, SERVICE_MESSAGE, "service")
        return {k: v for k, v in service.items() if k not in OUTPUT_ONLY}

    def _check_service(self, service: dict[str, Any], service_id: str) -> None:  # noqa: PLR0912 - one rule per branch
        check_labels(service.get("labels"), "service.labels")
        if service.get("ingress") == "INGRESS_TRAFFIC_UNSPECIFIED":
            service["ingress"] = "INGRESS_TRAFFIC_ALL"
        if service.get("launchStage") in ("UNIMPLEMENTED", "PRELAUNCH"):
            raise invalid("service.launch_stage", f"Launch stage {service['launchStage']} is not supported.")
        self._check_scaling(service.get("scaling"), "service.scaling", manual=True)
        template = service.get("template")
        if not template:
            raise invalid("service.template", "service.template: Required field not set.")
        labels = check_labels(template.get("labels"), "service.template.labels")
        missing = [key for key in REQUIRED_TEMPLATE_LABELS if key not in labels]
        if missing:
            raise invalid(
                "service.template.labels",
                f"service.template.labels must carry {', '.join(missing)} (platform rule: every revision names "
                "its tenant and site).",
            )
        revision = template.get("revision")
        if revision and not (revision.startswith(f"{service_id}-") and SERVICE_ID.fullmatch(revision)):
            raise invalid(
                "service.template.revision",
                f"Revision name '{revision}' must begin with the service name '{service_id}-'.",
            )
        self._check_scaling(template.get("scaling"), "service.template.scaling", manual=False)
        concurrency = template.get("maxInstanceRequestConcurrency", 0)
        if not 0 <= concurrency <= 1000:
            raise invalid(
                "service.template.max_instance_request_concurrency",
                "max_instance_request_concurrency must be between 1 and 1000.",
            )
        timeout = template.get("timeout")
        if timeout is not None:
            match = DURATION.fullmatch(timeout)
            if not match or not 1 <= int(match.group(1)) <= 3600:
                raise invalid("service.template.timeout", "timeout must be between 1s and 3600s.")
        account = template.get("serviceAccount")
        if account is not None and not EMAIL.fullmatch(account):
            raise invalid("service.template.service_account", f"Invalid service account '{account}'.")
        volumes = self._check_volumes(template.get("volumes", []))
        containers = template.get("containers") or []
        if not containers:
            raise invalid(
                "service.template.containers", "service.template.containers: at least one container is required."
            )
        if len(containers) > 10:
            raise invalid("service.template.containers", "A revision may have at most 10 containers.")
        if len(containers) > 1 and sum(1 for c in containers if c.get("ports")) != 1:
            raise invalid(
                "service.template.containers",
                "Exactly one container of a multi-container revision must specify a port (the ingress container).",
            )
        for index, container in enumerate(containers):
            self._check_container(container, f"service.template.containers[{index}]", volumes)
        self._check_traffic(service.get("traffic", []), service_id)

    @staticmethod
    def _check_scaling(scaling: dict[str, Any] | None, where: str, *, manual: bool) -> None:
        if not scaling:
            return
        low = scaling.get("minInstanceCount", 0)
        high = scaling.get("maxInstanceCount", 0)
        if low < 0:
            raise invalid(f"{where}.min_instance_count", f"{where}.min_instance_count must be >= 0, got {low}.")
        if high < 0:
            raise invalid(f"{where}.max_instance_count", f"{where}.max_instance_count must be >= 0, got {high}.")
        if high and high < low:
            raise invalid(
                f"{where}.max_instance_count",
                f"{where}.max_instance_count ({high}) must be greater than or equal to min_instance_count ({low}).",
            )
        if manual and scaling.get("manualInstanceCount", 0) < 0:
            raise invalid(f"{where}.manual_instance_count", f"{where}.manual_instance_count must be >= 0.")

    @staticmethod
    def _check_volumes(volumes: list[dict[str, Any]]) -> dict[str, str]:
        """Volume names to their kind (cloudSqlInstance, gcs, secret, emptyDir, nfs)."""
        kinds: dict[str, str] = {}
        for index, volume in enumerate(volumes):
            where = f"service.template.volumes[{index}]"
            name = volume.get("name", "")
            if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name):
                raise invalid(f"{where}.name", f"{where}.name '{name}' is not a valid volume name.")
            if name in kinds:
                raise invalid(f"{where}.name", f"Volume name '{name}' is used twice.")
            sources = [k for k in ("secret", "cloudSqlInstance", "emptyDir", "nfs", "gcs") if k in volume]
            if not sources:
                raise invalid(
                    where, f"{where}: a volume needs a source (secret, cloudSqlInstance, emptyDir, nfs, gcs)."
                )
            kind = sources[0]
            if kind == "cloudSqlInstance":
                instances = volume["cloudSqlInstance"].get("instances", [])
                if not instances:
                    raise invalid(
                        f"{where}.cloud_sql_instance.instances", "At least one Cloud SQL instance is required."
                    )
                for instance in instances:
                    if not CLOUD_SQL_INSTANCE.fullmatch(instance):
                        raise invalid(
                            f"{where}.cloud_sql_instance.instances",
                            f"Cloud SQL instance '{instance}' must be of the form project:region:instance.",
                        )
            elif kind == "gcs":
                bucket = volume["gcs"].get("bucket", "")
                if not BUCKET.fullmatch(bucket) or ".." in bucket:
                    raise invalid(f"{where}.gcs.bucket", f"Invalid Cloud Storage bucket name '{bucket}'.")
            elif kind == "secret" and not SECRET_REF.fullmatch(volume["secret"].get("secret", "")):
                raise invalid(f"{where}.secret.secret", "A secret volume needs the name of a secret.")
            kinds[name] = kind
        return kinds

    @staticmethod
    def _check_container(container: dict[str, Any], where: str, volumes: dict[str, str]) -> None:  # noqa: PLR0912
        if not container.get("image"):
            raise invalid(f"{where}.image", f"{where}.image: Required field not set.")
        ports = container.get("ports", [])
        if len(ports) > 1:
            raise invalid(f"{where}.ports", "A container may expose at most one port.")
        for port in ports:
            if not 1 <= port.get("containerPort", 8080) <= 65535:
                raise invalid(f"{where}.ports", f"Invalid container port {port.get('containerPort')}.")
        names: set[str] = set()
        for index, env in enumerate(container.get("env", [])):
            env_where = f"{where}.env[{index}]"
            name = env.get("name", "")
            if not name or "=" in name:
                raise invalid(f"{env_where}.name", f"{env_where}.name: an env var needs a name without '='.")
            if name in RESERVED_ENV:
                raise invalid(f"{env_where}.name", f"The following reserved env names were provided: {name}.")
            if name in names:
                raise invalid(f"{env_where}.name", f"Env var '{name}' is set more than once.")
            names.add(name)
            if "valueSource" in env:
                ref = env["valueSource"].get("secretKeyRef")
                if ref is None:
                    raise invalid(f"{env_where}.value_source", f"{env_where}.value_source needs a secret_key_ref.")
                if not SECRET_REF.fullmatch(ref.get("secret", "")):
                    raise invalid(
                        f"{env_where}.value_source.secret_key_ref.secret",
                        f"Invalid secret '{ref.get('secret', '')}': a secret id, or projects/P/secrets/S.",
                    )
                if "version" in ref and not SECRET_VERSION.fullmatch(ref["version"]):
                    raise invalid(
                        f"{env_where}.value_source.secret_key_ref.version",
                        f"Invalid secret version '{ref['version']}': 'latest', a number or an alias.",
                    )
        paths: set[str] = set()
        for index, mount in enumerate(container.get("volumeMounts", [])):
            mount_where = f"{where}.volume_mounts[{index}]"
            name = mount.get("name", "")
            if name not in volumes:
                raise invalid(
                    f"{mount_where}.name", f"Volume '{name}' is mounted but not declared in template.volumes."
                )
            path = mount.get("mountPath", "")
            if volumes[name] == "cloudSqlInstance":
                if path not in ("", "/cloudsql"):
                    raise invalid(f"{mount_where}.mount_path", "Cloud SQL volumes must be mounted at /cloudsql.")
            elif not path.startswith("/") or ":" in path:
                raise invalid(f"{mount_where}.mount_path", f"mount_path '{path}' must be absolute and without ':'.")
            if path in paths:
                raise invalid(f"{mount_where}.mount_path", f"Two volumes are mounted at '{path}'.")
            paths.add(path)

    @staticmethod
    def _check_traffic(traffic: list[dict[str, Any]], service_id: str) -> None:
        if not traffic:
            return
        if sum(t.get("percent", 0) for t in traffic) != 100:
            raise invalid("service.traffic", "Traffic percentages must add up to 100.")
        for index, target in enumerate(traffic):
            if target.get("type") == "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION" and not target.get(
                "revision", ""
            ).startswith(f"{service_id}-"):
                raise invalid(
                    f"service.traffic[{index}].revision", "A revision target needs a revision of this service."
                )

    # Operations

    def _new_operation(
        self, service_name: str, kind: str, resource: dict[str, Any], validate_only: bool = False
    ) -> _Operation:
        project, location = service_name.split("/")[1], service_name.split("/")[3]
        name = f"projects/{project}/locations/{location}/operations/{uuid.uuid4()}"
        operation = _Operation(name, service_name, kind, {"@type": SERVICE_TYPE, **resource})
        if validate_only:
            operation.done = True
            operation.response = {"@type": SERVICE_TYPE, **resource}
            return operation
        if self._operation_failures:
            operation.injected_error = self._operation_failures.pop(0)
        self.operations[name] = operation
        return operation

    def _get_operation(self, request: Request, project: str, location: str, operation_id: str) -> Response:
        name = f"projects/{project}/locations/{location}/operations/{operation_id}"
        operation = self.operations.get(name)
        if operation is None:
            raise not_found(f"Operation {name} not found.")
        if not operation.done:
            operation.polls += 1
            if operation.polls > self.polls_before_done:
                self._finish(operation)
        return self._operation_response(request, operation)

    def _finish(self, operation: _Operation) -> None:
        operation.done = True
        svc = self.services.get(operation.service_name)
        if svc is None:
            operation.error = {"code": GRPC_CODES["NOT_FOUND"], "message": f"{operation.service_name} was deleted."}
            return
        resource = svc.resource
        if operation.kind == "delete":
            del self.services[operation.service_name]
            operation.response = {"@type": SERVICE_TYPE, **resource}
            return
        failure = operation.injected_error or self._revision_failure(resource)
        now = _now()
        if failure is not None:
            status, message = failure
            resource["reconciling"] = False
            resource["terminalCondition"] = {
                "type": "Ready",
                "state": "CONDITION_FAILED",
                "message": message,
                "lastTransitionTime": now,
            }
            operation.error = {"code": GRPC_CODES.get(status, 2), "message": message}
            return
        revision = resource["latestCreatedRevision"]
        uri = f"{self.endpoint}/run/{operation.service_name.rsplit('/', 1)[-1]}"
        resource.update(
            {
                "reconciling": False,
                "latestReadyRevision": revision,
                "uri": uri,
                "urls": [uri],
                "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED", "lastTransitionTime": now},
                "conditions": [
                    {"type": "RoutesReady", "state": "CONDITION_SUCCEEDED", "lastTransitionTime": now},
                    {"type": "ConfigurationsReady", "state": "CONDITION_SUCCEEDED", "lastTransitionTime": now},
                ],
                "trafficStatuses": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100, "uri": uri}],
            }
        )
        svc.ready_env = [dict(e) for e in resource["template"]["containers"][0].get("env", [])]
        operation.response = {"@type": SERVICE_TYPE, **resource}

    def _revision_failure(self, resource: dict[str, Any]) -> tuple[str, str] | None:
        """What stops a revision from starting: a secret it reads is missing or not readable by it."""
        if self.secret_manager is None:
            return None
        project = resource["name"].split("/")[1]
        template = resource["template"]
        account = template.get("serviceAccount") or f"{self.project_number}-compute@developer.gserviceaccount.com"
        revision = resource["latestCreatedRevision"].rsplit("/", 1)[-1]
        for c_index, container in enumerate(template["containers"]):
            for e_index, env in enumerate(container.get("env", [])):
                ref = env.get("valueSource", {}).get("secretKeyRef")
                if ref is None:
                    continue
                secret = ref["secret"] if "/" in ref["secret"] else f"projects/{project}/secrets/{ref['secret']}"
                version = ref.get("version", "latest")
                where = f"spec.template.spec.containers[{c_index}].env[{e_index}].value_from.secret_key_ref.name"
                problem = self.secret_manager.access_problem(secret, version, f"serviceAccount:{account}")
                if problem == "not-found":
                    return (
                        "FAILED_PRECONDITION",
                        f"Revision '{revision}' is not ready and cannot serve traffic. {where}: "
                        f"Secret {secret}/versions/{version} was not found",
                    )
                if problem == "denied":
                    return (
                        "FAILED_PRECONDITION",
                        f"Revision '{revision}' is not ready and cannot serve traffic. {where}: Permission denied "
                        f"on secret: {secret}/versions/{version} for Revision service account {account}. The "
                        "service account used must be granted the 'Secret Manager Secret Accessor' role "
                        "(roles/secretmanager.secretAccessor) at the secret, project or higher level.",
                    )
        return None

    def _operation_response(self, request: Request, operation: _Operation) -> Response:
        body: dict[str, Any] = {"name": operation.name, "metadata": operation.metadata, "done": operation.done}
        if operation.error is not None:
            body["error"] = operation.error
        elif operation.response is not None:
            body["response"] = operation.response
        if request.int_enums:
            body = enums_as_ints(body, OPERATION_MESSAGE)
        return Response(200, body)

    def _render(self, request: Request, resource: dict[str, Any]) -> dict[str, Any]:
        if request.int_enums:
            return enums_as_ints(resource, SERVICE_MESSAGE)
        return resource

    def _resource_response(self, request: Request, resource: dict[str, Any]) -> Response:
        return Response(200, self._render(request, resource))

    # IAM

    def _set_iam_policy(self, request: Request, project: str, location: str, service_id: str) -> Response:
        svc = self._find(project, location, service_id)
        body = request.body or {}
        unknown = set(body) - {"policy", "updateMask"}
        if unknown:
            key = sorted(unknown)[0]
            raise invalid(key, f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
        policy = body.get("policy")
        etag = policy.get("etag") if isinstance(policy, dict) else None
        checked = check_policy(policy, RUN_ROLES, svc.resource["name"])
        if etag and etag != policy_etag(svc.policy_generation):
            raise ApiError(
                409,
                "There were concurrent policy changes. Please retry the whole read-modify-write with "
                "exponential backoff.",
                status="ABORTED",
            )
        svc.policy = checked
        svc.policy_generation += 1
        return Response(200, {**svc.policy, "etag": policy_etag(svc.policy_generation)})

    def _get_iam_policy(self, request: Request, project: str, location: str, service_id: str) -> Response:
        svc = self._find(project, location, service_id)
        return Response(200, {**svc.policy, "etag": policy_etag(svc.policy_generation)})

    # The "container" behind a Ready service's uri

    def raw_route(self, request: Request) -> Response | None:
        match = re.fullmatch(r"/run/(?P<service_id>[^/]+)(?P<rest>/.*)?", request.path)
        if match is None:
            return None
        with self.lock:
            self.record(request)
            return self.serve(match.group("service_id"), match.group("rest") or "/", request.method)

    def serve(self, service_id: str, path: str, method: str) -> Response:  # noqa: PLR0911 - one answer per case
        """What Cloud Run's front end and the WordPress image answer at `{uri}{path}`.

        404 when no service of that id has a ready revision (its URL does not exist yet); 403 when ingress
        is not INGRESS_TRAFFIC_ALL or allUsers lacks roles/run.invoker (unless invokerIamDisabled); then
        the image: 503 "This site is not configured" without WP_TITLE or a DB_PASSWORD secret ref; `/`
        and `/wp-json/` answer like WordPress, anything else 404. Like Cloud Run, an update in progress
        keeps serving the previous ready revision."""
        svc = next(
            (s for n, s in self.services.items() if n.rsplit("/", 1)[-1] == service_id and s.ready_env is not None),
            None,
        )
        if svc is None or svc.deleting or svc.ready_env is None:
            return _page(404, "Error: Page not found", f"The requested URL {path} was not found on this server.")
        resource = svc.resource
        invokers = members_with(svc.policy, "roles/run.invoker")
        if resource.get("ingress") != "INGRESS_TRAFFIC_ALL" or (
            not resource.get("invokerIamDisabled") and "allUsers" not in invokers
        ):
            return _page(
                403, "Error: Forbidden", f"Your client does not have permission to get URL {path} from this server."
            )
        env = {e["name"]: e for e in svc.ready_env}
        title = env.get("WP_TITLE", {}).get("value")
        has_db_password = "secretKeyRef" in env.get("DB_PASSWORD", {}).get("valueSource", {})
        if title is None or not has_db_password:
            return Response(503, "This site is not configured", "text/plain")
        if method not in ("GET", "HEAD"):
            return _page(404, "Not Found", "Not Found")
        home = env.get("WP_HOME", {}).get("value", "")
        if path == "/":
            escaped = html.escape(title)
            page = (
                f'<!DOCTYPE html><html lang="en-US"><head><title>{escaped}</title>'
                '<link rel="stylesheet" href="/wp-content/themes/twentytwentyfour/style.css"></head>'
                f"<body><h1>{escaped}</h1></body></html>"
            )
            return Response(200, page, "text/html")
        if path in ("/wp-json", "/wp-json/"):
            return Response(200, {"name": title, "url": home}, "application/json")
        return _page(404, "Page not found", f"{path} was not found on {html.escape(title)}.")


def _page(status: int, title: str, message: str) -> Response:
    return Response(
        status, f"<html><head><title>{status} {title}</title></head><body>{message}</body></html>", "text/html"
    )
