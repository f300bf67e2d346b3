"""A fake of the Cloud SQL Admin API v1: existing MySQL instances, their databases, and operations."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sites.tests.gcp.base import (
    ApiError,
    FakeApi,
    Handler,
    Request,
    Response,
    check_schema,
    invalid,
    load_discovery,
    not_found,
)

# MySQL identifiers as Cloud SQL accepts them for a database name.
DATABASE_NAME = re.compile(r"^[A-Za-z0-9_$]{1,64}$")
# Links in resources point at the real API, as Cloud SQL's do; clients use names, not links.
SELF_LINK_ROOT = "https://sqladmin.googleapis.com"
SYSTEM_DATABASES = ("information_schema", "mysql", "performance_schema", "sys")
CHARSETS = frozenset({"utf8mb4", "utf8mb3", "utf8", "latin1", "ascii", "binary", "utf16", "utf32", "ucs2"})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _SqlOperation:
    body: dict[str, Any]
    polls: int = 0
    # What happens to the databases when the operation completes.
    apply: tuple[str, str, str, dict[str, Any]] | None = None  # (action, instance key, database, resource)
    error: tuple[str, str] | None = None


class FakeCloudSql(FakeApi):
    """Cloud SQL Admin API v1 as `googleapiclient.discovery.build("sqladmin", "v1")` speaks it (paths
    under /v1/projects/..., the discovery document's rootUrl with an empty servicePath).

    Instances are given: `instances={"proj": ["shared-sql"]}` makes RUNNABLE MySQL 8.0 instances in
    `region`. Databases are created and deleted by operations that answer PENDING, then RUNNING, for
    `polls_before_done` polls, then DONE; the database appears (or goes) when its operation is done.
    A MySQL instance lists its system databases too, and refuses to drop them.

    Users are not the platform's business through this API (they would get cloudsqlsuperuser): requests
    to .../users are recorded and answered like Cloud SQL would, so tests can assert none was made."""

    legacy_errors = True
    error_domain = "sqladmin.googleapis.com"

    def __init__(
        self,
        *,
        instances: dict[str, list[str]] | None = None,
        region: str = "europe-west1",
        polls_before_done: int = 1,
        database_version: str = "MYSQL_8_0",
        one_operation_at_a_time: bool = False,
    ) -> None:
        # Cloud SQL runs one administrative operation at a time per instance; another one asked for
        # meanwhile is refused with 409 operationInProgress.
        self.one_operation_at_a_time = one_operation_at_a_time
        self.region = region
        self.polls_before_done = polls_before_done
        self.database_version = database_version
        self.doc = load_discovery("sqladmin.v1")
        self.instances: dict[str, dict[str, dict[str, Any]]] = {}
        for project, names in (instances or {}).items():
            for instance in names:
                self.instances[f"{project}/{instance}"] = {
                    db: self._database_json(project, instance, db, "utf8mb3", "utf8mb3_general_ci")
                    for db in SYSTEM_DATABASES
                }
        self.operations: dict[str, _SqlOperation] = {}
        self._operation_failures: list[tuple[str, str]] = []
        super().__init__()

    def routes(self) -> list[tuple[str, str, Handler]]:
        project = r"/v1/projects/(?P<project>[^/]+)"
        instance = project + r"/instances/(?P<instance>[^/]+)"
        return [
            ("GET", project + "/instances", self._list_instances),
            ("GET", instance, self._get_instance),
            ("POST", instance + "/databases", self._insert_database),
            ("GET", instance + "/databases", self._list_databases),
            ("GET", instance + r"/databases/(?P<database>[^/]+)", self._get_database),
            ("DELETE", instance + r"/databases/(?P<database>[^/]+)", self._delete_database),
            ("GET", project + r"/operations/(?P<operation>[^/]+)", self._get_operation),
            ("POST", instance + "/users", self._insert_user),
            ("GET", instance + "/users", self._list_users),
        ]

    # For tests

    def fail_next_operation(self, message: str, *, code: str = "ERROR_RDBMS") -> None:
        """The next operation started ends DONE with this error, and changes nothing."""
        with self.lock:
            self._operation_failures.append((code, message))

    def databases(self, project: str, instance: str) -> list[str]:
        with self.lock:
            return sorted(self.instances.get(f"{project}/{instance}", {}))

    # Instances

    def _instance_json(self, project: str, instance: str) -> dict[str, Any]:
        return {
            "kind": "sql#instance",
            "name": instance,
            "project": project,
            "region": self.region,
            "gceZone": f"{self.region}-b",
            "state": "RUNNABLE",
            "databaseVersion": self.database_version,
            "backendType": "SECOND_GEN",
            "instanceType": "CLOUD_SQL_INSTANCE",
            "connectionName": f"{project}:{self.region}:{instance}",
            "selfLink": f"{SELF_LINK_ROOT}/v1/projects/{project}/instances/{instance}",
            "settings": {
                "kind": "sql#settings",
                "tier": "db-custom-2-7680",
                "activationPolicy": "ALWAYS",
                "availabilityType": "ZONAL",
                "dataDiskType": "PD_SSD",
                "dataDiskSizeGb": "10",
                "ipConfiguration": {
                    "ipv4Enabled": False,
                    "privateNetwork": f"projects/{project}/global/networks/default",
                },
                "settingsVersion": "1",
            },
            "ipAddresses": [{"type": "PRIVATE", "ipAddress": "10.0.0.3"}],
            "serviceAccountEmailAddress": "p123456789012-abc@gcp-sa-cloud-sql.iam.gserviceaccount.com",
            "etag": "e" * 16,
        }

    def _find_instance(self, project: str, instance: str) -> dict[str, dict[str, Any]]:
        databases = self.instances.get(f"{project}/{instance}")
        if databases is None:
            raise ApiError(404, "The Cloud SQL instance does not exist.", reason="instanceDoesNotExist")
        return databases

    def _list_instances(self, request: Request, project: str) -> Response:
        items = [
            self._instance_json(project, key.split("/", 1)[1])
            for key in sorted(self.instances)
            if key.startswith(f"{project}/")
        ]
        body: dict[str, Any] = {"kind": "sql#instancesList"}
        if items:
            body["items"] = items
        return Response(200, body)

    def _get_instance(self, request: Request, project: str, instance: str) -> Response:
        self._find_instance(project, instance)
        return Response(200, self._instance_json(project, instance))

    # Databases

    def _database_json(self, project: str, instance: str, name: str, charset: str, collation: str) -> dict[str, Any]:
        return {
            "kind": "sql#database",
            "charset": charset,
            "collation": collation,
            "etag": uuid.uuid4().hex[:16],
            "name": name,
            "instance": instance,
            "selfLink": f"{SELF_LINK_ROOT}/v1/projects/{project}/instances/{instance}/databases/{name}",
            "project": project,
        }

    def _insert_database(self, request: Request, project: str, instance: str) -> Response:
        databases = self._find_instance(project, instance)
        body = check_schema(request.body or {}, {"$ref": "Database"}, self.doc, "")
        name = body.get("name") or ""
        if not name:
            raise invalid("name", "Invalid request: Missing database name.")
        if not DATABASE_NAME.fullmatch(name) or name.isdigit():
            raise invalid(
                "name",
                f"Invalid request: Invalid database name '{name}': 1-64 characters of letters, digits, '_' and '$', "
                "not only digits.",
            )
        charset = body.get("charset") or "utf8mb4"
        collation = body.get("collation") or ("utf8mb4_0900_ai_ci" if charset == "utf8mb4" else f"{charset}_general_ci")
        if charset not in CHARSETS:
            raise invalid("charset", f"Invalid request: Unknown character set: '{charset}'.")
        if not (collation.startswith(f"{charset}_") or (charset == "binary" and collation == "binary")):
            raise invalid(
                "collation", f"Invalid request: COLLATION '{collation}' is not valid for CHARACTER SET '{charset}'."
            )
        # Cloud SQL answers a database that exists (or is being created) synchronously, as an invalid request.
        if name in databases or self._pending(project, instance, name, "create"):
            raise invalid(
                "name",
                f"Invalid request: failed to create database {name}. Detail: Can't create database '{name}'; "
                "database exists.",
            )
        resource = self._database_json(project, instance, name, charset, collation)
        return self._start(project, instance, "CREATE_DATABASE", ("create", f"{project}/{instance}", name, resource))

    def _get_database(self, request: Request, project: str, instance: str, database: str) -> Response:
        # The fake's clock: reading a database counts as a poll of its unfinished operations, so a
        # caller that lost an operation's name (a worker killed) still sees it finish, as with time.
        for operation in list(self.operations.values()):
            apply = operation.apply
            if apply and apply[1:3] == (f"{project}/{instance}", database) and operation.body["status"] != "DONE":
                operation.polls += 1
                if operation.polls > self.polls_before_done:
                    self._finish(operation)
        databases = self._find_instance(project, instance)
        if database not in databases:
            raise not_found(f"The database {database} does not exist in the instance {instance}.")
        return Response(200, databases[database])

    def _list_databases(self, request: Request, project: str, instance: str) -> Response:
        databases = self._find_instance(project, instance)
        return Response(200, {"kind": "sql#databasesList", "items": [databases[d] for d in sorted(databases)]})

    def _delete_database(self, request: Request, project: str, instance: str, database: str) -> Response:
        databases = self._find_instance(project, instance)
        if database not in databases:
            raise not_found(f"The database {database} does not exist in the instance {instance}.")
        if database in SYSTEM_DATABASES:
            raise invalid("database", f"Invalid request: Deleting the system database {database} is not allowed.")
        return self._start(project, instance, "DELETE_DATABASE", ("delete", f"{project}/{instance}", database, {}))

    def _pending(self, project: str, instance: str, database: str, action: str) -> bool:
        key = f"{project}/{instance}"
        return any(
            op.apply is not None and op.apply[:3] == (action, key, database) and op.body["status"] != "DONE"
            for op in self.operations.values()
        )

    # Users (recorded; the platform must not call these)

    def _insert_user(self, request: Request, project: str, instance: str) -> Response:
        self._find_instance(project, instance)
        check_schema(request.body or {}, {"$ref": "User"}, self.doc, "")
        return self._start(project, instance, "CREATE_USER", None)

    def _list_users(self, request: Request, project: str, instance: str) -> Response:
        self._find_instance(project, instance)
        root = {"kind": "sql#user", "name": "root", "host": "%", "instance": instance, "project": project}
        return Response(200, {"kind": "sql#usersList", "items": [root]})

    # Operations

    def _start(
        self, project: str, instance: str, kind: str, apply: tuple[str, str, str, dict[str, Any]] | None
    ) -> Response:
        busy = [
            op
            for op in self.operations.values()
            if op.body["status"] != "DONE" and op.body["targetId"] == instance and op.body["targetProject"] == project
        ]
        if self.one_operation_at_a_time and busy:
            raise ApiError(
                409,
                "Operation failed because another operation was already in progress. Try your request after the "
                "current operation is complete.",
                reason="operationInProgress",
            )
        name = str(uuid.uuid4())
        body = {
            "kind": "sql#operation",
            "targetLink": f"{SELF_LINK_ROOT}/v1/projects/{project}/instances/{instance}",
            "status": "PENDING",
            "user": "anonymous@fake.test",
            "insertTime": _now(),
            "operationType": kind,
            "name": name,
            "targetId": instance,
            "selfLink": f"{SELF_LINK_ROOT}/v1/projects/{project}/operations/{name}",
            "targetProject": project,
        }
        operation = _SqlOperation(body, apply=apply)
        if self._operation_failures:
            operation.error = self._operation_failures.pop(0)
        self.operations[f"{project}/{name}"] = operation
        return Response(200, body)

    def _get_operation(self, request: Request, project: str, operation: str) -> Response:
        found = self.operations.get(f"{project}/{operation}")
        if found is None:
            raise ApiError(404, f"The Cloud SQL operation {operation} does not exist.", reason="operationDoesNotExist")
        body = found.body
        if body["status"] != "DONE":
            found.polls += 1
            if found.polls > self.polls_before_done:
                self._finish(found)
            else:
                body["status"] = "RUNNING" if found.polls > 1 or self.polls_before_done == 1 else "PENDING"
                body.setdefault("startTime", _now())
        return Response(200, body)

    def _finish(self, operation: _SqlOperation) -> None:
        body = operation.body
        body["status"] = "DONE"
        body.setdefault("startTime", _now())
        body["endTime"] = _now()
        if operation.error is not None:
            code, message = operation.error
            body["error"] = {
                "kind": "sql#operationErrors",
                "errors": [{"kind": "sql#operationError", "code": code, "message": message}],
            }
            return
        if operation.apply is None:
            return
        action, key, database, resource = operation.apply
        databases = self.instances.get(key)
        if databases is None:
            return
        if action == "create":
            databases[database] = resource
        else:
            databases.pop(database, None)
