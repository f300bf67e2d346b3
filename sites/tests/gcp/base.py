"""What the fakes of Google Cloud's REST APIs share: a loopback HTTP server that records every request,
answers errors in Google's JSON shape, injects failures on demand, and checks request bodies against the
real message definitions (the SDKs' protobuf descriptors, or the discovery documents' schemas).

A fake is only worth having if it refuses what Google refuses: unknown fields, bad enums, malformed ids
and labels all get 400 INVALID_ARGUMENT naming the field, as the real front end does."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, unquote, urlsplit

from google.protobuf import descriptor_pool  # type: ignore[import-untyped]  # no stubs installed
from google.protobuf.descriptor import Descriptor, FieldDescriptor  # type: ignore[import-untyped]  # no stubs installed

# google.rpc.Code names by HTTP status, as Google's front end maps them (ABORTED and ALREADY_EXISTS both
# answer 409; fail_next takes the status name from here unless the caller passes another code).
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# google.rpc.Code numbers, for the `error` of a finished long-running operation.
GRPC_CODES: dict[str, int] = {
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}
# The `reason` of the legacy `errors` list that discovery-based APIs still send.
_LEGACY_REASONS: dict[int, str] = {
    400: "invalid",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    409: "alreadyExists",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    503: "backendError",
}

LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
MAX_LABELS = 64


class ApiError(Exception):
    """Raised by a handler; becomes Google's error JSON."""

    def __init__(self, code: int, message: str, *, status: str = "", reason: str = "", field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")
        self.reason = reason
        self.field = field


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, message, field=field)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def already_exists(message: str) -> ApiError:
    return ApiError(409, message)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() == "true"

    @property
    def int_enums(self) -> bool:
        # The GAPIC REST transports ask for `$alt=json;enum-encoding=int` and send enums as numbers.
        return "enum-encoding=int" in (self.param("$alt") or "")


@dataclass
class Response:
    status: int = 200
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[..., Response]


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    status: int
    message: str
    reason: str
    status_name: str
    remaining: int


class FakeApi:
    """Base of the fakes: an HTTP/1.1 server on 127.0.0.1 with an OS-chosen port.

    Subclasses list their routes in `routes()` as (method, regex on the path with named groups, handler);
    a handler takes the Request and the groups as keyword arguments, returns a Response or raises ApiError.
    State is guarded by one lock: handlers run one at a time, as if the service were serialised."""

    # Error bodies of discovery-based APIs (Cloud SQL, IAM) also carry the legacy `errors` list.
    legacy_errors: ClassVar[bool] = False
    # The `domain` of the ErrorInfo detail, e.g. "run.googleapis.com".
    error_domain: ClassVar[str] = "googleapis.com"

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        # Tracebacks of handler bugs (each answered 500 INTERNAL); a test can assert there are none.
        self.crashes: list[str] = []
        self.lock = threading.RLock()
        self._injections: list[_Injection] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint = ""
        self.port = 0
        self._table = [(method, re.compile(pattern), handler) for method, pattern, handler in self.routes()]

    def routes(self) -> list[tuple[str, str, Handler]]:
        raise NotImplementedError

    # Lifecycle

    def start(self) -> Self:
        # One handler class per fake, bound to it.
        handler = type("_Handler", (_RequestHandler,), {"api": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        # A short poll interval keeps stop() fast; shutdown() waits for the loop to notice.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # For tests

    def fail_next(
        self, method: str, path_pattern: str, status: int, message: str, *, times: int = 1, reason: str = ""
    ) -> None:
        """The next `times` requests whose method matches and whose path matches the regex (re.search)
        get this error instead of being handled. The status name follows the HTTP code (409 ALREADY_EXISTS,
        429 RESOURCE_EXHAUSTED, 403 PERMISSION_DENIED...)."""
        with self.lock:
            self._injections.append(
                _Injection(
                    method.upper(),
                    re.compile(path_pattern),
                    status,
                    message,
                    reason,
                    STATUS_NAMES.get(status, "UNKNOWN"),
                    times,
                )
            )

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def requests_to(self, method: str, path_pattern: str) -> list[Recorded]:
        pattern = re.compile(path_pattern)
        return [r for r in self.requests if r.method == method.upper() and pattern.search(r.path)]

    # Dispatch

    def dispatch(self, request: Request) -> Response:
        with self.lock:
            self.record(request)
            try:
                self._check_authorization(request)
                injected = self._take_injection(request)
                if injected is not None:
                    raise ApiError(
                        injected.status, injected.message, status=injected.status_name, reason=injected.reason
                    )
                for method, pattern, handler in self._table:
                    match = pattern.fullmatch(request.path)
                    if match and method == request.method:
                        return handler(request, **{k: unquote(v) for k, v in match.groupdict().items()})
                raise not_found(f"The requested URL {request.path} was not found on this server.")
            except ApiError as error:
                return self.error_response(error)
            except Exception as crash:  # noqa: BLE001 - a bug in the fake must answer 500, not drop the connection
                self.crashes.append(traceback.format_exc())
                return self.error_response(ApiError(500, f"The fake failed: {crash!r}"))

    def record(self, request: Request) -> None:
        self.requests.append(Recorded(request.method, request.path, request.query, request.body, dict(request.headers)))

    def _check_authorization(self, request: Request) -> None:
        # AnonymousCredentials send no header; anything sent must be an OAuth bearer token.
        header = request.headers.get("authorization")
        if header is not None and not re.fullmatch(r"Bearer [^\s]+", header):
            raise ApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential.",
                reason="ACCESS_TOKEN_TYPE_UNSUPPORTED",
            )

    def _take_injection(self, request: Request) -> _Injection | None:
        for injection in self._injections:
            if injection.method == request.method and injection.pattern.search(request.path):
                injection.remaining -= 1
                if injection.remaining <= 0:
                    self._injections.remove(injection)
                return injection
        return None

    def error_response(self, error: ApiError) -> Response:
        body: dict[str, Any] = {"code": error.code, "message": error.message, "status": error.status}
        details: list[dict[str, Any]] = []
        if error.reason:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": error.reason,
                    "domain": self.error_domain,
                    "metadata": {},
                }
            )
        if error.field:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": error.field, "description": error.message}],
                }
            )
        if details:
            body["details"] = details
        if self.legacy_errors:
            legacy_reason = error.reason or _LEGACY_REASONS.get(error.code, "backendError")
            body["errors"] = [{"message": error.message, "domain": "global", "reason": legacy_reason}]
        return Response(error.code, {"error": body})

    # Serving hook: a fake may answer some paths with non-API content (the Cloud Run "container").
    def raw_route(self, request: Request) -> Response | None:
        return None


class _RequestHandler(BaseHTTPRequestHandler):
    api: ClassVar[FakeApi]
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, each response would wait for a delayed ACK.
    disable_nagle_algorithm = True

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True), None, headers)
        response = self.api.raw_route(request)
        if response is None:
            if raw:
                try:
                    request.body = json.loads(raw)
                except ValueError:
                    self._send(
                        self.api.error_response(
                            invalid("", "Invalid JSON payload received. Unexpected token in the request body.")
                        )
                    )
                    return
            response = self.api.dispatch(request)
        self._send(response)

    def _send(self, response: Response) -> None:
        if response.body is None:
            payload = b""
        elif isinstance(response.body, bytes):
            payload = response.body
        elif isinstance(response.body, str):
            payload = response.body.encode()
        else:
            payload = json.dumps(response.body).encode()
        self.send_response(response.status)
        content_type = response.content_type
        if content_type.startswith(("application/json", "text/")) and "charset" not in content_type:
            content_type += "; charset=UTF-8"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake's record of requests is `api.requests`."""


# Labels


def check_labels(labels: Any, field: str) -> dict[str, str]:
    """GCP label rules: at most 64; keys 1-63 chars of lowercase letters, digits, _ and -, starting with a
    letter; values 0-63 chars of the same set."""
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise invalid(field, f"Invalid value at '{field}': labels must be a map of strings")
    if len(labels) > MAX_LABELS:
        raise invalid(field, f"{field}: at most {MAX_LABELS} labels are allowed, got {len(labels)}")
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY.fullmatch(key):
            raise invalid(
                f"{field}[{key}]",
                f"{field}: label key '{key}' is invalid: keys must be 1-63 characters, start with a lowercase "
                "letter and contain only lowercase letters, digits, underscores and dashes",
            )
        if not isinstance(value, str) or not LABEL_VALUE.fullmatch(value):
            raise invalid(
                f"{field}[{key}]",
                f"{field}: value '{value}' of label '{key}' is invalid: values must be at most 63 characters "
                "of lowercase letters, digits, underscores and dashes",
            )
    return dict(labels)


# IAM policies (same JSON on every API that has setIamPolicy)

_MEMBER = re.compile(
    r"^(allUsers|allAuthenticatedUsers"
    r"|(user|group|serviceAccount):[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
    r"|domain:[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
    r"|projectOwner:[a-z][-a-z0-9]*|projectEditor:[a-z][-a-z0-9]*|projectViewer:[a-z][-a-z0-9]*"
    r"|principal(Set)?://\S+)$"
)
_ROLE = re.compile(r"^(roles/[A-Za-z0-9_.]+|projects/[a-z][-a-z0-9]*/roles/[A-Za-z0-9_.]+)$")
BASIC_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})


def check_policy(policy: Any, role_prefixes: tuple[str, ...], resource: str) -> dict[str, Any]:
    """A google.iam.v1.Policy: roles must be well-formed and grantable on this kind of resource (a role of
    another service is refused, as Google does), members must be well-formed principals."""
    if not isinstance(policy, dict):
        raise invalid("policy", "Invalid value at 'policy': expected an object")
    unknown = set(policy) - {"version", "bindings", "etag", "auditConfigs"}
    if unknown:
        name = sorted(unknown)[0]
        raise invalid(f"policy.{name}", f"Invalid JSON payload received. Unknown name \"{name}\" at 'policy'")
    bindings = policy.get("bindings") or []
    if not isinstance(bindings, list):
        raise invalid("policy.bindings", "Invalid value at 'policy.bindings': expected a list")
    merged: dict[str, list[str]] = {}
    for index, binding in enumerate(bindings):
        where = f"policy.bindings[{index}]"
        if not isinstance(binding, dict) or set(binding) - {"role", "members", "condition"}:
            raise invalid(where, f"Invalid value at '{where}': a binding has role, members and condition")
        role = binding.get("role", "")
        if not isinstance(role, str) or not _ROLE.fullmatch(role):
            raise invalid(f"{where}.role", f"Role ({role}) does not exist or is malformed.")
        if role.startswith("roles/") and role not in BASIC_ROLES and not role.startswith(role_prefixes):
            raise invalid(f"{where}.role", f"Role {role} is not supported for this resource.")
        members = binding.get("members") or []
        if not isinstance(members, list) or not members:
            raise invalid(f"{where}.members", f"Policy binding of {role} on {resource} has no members.")
        for member in members:
            if not isinstance(member, str) or not _MEMBER.fullmatch(member):
                raise invalid(f"{where}.members", f"Invalid member in the policy binding: {member}.")
        merged.setdefault(role, [])
        merged[role] += [m for m in members if m not in merged[role]]
    version = policy.get("version", 1)
    if version not in (0, 1, 3):
        raise invalid("policy.version", f"Invalid policy version: {version}.")
    return {"version": version or 1, "bindings": [{"role": r, "members": sorted(m)} for r, m in merged.items()]}


def policy_etag(generation: int) -> str:
    return base64.b64encode(f"BwY{generation:08d}".encode()).decode()


def members_with(policy: dict[str, Any], role: str) -> set[str]:
    return {m for b in policy.get("bindings", []) if b["role"] == role for m in b["members"]}


# Checking JSON against protobuf descriptors (the GAPIC REST APIs: Cloud Run, Secret Manager)

_INT32_TYPES = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_FIXED32,
}
_INT64_TYPES = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}
_UNSIGNED = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_UINT64}
_STRING_WKT = {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}


def message_descriptor(full_name: str) -> Descriptor:
    return descriptor_pool.Default().FindMessageTypeByName(full_name)


def _bad_value(path: str, type_name: str, value: Any) -> ApiError:
    return invalid(path, f"Invalid value at '{path}' ({type_name}), {json.dumps(value)}")


def check_proto(value: Any, desc: Descriptor, path: str) -> dict[str, Any]:
    """Check proto3 JSON against a message descriptor the way Google's front end parses it: unknown names,
    wrong types, enum values not in the enum and two members of one oneof are refused. Returns the value
    in canonical form (json names, enum names)."""
    if not isinstance(value, dict):
        raise _bad_value(path, desc.full_name, value)
    out: dict[str, Any] = {}
    oneofs: dict[str, str] = {}
    for key, item in value.items():
        fd = desc.fields_by_camelcase_name.get(key) or desc.fields_by_name.get(key)
        if fd is None:
            where = f" at '{path}'" if path else ""
            raise invalid(
                f"{path}.{key}" if path else key,
                f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.',
            )
        if item is None:
            continue
        oneof = fd.containing_oneof
        # Proto3 `optional` fields sit in synthetic oneofs whose names start with "_".
        if oneof is not None and not oneof.name.startswith("_"):
            if oneof.name in oneofs:
                raise invalid(
                    path,
                    f"Invalid JSON payload received. Multiple values for oneof '{oneof.name}' at '{path}': "
                    f"{oneofs[oneof.name]}, {fd.json_name}",
                )
            oneofs[oneof.name] = fd.json_name
        field_path = f"{path}.{fd.json_name}" if path else fd.json_name
        out[fd.json_name] = _check_field(item, fd, field_path)
    return out


def _check_field(value: Any, fd: FieldDescriptor, path: str) -> Any:
    message = fd.message_type
    if message is not None and message.GetOptions().map_entry:
        if not isinstance(value, dict):
            raise _bad_value(path, "map", value)
        value_fd = message.fields_by_name["value"]
        return {str(k): _check_single(v, value_fd, f"{path}[{k}]") for k, v in value.items()}
    if fd.is_repeated:
        if not isinstance(value, list):
            raise _bad_value(path, "list", value)
        return [_check_single(v, fd, f"{path}[{i}]") for i, v in enumerate(value)]
    return _check_single(value, fd, path)


def _check_single(value: Any, fd: FieldDescriptor, path: str) -> Any:  # noqa: PLR0911, PLR0912 - one branch per proto type
    kind = fd.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        name = fd.message_type.full_name
        if name in _STRING_WKT:
            if not isinstance(value, str):
                raise _bad_value(path, name, value)
            return value
        if name == "google.protobuf.Any":
            if not isinstance(value, dict) or not isinstance(value.get("@type"), str):
                raise _bad_value(path, name, value)
            inner = message_descriptor(value["@type"].rsplit("/", 1)[-1])
            rest = {k: v for k, v in value.items() if k != "@type"}
            return {"@type": value["@type"], **check_proto(rest, inner, path)}
        if name.startswith("google.protobuf."):
            return value  # Struct, Value, wrappers, Empty: not used by the calls faked here
        return check_proto(value, fd.message_type, path)
    if kind == FieldDescriptor.TYPE_ENUM:
        enum = fd.enum_type
        if isinstance(value, str) and value in enum.values_by_name:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value in enum.values_by_number:
            return enum.values_by_number[value].name
        raise _bad_value(path, f"type.googleapis.com/{enum.full_name}", value)
    if kind == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            raise _bad_value(path, "TYPE_STRING", value)
        return value
    if kind == FieldDescriptor.TYPE_BYTES:
        try:
            if not isinstance(value, str):
                raise ValueError
            base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4), validate=True)
        except (ValueError, binascii.Error):
            raise _bad_value(path, "TYPE_BYTES", value) from None
        return value
    if kind == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            raise _bad_value(path, "TYPE_BOOL", value)
        return value
    if kind in _INT32_TYPES or kind in _INT64_TYPES:
        number = _as_int(value)
        bits = 32 if kind in _INT32_TYPES else 64
        low = 0 if kind in _UNSIGNED else -(2 ** (bits - 1))
        high = 2**bits - 1 if kind in _UNSIGNED else 2 ** (bits - 1) - 1
        if number is None or not low <= number <= high:
            raise _bad_value(path, "TYPE_INT32" if bits == 32 else "TYPE_INT64", value)
        # Canonical proto3 JSON: 64-bit integers as strings.
        return number if bits == 32 else str(number)
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _bad_value(path, "TYPE_DOUBLE", value)
        try:
            real = float(value)
        except ValueError:
            raise _bad_value(path, "TYPE_DOUBLE", value) from None
        return real if math.isfinite(real) else value
    return value


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    return None


def enums_as_ints(value: Any, desc: Descriptor) -> Any:
    """The canonical JSON of a message with enums as numbers, for clients that asked for enum-encoding=int."""
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "@type":
            out[key] = item
            continue
        fd = desc.fields_by_camelcase_name.get(key)
        if fd is None:
            out[key] = item
            continue
        out[key] = _field_enums_as_ints(item, fd)
    return out


def _field_enums_as_ints(value: Any, fd: FieldDescriptor) -> Any:
    message = fd.message_type
    if message is not None and message.GetOptions().map_entry:
        value_fd = message.fields_by_name["value"]
        return {k: _single_enum_as_int(v, value_fd) for k, v in value.items()}
    if fd.is_repeated:
        return [_single_enum_as_int(v, fd) for v in value]
    return _single_enum_as_int(value, fd)


def _single_enum_as_int(value: Any, fd: FieldDescriptor) -> Any:
    if fd.type == FieldDescriptor.TYPE_ENUM and isinstance(value, str):
        return fd.enum_type.values_by_name[value].number
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        if fd.message_type.full_name == "google.protobuf.Any" and isinstance(value, dict):
            return enums_as_ints(value, message_descriptor(value["@type"].rsplit("/", 1)[-1]))
        if not fd.message_type.full_name.startswith("google.protobuf."):
            return enums_as_ints(value, fd.message_type)
    return value


# Checking JSON against discovery schemas (Cloud SQL Admin, IAM)


def check_schema(value: Any, schema: dict[str, Any], doc: dict[str, Any], path: str) -> Any:  # noqa: PLR0911, PLR0912
    """Check a request body against a discovery document's schema: unknown properties, wrong types and
    enum values outside the list are refused, as the API's front end does."""
    if "$ref" in schema:
        schema = doc["schemas"][schema["$ref"]]
    kind = schema.get("type", "any")
    if kind == "object":
        if not isinstance(value, dict):
            raise _bad_value(path, "object", value)
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out: dict[str, Any] = {}
        for key, item in value.items():
            item_path = f"{path}.{key}" if path else key
            if key in properties:
                out[key] = check_schema(item, properties[key], doc, item_path) if item is not None else None
            elif extra is not None:
                out[key] = check_schema(item, extra, doc, f"{path}[{key}]")
            else:
                where = f" at '{path}'" if path else ""
                raise invalid(
                    item_path, f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.'
                )
        return out
    if kind == "array":
        if not isinstance(value, list):
            raise _bad_value(path, "array", value)
        return [check_schema(v, schema.get("items", {}), doc, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind == "string":
        fmt = schema.get("format", "")
        if fmt in ("int64", "uint64") and _as_int(value) is not None:
            return str(value)
        if not isinstance(value, str):
            raise _bad_value(path, "TYPE_STRING", value)
        if "enum" in schema and value not in schema["enum"]:
            raise _bad_value(path, "enum", value)
        return value
    if kind == "integer":
        if _as_int(value) is None:
            raise _bad_value(path, "TYPE_INT32", value)
        return _as_int(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _bad_value(path, "TYPE_BOOL", value)
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad_value(path, "TYPE_DOUBLE", value)
        return value
    return value


def load_discovery(name: str) -> dict[str, Any]:
    """The static discovery document that googleapiclient ships and builds its client from."""
    from googleapiclient import discovery_cache

    return json.loads(discovery_cache.get_static_doc(*name.split(".", 1)) or "{}")


def paginate(items: list[Any], request: Request, size_param: str = "pageSize") -> tuple[list[Any], str]:
    """A page of `items` and the next page token ("" on the last page); the token is an opaque offset."""
    size = _as_int(request.param(size_param) or "0") or 0
    token = request.param("pageToken") or ""
    if token and not re.fullmatch(r"o\d+", token):
        raise invalid("pageToken", "Invalid page token.")
    start = int(token[1:]) if token else 0
    if size <= 0:
        return items[start:], ""
    end = start + size
    return items[start:end], (f"o{end}" if end < len(items) else "")


def iter_labels_filter(expression: str) -> Iterator[tuple[str, str, str]]:
    """Terms of a list filter such as `labels.aipress-site-id=12 AND name:blog`: (field, operator, value)."""
    for term in re.split(r"\s+(?:AND\s+)?", expression.strip()):
        if not term or term == "AND":
            continue
        match = re.fullmatch(r"([A-Za-z_][\w.-]*)\s*(=|:)\s*\"?([^\"]*)\"?", term)
        if match is None:
            raise invalid("filter", f"Invalid filter: {expression}")
        yield match.group(1), match.group(2), match.group(3)
