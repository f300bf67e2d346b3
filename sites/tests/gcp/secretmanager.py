"""A fake of the Secret Manager API v1 (global secrets, their versions and IAM policies)."""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import google_crc32c
from google.cloud import secretmanager_v1

from sites.tests.gcp.base import (
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
    iter_labels_filter,
    members_with,
    not_found,
    paginate,
    policy_etag,
)

SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
MAX_PAYLOAD = 64 * 1024
# Secret Manager's rules for a secret's annotations (unlike labels: any case, dots, any value).
ANNOTATION_KEY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
MAX_ANNOTATIONS_BYTES = 16 * 1024
ACCESSOR = "roles/secretmanager.secretAccessor"
# Fields of a Secret a PATCH may change (replication is immutable).
UPDATABLE = frozenset(
    {"labels", "annotations", "expireTime", "ttl", "topics", "rotation", "versionAliases", "versionDestroyTtl"}
)
OUTPUT_ONLY = frozenset({"name", "createTime"})


def _message(name: str) -> Any:
    """The descriptor of one of the SDK's Secret Manager messages, to check JSON against."""
    return getattr(secretmanager_v1, name).pb().DESCRIPTOR


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _etag() -> str:
    return f'"{uuid.uuid4().hex[:14]}"'


@dataclass
class _Version:
    number: int
    data: bytes
    state: str = "ENABLED"
    create_time: str = field(default_factory=_now)
    destroy_time: str = ""
    client_checksum: bool = False
    etag: str = field(default_factory=_etag)


@dataclass
class _Secret:
    resource: dict[str, Any]
    versions: list[_Version] = field(default_factory=list)
    policy: dict[str, Any] = field(default_factory=lambda: {"version": 1, "bindings": []})
    policy_generation: int = 1


class FakeSecretManager(FakeApi):
    """Secret Manager API v1 as `secretmanager_v1.SecretManagerServiceClient(transport="rest")` speaks it.

    Secrets live under projects/{p}/secrets/{id}. Payloads are checked against `dataCrc32c` when the
    client sends one; `latest` is the most recently created version, whatever its state (as in Secret
    Manager: a disabled latest version cannot be accessed). `secret_value(name)` reads a payload back for
    assertions without going through the API."""

    error_domain = "secretmanager.googleapis.com"

    def __init__(self) -> None:
        self.secrets: dict[str, _Secret] = {}
        super().__init__()

    def routes(self) -> list[tuple[str, str, Handler]]:
        project = r"/v1/projects/(?P<project>[^/]+)"
        secret = project + r"/secrets/(?P<secret_id>[^/:]+)"
        version = secret + r"/versions/(?P<version>[^/:]+)"
        return [
            ("POST", project + "/secrets", self._create),
            ("GET", project + "/secrets", self._list),
            ("GET", secret, self._get),
            ("PATCH", secret, self._update),
            ("DELETE", secret, self._delete),
            ("POST", secret + ":addVersion", self._add_version),
            ("GET", secret + "/versions", self._list_versions),
            ("GET", version, self._get_version),
            ("GET", version + ":access", self._access),
            ("POST", version + ":destroy", self._destroy),
            ("POST", version + ":disable", self._disable),
            ("POST", version + ":enable", self._enable),
            ("POST", secret + ":setIamPolicy", self._set_iam_policy),
            ("GET", secret + ":getIamPolicy", self._get_iam_policy),
        ]

    # For tests and for the Cloud Run fake

    def secret_value(self, name: str, version: str = "latest") -> bytes | None:
        """The payload of a version (full secret name, or projects/p/secrets/s/versions/v), None if none."""
        with self.lock:
            if "/versions/" in name:
                name, version = name.split("/versions/")
            secret = self.secrets.get(name)
            if secret is None:
                return None
            found = self._resolve(secret, version)
            return found.data if found else None

    def access_problem(self, secret_name: str, version: str, member: str) -> str | None:
        """Why `member` could not read the version: "not-found", "denied", or None if it can."""
        with self.lock:
            secret = self.secrets.get(secret_name)
            found = self._resolve(secret, version) if secret else None
            if secret is None or found is None or found.state != "ENABLED":
                return "not-found"
            allowed = members_with(secret.policy, ACCESSOR) | members_with(secret.policy, "roles/owner")
            return None if member in allowed else "denied"

    # Secrets

    def _create(self, request: Request, project: str) -> Response:
        secret_id = request.param("secretId") or ""
        if not SECRET_ID.fullmatch(secret_id):
            raise invalid(
                "secret_id",
                f"Invalid secret_id '{secret_id}': it must be 1-255 characters of letters, digits, '_' and '-'.",
            )
        body = self._check_secret(request.body)
        replication = body.get("replication")
        if not replication:
            raise invalid("secret.replication", "secret.replication: Required field not set.")
        if "automatic" not in replication and "userManaged" not in replication:
            raise invalid("secret.replication", "secret.replication needs automatic or user_managed.")
        replicas = replication.get("userManaged", {"replicas": [{"location": "-"}]}).get("replicas", [])
        if not replicas or any(not r.get("location") for r in replicas):
            raise invalid("secret.replication.user_managed.replicas", "Every replica needs a location.")
        name = f"projects/{project}/secrets/{secret_id}"
        if name in self.secrets:
            raise already_exists(f"Secret [{name}] already exists.")
        resource = {**body, "name": name, "createTime": _now(), "etag": _etag()}
        self.secrets[name] = _Secret(resource)
        return self._render(request, resource, "Secret")

    def _check_secret(self, body: Any) -> dict[str, Any]:
        checked = check_proto(body or {}, _message("Secret"), "secret")
        check_labels(checked.get("labels"), "secret.labels")
        annotations = checked.get("annotations", {})
        for key in annotations:
            if not ANNOTATION_KEY.fullmatch(key) or len(key.encode()) > 128:
                raise invalid(
                    f"secret.annotations[{key}]",
                    f"Invalid annotation key '{key}': 1-63 characters, starting and ending with a letter or "
                    "digit, with letters, digits, '-', '_' and '.' between.",
                )
        if sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items()) >= MAX_ANNOTATIONS_BYTES:
            raise invalid("secret.annotations", "The total size of annotation keys and values must be less than 16KiB.")
        for alias, number in checked.get("versionAliases", {}).items():
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,62}", alias) or int(number) < 1:
                raise invalid(f"secret.version_aliases[{alias}]", f"Invalid version alias '{alias}'.")
        return {k: v for k, v in checked.items() if k not in OUTPUT_ONLY}

    def _find(self, project: str, secret_id: str) -> _Secret:
        name = f"projects/{project}/secrets/{secret_id}"
        secret = self.secrets.get(name)
        if secret is None:
            raise not_found(f"Secret [{name}] not found.")
        return secret

    def _get(self, request: Request, project: str, secret_id: str) -> Response:
        return self._render(request, self._find(project, secret_id).resource, "Secret")

    def _update(self, request: Request, project: str, secret_id: str) -> Response:
        secret = self._find(project, secret_id)
        mask = [p for p in (request.param("updateMask") or "").split(",") if p]
        if not mask:
            raise invalid("update_mask", "update_mask: Required field not set.")
        body = self._check_secret(request.body)
        for path in mask:
            if path not in UPDATABLE:
                raise invalid("update_mask", f"Field {path} of a secret cannot be updated.")
        if body.get("etag") and body["etag"] != secret.resource["etag"]:
            raise ApiError(
                400, "The etag provided in the request does not match the current etag.", status="FAILED_PRECONDITION"
            )
        for path in mask:
            if path in body:
                secret.resource[path] = body[path]
            else:
                secret.resource.pop(path, None)
        secret.resource["etag"] = _etag()
        return self._render(request, secret.resource, "Secret")

    def _delete(self, request: Request, project: str, secret_id: str) -> Response:
        secret = self._find(project, secret_id)
        etag = request.param("etag")
        if etag and etag != secret.resource["etag"]:
            raise ApiError(
                400, "The etag provided in the request does not match the current etag.", status="FAILED_PRECONDITION"
            )
        del self.secrets[secret.resource["name"]]
        return Response(200, {})

    def _list(self, request: Request, project: str) -> Response:
        prefix = f"projects/{project}/secrets/"
        found = [s.resource for n, s in sorted(self.secrets.items()) if n.startswith(prefix)]
        expression = request.param("filter") or ""
        if expression:
            found = [r for r in found if self._matches(r, expression)]
        page, token = paginate(found, request)
        body: dict[str, Any] = {"secrets": [self._encode(request, r, "Secret") for r in page], "totalSize": len(found)}
        if token:
            body["nextPageToken"] = token
        return Response(200, body)

    @staticmethod
    def _matches(resource: dict[str, Any], expression: str) -> bool:
        """Secret Manager's list filter, the parts a platform needs: `labels.KEY=VALUE`, `labels.KEY:VALUE`
        (`labels.KEY:*` for presence) and `name:TEXT`, joined by spaces or AND."""
        for name, operator, value in iter_labels_filter(expression):
            if name.startswith("labels."):
                labels = resource.get("labels", {})
                key = name.removeprefix("labels.")
                if operator == ":" and value == "*":
                    if key not in labels:
                        return False
                elif labels.get(key) != value:
                    return False
            elif name == "name":
                if value not in resource["name"].rsplit("/", 1)[-1]:
                    return False
            else:
                raise invalid("filter", f"Invalid filter: unsupported field '{name}'.")
        return True

    # Versions

    def _add_version(self, request: Request, project: str, secret_id: str) -> Response:
        secret = self._find(project, secret_id)
        body = check_proto(request.body or {}, _message("AddSecretVersionRequest"), "")
        payload = body.get("payload")
        if payload is None:
            raise invalid("payload", "payload: Required field not set.")
        data = base64.b64decode(payload.get("data", ""))
        if len(data) > MAX_PAYLOAD:
            raise invalid("payload.data", f"Secret payload is larger than {MAX_PAYLOAD} bytes.")
        checksum = payload.get("dataCrc32c")
        if checksum is not None and int(checksum) != google_crc32c.value(data):
            raise invalid("payload.data_crc32c", "Checksum mismatch: data_crc32c does not match the payload.")
        number = len(secret.versions) + 1
        version = _Version(number, data, client_checksum=checksum is not None)
        secret.versions.append(version)
        return self._render(request, self._version_json(secret, version), "SecretVersion")

    def _resolve(self, secret: _Secret, version: str) -> _Version | None:
        if version == "latest":
            return secret.versions[-1] if secret.versions else None
        aliases = secret.resource.get("versionAliases", {})
        if version in aliases:
            version = str(aliases[version])
        if not version.isdigit():
            return None
        number = int(version)
        return secret.versions[number - 1] if 1 <= number <= len(secret.versions) else None

    def _find_version(self, project: str, secret_id: str, version: str) -> tuple[_Secret, _Version]:
        secret = self._find(project, secret_id)
        if version != "latest" and not re.fullmatch(r"[0-9]+|[A-Za-z][A-Za-z0-9_-]*", version):
            raise invalid("name", f"Invalid secret version '{version}'.")
        found = self._resolve(secret, version)
        if found is None:
            name = f"{secret.resource['name']}/versions/{version}"
            if version == "latest":
                raise not_found(f"Secret [{secret.resource['name']}] not found or has no versions.")
            raise not_found(f"Secret Version [{name}] not found.")
        return secret, found

    @staticmethod
    def _version_json(secret: _Secret, version: _Version) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": f"{secret.resource['name']}/versions/{version.number}",
            "createTime": version.create_time,
            "state": version.state,
            "replicationStatus": {"automatic": {}},
            "etag": version.etag,
            "clientSpecifiedPayloadChecksum": version.client_checksum,
        }
        if version.destroy_time:
            body["destroyTime"] = version.destroy_time
        return body

    def _get_version(self, request: Request, project: str, secret_id: str, version: str) -> Response:
        secret, found = self._find_version(project, secret_id, version)
        return self._render(request, self._version_json(secret, found), "SecretVersion")

    def _list_versions(self, request: Request, project: str, secret_id: str) -> Response:
        secret = self._find(project, secret_id)
        versions = [self._version_json(secret, v) for v in reversed(secret.versions)]
        page, token = paginate(versions, request)
        body: dict[str, Any] = {
            "versions": [self._encode(request, v, "SecretVersion") for v in page],
            "totalSize": len(versions),
        }
        if token:
            body["nextPageToken"] = token
        return Response(200, body)

    def _access(self, request: Request, project: str, secret_id: str, version: str) -> Response:
        secret, found = self._find_version(project, secret_id, version)
        name = f"{secret.resource['name']}/versions/{found.number}"
        if found.state != "ENABLED":
            raise ApiError(400, f"Secret Version [{name}] is in {found.state} state.", status="FAILED_PRECONDITION")
        payload = {"data": base64.b64encode(found.data).decode(), "dataCrc32c": str(google_crc32c.value(found.data))}
        return Response(200, {"name": name, "payload": payload})

    def _set_state(self, request: Request, project: str, secret_id: str, version: str, state: str) -> Response:
        secret, found = self._find_version(project, secret_id, version)
        body = check_proto(request.body or {}, _message("DestroySecretVersionRequest"), "")
        if body.get("etag") and body["etag"] != found.etag:
            raise ApiError(
                400, "The etag provided in the request does not match the current etag.", status="FAILED_PRECONDITION"
            )
        if found.state == "DESTROYED":
            raise ApiError(
                400,
                f"Secret Version [{secret.resource['name']}/versions/{found.number}] is in DESTROYED state.",
                status="FAILED_PRECONDITION",
            )
        found.state = state
        found.etag = _etag()
        if state == "DESTROYED":
            found.data = b""
            found.destroy_time = _now()
        return self._render(request, self._version_json(secret, found), "SecretVersion")

    def _destroy(self, request: Request, project: str, secret_id: str, version: str) -> Response:
        return self._set_state(request, project, secret_id, version, "DESTROYED")

    def _disable(self, request: Request, project: str, secret_id: str, version: str) -> Response:
        return self._set_state(request, project, secret_id, version, "DISABLED")

    def _enable(self, request: Request, project: str, secret_id: str, version: str) -> Response:
        return self._set_state(request, project, secret_id, version, "ENABLED")

    # IAM

    def _set_iam_policy(self, request: Request, project: str, secret_id: str) -> Response:
        secret = self._find(project, secret_id)
        body = request.body or {}
        unknown = set(body) - {"policy", "updateMask"}
        if unknown:
            key = sorted(unknown)[0]
            raise invalid(key, f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
        policy = body.get("policy")
        etag = policy.get("etag") if isinstance(policy, dict) else None
        checked = check_policy(policy, ("roles/secretmanager.",), secret.resource["name"])
        if etag and etag != policy_etag(secret.policy_generation):
            raise ApiError(
                409,
                "There were concurrent policy changes. Please retry the whole read-modify-write with "
                "exponential backoff.",
                status="ABORTED",
            )
        secret.policy = checked
        secret.policy_generation += 1
        return Response(200, {**secret.policy, "etag": policy_etag(secret.policy_generation)})

    def _get_iam_policy(self, request: Request, project: str, secret_id: str) -> Response:
        secret = self._find(project, secret_id)
        return Response(200, {**secret.policy, "etag": policy_etag(secret.policy_generation)})

    # Rendering

    @staticmethod
    def _encode(request: Request, resource: dict[str, Any], message: str) -> dict[str, Any]:
        if request.int_enums:
            return enums_as_ints(resource, _message(message))
        return resource

    def _render(self, request: Request, resource: dict[str, Any], message: str) -> Response:
        return Response(200, self._encode(request, resource, message))
