"""A loopback fake of Cloudflare's v4 REST API for one zone: its DNS records, its custom hostnames
(Cloudflare for SaaS), its cache's purges and the zone itself, in the wire format the official
`cloudflare` SDK speaks (point its base_url at `fake.base_url`).

It refuses what Cloudflare refuses, with Cloudflare's envelope (`success`, `errors` with codes,
`messages`, `result`) and status codes. The codes are Cloudflare's where they are documented or
widely seen (9106, 6003/6111, 9109, 10000, 7000, 7003, 1001, 81044, 81053, 81054, 81057, 1004 "DNS
Validation Error" with an error_chain, 1406); the other refusals (most custom hostname ones) carry
stand-in codes of the same families, so tests should not rely on them; so do the purge refusals but
1012 and 1014 (the purge rules themselves are Cloudflare's: one kind of target a request, at most 30
URLs on plans below Enterprise and 500 on it, 100 hostnames, tags or prefixes, targets in the zone or
its custom hostnames, and the plan's rate as a token bucket). Two deliberate differences:
a record name outside the zone is refused (Cloudflare would append the zone to it), and query
parameters the fake does not know are refused, so a filter the SDK spells differently shows up
instead of silently listing everything."""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "Fake-Cloudflare-Token-0123456789abcdefgh"  # 40 characters, the shape of a real token
RECORD_TYPES = frozenset({"A", "AAAA", "CNAME", "TXT", "MX", "NS"})
PROXIABLE = frozenset({"A", "AAAA", "CNAME"})
SSL_METHODS = frozenset({"http", "txt", "email"})
HOSTNAME = re.compile(r"^(?=.{1,253}$)(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
BEARER = re.compile(r"^Bearer [A-Za-z0-9_-]{40}$")
HEX_ID = re.compile(r"^[0-9a-f]{32}$")
ROUTE = re.compile(
    r"^/client/v4/zones/(?P<zone>[^/]+)(?:/(?P<kind>dns_records|custom_hostnames|purge_cache)(?:/(?P<item>[^/]+))?)?$"
)
RECORD_QUERY = {"name", "name.exact", "name.contains", "name.startswith", "name.endswith", "type", "content",
                "content.exact", "match", "order", "direction", "page", "per_page"}  # fmt: skip
HOSTNAME_QUERY = {"hostname", "hostname.exact", "hostname.contain", "id", "page", "per_page", "order", "direction"}
PURGE_TARGETS = ("files", "hosts", "tags", "prefixes", "purge_everything")
# Purge limits by plan (developers.cloudflare.com/cache/how-to/purge-cache/): URLs a request, other
# targets a request, and the token bucket (requests a second refilled, bucket size).
PURGE_FILES = {"free": 30, "pro": 30, "business": 30, "enterprise": 500}
PURGE_OTHERS = 100
PURGE_RATE = {"free": (5 / 60, 25), "pro": (5, 25), "business": (10, 50), "enterprise": (50, 500)}
PLAN_NAMES = {"free": "Free Website", "pro": "Pro Website", "business": "Business Website",
              "enterprise": "Enterprise Website"}  # fmt: skip


class CloudflareError(Exception):
    """Raised by a handler; answered as Cloudflare's error envelope."""

    def __init__(self, status: int, code: int, message: str, chain: tuple[tuple[int, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.errors: list[dict[str, Any]] = [{"code": code, "message": message}]
        if chain:
            self.errors[0]["error_chain"] = [{"code": c, "message": m} for c, m in chain]


def _validation(code: int, message: str) -> CloudflareError:
    return CloudflareError(400, 1004, "DNS Validation Error", ((code, message),))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]  # the token itself is replaced by <token> or <wrong token>


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    error: CloudflareError | None
    headers: dict[str, str] = field(default_factory=dict)
    action: Callable[[], None] | None = None
    remaining: int = 1


class FakeCloudflare:
    """One zone (`zone_name`, id `zone_id`) that answers the bearer `token`. State lives in `records`
    and `hostnames` (id -> the JSON Cloudflare returns); handlers run one at a time under `lock`."""

    def __init__(self, zone_name: str = "sites.example.com", zone_id: str = ZONE_ID, token: str = TOKEN,
                 plan: str = "enterprise") -> None:  # fmt: skip
        self.zone_name, self.zone_id, self.token, self.plan = zone_name, zone_id, token, plan
        self.purged: list[dict[str, Any]] = []  # every purge accepted, as sent
        self._purge_bucket, self._purge_refilled = float(PURGE_RATE[plan][1]), time.monotonic()
        self.records: dict[str, dict[str, Any]] = {}
        self.hostnames: dict[str, dict[str, Any]] = {}
        self.elsewhere: set[str] = set()  # hostnames another Cloudflare zone has already added
        self.read_only = False  # the token may read but not edit (Cloudflare answers 10000)
        self.requests: list[Recorded] = []
        self.crashes: list[str] = []  # tracebacks of handler bugs, each answered 500
        self.lock = threading.RLock()
        self._injections: list[_Injection] = []
        self._server: ThreadingHTTPServer | None = None
        self.endpoint = ""

    # Lifecycle

    def start(self) -> Self:
        handler = type("_Handler", (_Handler,), {"api": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"{self.endpoint}/client/v4"

    # For tests

    def add_record(self, name: str, type: str, content: str, *, proxied: bool = False, ttl: int = 1) -> dict[str, Any]:
        """A record made outside the platform (the dashboard), checked as the API would check it."""
        with self.lock:
            body = {"name": name, "type": type, "content": content, "proxied": proxied, "ttl": ttl}
            return self._record_store(self._record_checked(body, None), None)

    def records_at(self, name: str, type: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["name"] == name and type in (None, r["type"])]

    def hostname(self, hostname: str) -> dict[str, Any] | None:
        return next((h for h in self.hostnames.values() if h["hostname"] == hostname), None)

    def set_ssl_status(
        self, hostname: str, status: str, *, errors: tuple[str, ...] = (), hostname_status: str | None = None
    ) -> None:
        """Move a custom hostname's certificate along, as Cloudflare's validation and issuance would;
        the hostname itself becomes active with it unless `hostname_status` says otherwise."""
        with self.lock:
            found = self.hostname(hostname)
            assert found is not None, f"no custom hostname {hostname}"
            found["ssl"]["status"] = status
            found["ssl"]["validation_errors"] = [{"message": m} for m in errors] if errors else None
            if status == "active":
                found["ssl"]["validation_records"] = []
                found["status"] = hostname_status or "active"
                if found["status"] == "active":
                    found["ownership_verification"] = None

    def fail_next(self, method: str, path_pattern: str, status: int, code: int, message: str, *, times: int = 1,
                  headers: dict[str, str] | None = None) -> None:  # fmt: skip
        """The next `times` matching requests (path: re.search) get this error instead of an answer."""
        error = CloudflareError(status, code, message)
        self._injections.append(_Injection(method, re.compile(path_pattern), error, headers or {}, None, times))

    def before_next(self, method: str, path_pattern: str, action: Callable[[], None]) -> None:
        """Run `action` just before the next matching request is handled (someone else's concurrent change)."""
        self._injections.append(_Injection(method, re.compile(path_pattern), None, {}, action))

    def requests_to(self, method: str, path_pattern: str = "") -> list[Recorded]:
        pattern = re.compile(path_pattern)
        return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")]

    # Dispatch

    def dispatch(self, method: str, path: str, query: dict[str, list[str]], raw: bytes,
                 headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:  # fmt: skip
        with self.lock:
            body: Any = None
            try:
                self._record(method, path, query, raw, headers)
                self._authenticate(headers, method)
                for injection in list(self._injections):
                    if injection.method == method and injection.pattern.search(path):
                        injection.remaining -= 1
                        if injection.remaining <= 0:
                            self._injections.remove(injection)
                        if injection.action is not None:
                            injection.action()
                        if injection.error is not None:
                            return self._error(injection.error, injection.headers)
                        break
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise CloudflareError(400, 9207, "Request body is invalid.") from None
                result, extra = self._route(method, path, {k: v[-1] for k, v in query.items()}, body)
                return 200, {"success": True, "errors": [], "messages": [], "result": result, **(extra or {})}, {}
            except CloudflareError as error:
                return self._error(error, {})
            except Exception as crash:  # noqa: BLE001 - a bug in the fake answers 500, it must not drop the connection
                self.crashes.append(traceback.format_exc())
                return self._error(CloudflareError(500, 10001, f"The fake failed: {crash!r}"), {})

    def _error(self, error: CloudflareError, headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        return error.status, {"success": False, "errors": error.errors, "messages": [], "result": None}, headers

    def _record(self, method: str, path: str, query: dict[str, list[str]], raw: bytes, headers: dict[str, str]) -> None:
        shown = dict(headers)
        if "authorization" in shown:
            if shown["authorization"] == f"Bearer {self.token}":
                shown["authorization"] = "Bearer <token>"
            elif BEARER.match(shown["authorization"]):
                shown["authorization"] = "Bearer <wrong token>"
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append(Recorded(method, path, query, body, shown))

    def _authenticate(self, headers: dict[str, str], method: str) -> None:
        if "x-auth-key" in headers or "x-auth-email" in headers:
            # The fake knows API tokens only; a Global API Key of the wrong shape is refused like this.
            raise CloudflareError(
                400, 6003, "Invalid request headers", ((6103, "Invalid format for X-Auth-Key header"),)
            )
        header = headers.get("authorization")
        if header is None:
            raise CloudflareError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
        if not BEARER.match(header):
            raise CloudflareError(
                400, 6003, "Invalid request headers", ((6111, "Invalid format for Authorization header"),)
            )
        if header != f"Bearer {self.token}":
            raise CloudflareError(403, 9109, "Invalid access token")
        if self.read_only and method != "GET":
            raise CloudflareError(403, 10000, "Authentication error")

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[Any, dict[str, Any] | None]:
        match = ROUTE.match(path)
        if match is None:
            raise CloudflareError(404, 7000, "No route for that URI")
        zone, kind, item = match.group("zone", "kind", "item")
        if zone != self.zone_id:
            if HEX_ID.match(zone):
                raise CloudflareError(404, 1001, "Invalid zone identifier")
            raise CloudflareError(404, 7003, f"Could not route to {path}, perhaps your object identifier is invalid?")
        if kind is None and method == "GET":
            return self._zone(), None
        if kind == "dns_records":
            return self._records(method, path, item, query, body)
        if kind == "custom_hostnames":
            return self._hostnames(method, item, query, body)
        if kind == "purge_cache" and item is None and method == "POST":
            return self._purge(body), None
        raise CloudflareError(405, 10405, f"Method {method} not allowed for this endpoint")

    # Zone

    def _zone(self) -> dict[str, Any]:
        plan = {"id": self.plan, "name": PLAN_NAMES[self.plan], "price": 0, "currency": "USD", "frequency": "",
                "is_subscribed": True, "can_subscribe": False, "legacy_id": self.plan, "legacy_discount": False,
                "externally_managed": False}  # fmt: skip
        return {
            "id": self.zone_id, "name": self.zone_name, "status": "active", "paused": False, "type": "full",
            "development_mode": 0, "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": None, "original_registrar": None, "original_dnshost": None,
            "created_on": "2024-01-01T00:00:00.000000Z", "modified_on": "2024-01-01T00:00:00.000000Z",
            "activated_on": "2024-01-01T00:00:00.000000Z", "meta": {"step": 2, "custom_certificate_quota": 0,
            "page_rule_quota": 3, "phishing_detected": False}, "owner": {"id": None, "type": "user", "name": None},
            "account": {"id": "01a7362d577a6c3019a474fd6f485823", "name": "AIPress"}, "plan": plan,
            "permissions": ["#dns_records:edit", "#ssl:edit", "#zone:read"],
        }  # fmt: skip

    # DNS records

    def _records(self, method: str, path: str, item: str | None, query: dict[str, str],
                 body: Any) -> tuple[Any, dict[str, Any] | None]:  # fmt: skip
        if item is None and method == "GET":
            shown = [self._record_shown(r) for r in self._records_matching(query)]
            return self._page(shown, query, 100, 5_000_000)
        if item is None and method == "POST":
            return self._record_store(self._record_checked(body, None), None), None
        if item is None:
            raise CloudflareError(405, 10405, f"Method {method} not allowed for this endpoint")
        if not HEX_ID.match(item):
            raise CloudflareError(404, 7003, f"Could not route to {path}, perhaps your object identifier is invalid?")
        existing = self.records.get(item)
        if existing is None:
            raise CloudflareError(404, 81044, "Record does not exist.")
        if method == "GET":
            return self._record_shown(existing), None
        if method == "DELETE":
            del self.records[item]
            return {"id": item}, None
        if method in ("PUT", "PATCH"):
            if not isinstance(body, dict):
                raise CloudflareError(400, 9207, "Request body is invalid.")
            merged = {**existing, **body} if method == "PATCH" else body
            return self._record_store(self._record_checked(merged, item), item), None
        raise CloudflareError(405, 10405, f"Method {method} not allowed for this endpoint")

    def _records_matching(self, query: dict[str, str]) -> list[dict[str, Any]]:
        unknown = set(query) - RECORD_QUERY
        if unknown:
            raise CloudflareError(400, 1004, f"Unknown query parameter: {sorted(unknown)[0]}")
        filters = {key: value for key, value in query.items() if key.startswith(("name", "type", "content"))}
        combine = any if query.get("match") == "any" else all
        found = [
            r for r in self.records.values() if not filters or combine(_matches(r, k, v) for k, v in filters.items())
        ]
        return sorted(found, key=lambda r: (r["type"], r["name"], r["content"]))

    def _record_checked(self, body: Any, record_id: str | None) -> dict[str, Any]:
        """The record `body` describes, checked as Cloudflare checks a create or a full update."""
        if not isinstance(body, dict):
            raise CloudflareError(400, 9207, "Request body is invalid.")
        kind, name = body.get("type"), body.get("name")
        if kind not in RECORD_TYPES:
            raise _validation(9020, "Invalid DNS record type")
        if not isinstance(name, str) or not HOSTNAME.match(name.lower().rstrip(".")):
            raise _validation(9000, "DNS name is invalid.")
        name = name.lower().rstrip(".")
        if name != self.zone_name and not name.endswith(f".{self.zone_name}"):
            raise _validation(9000, f"DNS name {name} is not in the zone {self.zone_name}.")
        content = _content_checked(kind, body.get("content"))
        ttl, proxied = body.get("ttl", 1), body.get("proxied", False)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not (ttl == 1 or 60 <= ttl <= 86400):
            raise _validation(9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.")
        if not isinstance(proxied, bool):
            raise _validation(9003, "Invalid 'proxied' value, must be a boolean")
        if proxied and kind not in PROXIABLE:
            raise _validation(9004, "This record type cannot be proxied.")
        others = [r for r in self.records.values() if r["name"] == name and r["id"] != record_id]
        if any(r["type"] == kind and r["content"] == content for r in others):
            raise CloudflareError(400, 81057, "Record already exists.")
        if kind == "CNAME" and others:
            raise CloudflareError(400, 81053, "An A, AAAA, or CNAME record with that host already exists.")
        if any(r["type"] == "CNAME" for r in others):
            raise CloudflareError(400, 81054, "A CNAME record with that host already exists.")
        # Proxied records always have the automatic TTL; Cloudflare overrides whatever was sent.
        return {"name": name, "type": kind, "content": content, "ttl": 1 if proxied else int(ttl), "proxied": proxied,
                "comment": body.get("comment"), "tags": list(body.get("tags") or [])}  # fmt: skip

    def _record_store(self, checked: dict[str, Any], record_id: str | None) -> dict[str, Any]:
        now = _now()
        old = self.records.get(record_id or "", {})
        stored = {
            "id": record_id or secrets.token_hex(16), "zone_id": self.zone_id, "zone_name": self.zone_name,
            **checked, "proxiable": checked["type"] in PROXIABLE, "settings": {}, "meta": {},
            "created_on": old.get("created_on", now), "modified_on": now,
        }  # fmt: skip
        self.records[stored["id"]] = stored
        return self._record_shown(stored)

    def _record_shown(self, record: dict[str, Any]) -> dict[str, Any]:
        # Cloudflare answers TXT content in quotes, whether or not it was sent with them.
        if record["type"] == "TXT":
            return {**record, "content": f'"{record["content"]}"'}
        return record

    # Custom hostnames

    def _hostnames(self, method: str, item: str | None, query: dict[str, str],
                   body: Any) -> tuple[Any, dict[str, Any] | None]:  # fmt: skip
        if item is None and method == "GET":
            unknown = set(query) - HOSTNAME_QUERY
            if unknown:
                raise CloudflareError(400, 1400, f"Unknown query parameter: {sorted(unknown)[0]}")
            exact = (query.get("hostname") or query.get("hostname.exact") or "").lower()
            found = [h for h in self.hostnames.values() if (not exact or h["hostname"] == exact)
                     and query.get("hostname.contain", "").lower() in h["hostname"]
                     and query.get("id", h["id"]) == h["id"]]  # fmt: skip
            return self._page(found, query, 20, 50)
        if item is None and method == "POST":
            return self._hostname_create(body), None
        existing = self.hostnames.get(item or "")
        if existing is None:
            raise CloudflareError(404, 1436, "The custom hostname was not found.")
        if method == "GET":
            return existing, None
        if method == "DELETE":
            del self.hostnames[existing["id"]]
            # Documented (and read by the SDK) as an `id` beside the envelope's fields, not in `result`.
            return {"id": existing["id"]}, {"id": existing["id"]}
        if method == "PATCH" and isinstance(body, dict):
            if "custom_origin_server" in body:
                existing["custom_origin_server"] = self._origin_checked(body["custom_origin_server"])
            if "ssl" in body:
                existing["ssl"].update(self._ssl_checked(body["ssl"]))
            return existing, None
        raise CloudflareError(400, 1400, "Request body is invalid.")

    def _hostname_create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("hostname"), str):
            raise CloudflareError(400, 1400, "The hostname field is required.")
        hostname = body["hostname"].lower().rstrip(".")
        if not HOSTNAME.match(hostname):
            raise CloudflareError(400, 1404, f"The custom hostname {hostname} is not a valid hostname.")
        if hostname == self.zone_name or hostname.endswith(f".{self.zone_name}"):
            raise CloudflareError(400, 1411, "A custom hostname cannot be the zone itself or a name within it.")
        if self.hostname(hostname) is not None or hostname in self.elsewhere:
            raise CloudflareError(409, 1406, "Duplicate custom hostname found.")
        ssl = self._ssl_checked(body.get("ssl", {"method": "http", "type": "dv"}))
        origin = self._origin_checked(body["custom_origin_server"]) if "custom_origin_server" in body else None
        ssl_id = str(uuid.uuid4())
        created = {
            "id": str(uuid.uuid4()), "hostname": hostname, "custom_origin_server": origin, "status": "pending",
            "created_at": _now(), "verification_errors": ["custom hostname does not CNAME to this zone."],
            "ownership_verification": {"type": "txt", "name": f"_cf-custom-hostname.{hostname}",
                                       "value": str(uuid.uuid4())},
            "ssl": {"id": ssl_id, "type": "dv", "method": ssl["method"], "status": "pending_validation",
                    "settings": ssl.get("settings", {}), "bundle_method": "ubiquitous", "wildcard": False,
                    "certificate_authority": "google", "validation_errors": None,
                    "validation_records": [{"txt_name": f"_acme-challenge.{hostname}",
                                            "txt_value": secrets.token_urlsafe(32), "status": "pending"}]},
        }  # fmt: skip
        self.hostnames[created["id"]] = created
        return created

    def _ssl_checked(self, ssl: Any) -> dict[str, Any]:
        if not isinstance(ssl, dict):
            raise CloudflareError(400, 1400, "ssl must be an object.")
        if ssl.get("method") not in SSL_METHODS:
            raise CloudflareError(400, 1413, f"SSL validation method must be one of {sorted(SSL_METHODS)}.")
        if ssl.get("type", "dv") != "dv":
            raise CloudflareError(400, 1414, "SSL type must be dv.")
        tls = (ssl.get("settings") or {}).get("min_tls_version", "1.0")
        if tls not in ("1.0", "1.1", "1.2", "1.3"):
            raise CloudflareError(400, 1415, "min_tls_version must be one of 1.0, 1.1, 1.2, 1.3.")
        return ssl

    def _origin_checked(self, origin: Any) -> str:
        name = origin.lower().rstrip(".") if isinstance(origin, str) else ""
        if name != self.zone_name and not name.endswith(f".{self.zone_name}"):
            raise CloudflareError(400, 1416, f"The custom origin server must be a hostname in {self.zone_name}.")
        # Cloudflare wants the origin to exist in the zone as an A, AAAA or CNAME record.
        if not any(r["name"] == name and r["type"] in PROXIABLE for r in self.records.values()):
            raise CloudflareError(400, 1417, f"The custom origin server {name} has no A, AAAA or CNAME record.")
        return name

    # Cache purges

    def _purge(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise CloudflareError(400, 9207, "Request body is invalid.")
        unknown = set(body) - set(PURGE_TARGETS)
        if unknown:
            raise CloudflareError(400, 1012, f"Unknown field: {sorted(unknown)[0]}")
        given = [target for target in PURGE_TARGETS if target in body]
        if not given:
            raise CloudflareError(
                400, 1012, 'Request must contain one of "purge_everything", "files", "tags", "hosts" or "prefixes"'
            )
        if len(given) > 1:
            raise CloudflareError(400, 1013, f"Only one of {', '.join(given)} may be given in a purge request")
        [target] = given
        if target == "purge_everything":
            if body[target] is not True:
                raise CloudflareError(400, 1016, "purge_everything must be true")
        else:
            items = body[target]
            if not isinstance(items, list) or not items:
                raise CloudflareError(400, 1014, '"files", "tags", or "hosts" must be an array')
            most = PURGE_FILES[self.plan] if target == "files" else PURGE_OTHERS
            if len(items) > most:
                raise CloudflareError(400, 1015, f"Only {most} {target} can be purged per request on this plan")
            for item in items:
                self._purge_target_checked(target, item)
        self._purge_spend()
        self.purged.append(body)
        return {"id": secrets.token_hex(16)}

    def _purge_target_checked(self, target: str, item: Any) -> None:
        if target == "files":
            url = item.get("url") if isinstance(item, dict) else item
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise CloudflareError(400, 1017, f"Invalid URL in files: {item!r}")
            if not self._serves(parts.hostname):
                raise CloudflareError(400, 1018, f"{url} is not within the zone {self.zone_name}")
        elif target == "hosts":
            if not isinstance(item, str) or not HOSTNAME.match(item) or not self._serves(item):
                raise CloudflareError(400, 1018, f"{item!r} is not a hostname of the zone {self.zone_name}")
        elif target == "prefixes":
            if not isinstance(item, str) or "://" in item or not self._serves(item.split("/", 1)[0]):
                raise CloudflareError(400, 1018, f"{item!r} is not a prefix (host/path) of the zone")
        elif not isinstance(item, str) or not item:
            raise CloudflareError(400, 1014, "tags must be strings")

    def _serves(self, hostname: str) -> bool:
        """A name of the zone, or one of its custom hostnames (whose pages it caches too)."""
        name = hostname.lower().rstrip(".")
        return name == self.zone_name or name.endswith(f".{self.zone_name}") or self.hostname(name) is not None

    def _purge_spend(self) -> None:
        """The plan's purge rate, per account, as a token bucket (429 once it is empty)."""
        per_second, size = PURGE_RATE[self.plan]
        now = time.monotonic()
        self._purge_bucket = min(size, self._purge_bucket + (now - self._purge_refilled) * per_second)
        self._purge_refilled = now
        if self._purge_bucket < 1:
            raise CloudflareError(429, 1134, "Rate limit for purge requests exceeded; please wait and try again.")
        self._purge_bucket -= 1

    # Lists

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], default: int,
              most: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
        try:
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", default))
        except ValueError:
            raise CloudflareError(400, 1004, "page and per_page must be integers") from None
        if page < 1 or not 5 <= per_page <= most:
            raise CloudflareError(400, 1004, f"per_page must be between 5 and {most}, page at least 1")
        chunk = items[(page - 1) * per_page : page * per_page]
        info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": len(items),
                "total_pages": -(-len(items) // per_page) or 1}  # fmt: skip
        return chunk, {"result_info": info}


def _is_ip(value: str, kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]) -> bool:
    try:
        kind(value)
    except ValueError:
        return False
    return True


def _content_checked(kind: str, content: Any) -> str:
    if not isinstance(content, str) or not content:
        raise _validation(9008, f"Content for {kind} record is invalid.")
    if kind == "A" and not _is_ip(content, ipaddress.IPv4Address):
        raise _validation(9005, "Content for A record must be a valid IPv4 address.")
    if kind == "AAAA" and not _is_ip(content, ipaddress.IPv6Address):
        raise _validation(9006, "Content for AAAA record must be a valid IPv6 address.")
    if kind == "CNAME":
        content = content.lower().rstrip(".")
        if not HOSTNAME.match(content):
            raise _validation(9007, "Content for CNAME record is invalid.")
    if kind == "TXT" and len(content) >= 2 and content[0] == content[-1] == '"':
        content = content[1:-1]  # kept unquoted: "abc" and abc are the same TXT value
    return content


def _matches(record: dict[str, Any], key: str, value: str) -> bool:
    """One list filter of the dns_records API (name filters are case-insensitive)."""
    name, wanted = record["name"], value.lower()
    if key in ("name", "name.exact"):
        return bool(name == wanted)
    if key == "name.contains":
        return wanted in name
    if key == "name.startswith":
        return bool(name.startswith(wanted))
    if key == "name.endswith":
        return bool(name.endswith(wanted))
    if key == "type":
        return bool(record["type"] == value)
    return bool(record["content"] == value)  # content, content.exact


class _Handler(BaseHTTPRequestHandler):
    api: ClassVar[FakeCloudflare]
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would delay the second

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = parse_qs(parts.query, keep_blank_values=True)
        status, body, extra = self.api.dispatch(self.command, parts.path, query, raw, headers)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("cf-ray", f"{secrets.token_hex(8)}-FAKE")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake's record of requests is `api.requests`."""
