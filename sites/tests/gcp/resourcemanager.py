"""A fake of the Cloud Resource Manager API v1: a project's IAM policy, as
`googleapiclient.discovery.build("cloudresourcemanager", "v1")` speaks it.

It refuses what Google refuses: a conditional binding in a policy below version 3, a condition without
a title or an expression, a malformed role or member, a service account that does not exist (when an
IAM fake is linked), and a write whose etag is not the current one (409 ABORTED: someone changed the
policy meanwhile; read it again)."""

from __future__ import annotations

import re
from typing import Any

from sites.tests.gcp.base import ApiError, FakeApi, Handler, Request, Response, check_schema, invalid, load_discovery
from sites.tests.gcp.base import policy_etag as etag_of
from sites.tests.gcp.iam import FakeIam

ROLE = re.compile(r"^(roles/[a-zA-Z0-9_.]+|projects/[^/]+/roles/[a-zA-Z0-9_.]+)$")
MEMBER = re.compile(r"^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group|domain):[^\s]+)$")


class FakeResourceManager(FakeApi):
    legacy_errors = True
    error_domain = "cloudresourcemanager.googleapis.com"

    def __init__(self, *, projects: tuple[str, ...] = ("aipress-test",), iam: FakeIam | None = None) -> None:
        self.doc = load_discovery("cloudresourcemanager.v1")
        self.iam = iam
        self.generation = 1
        self.policies: dict[str, dict[str, Any]] = {
            project: {"version": 1, "bindings": [{"role": "roles/owner", "members": ["user:admin@example.com"]}]}
            for project in projects
        }
        super().__init__()

    def routes(self) -> list[tuple[str, str, Handler]]:
        project = r"/v1/projects/(?P<project>[^/:]+)"
        return [
            ("POST", project + ":getIamPolicy", self._get),
            ("POST", project + ":setIamPolicy", self._set),
        ]

    def _policy(self, project: str) -> dict[str, Any]:
        if project not in self.policies:
            raise ApiError(
                403, f"The caller does not have permission on project {project}.", status="PERMISSION_DENIED"
            )
        return self.policies[project]

    def _get(self, request: Request, project: str) -> Response:
        body = check_schema(request.body or {}, {"$ref": "GetIamPolicyRequest"}, self.doc, "")
        policy = self._policy(project)
        requested = int((body.get("options") or {}).get("requestedPolicyVersion") or 1)
        if requested < 3 and any("condition" in b for b in policy["bindings"]):
            # Google answers version 1 with conditions stripped and titles appended; a caller that then
            # writes it back would lose them. The platform must ask for 3.
            raise invalid("options.requested_policy_version", "The policy has conditional bindings: ask for 3.")
        return Response(200, {**policy, "etag": etag_of(self.generation)})

    def _set(self, request: Request, project: str) -> Response:
        body = check_schema(request.body or {}, {"$ref": "SetIamPolicyRequest"}, self.doc, "")
        self._policy(project)
        policy = body.get("policy") or {}
        if policy.get("etag") and policy["etag"] != etag_of(self.generation):
            raise ApiError(
                409,
                "There were concurrent policy changes. Please retry the whole read-modify-write with exponential "
                "backoff.",
                status="ABORTED",
            )
        version = int(policy.get("version") or 1)
        bindings = policy.get("bindings") or []
        for index, binding in enumerate(bindings):
            self._check_binding(binding, f"policy.bindings[{index}]", version)
        self.generation += 1
        self.policies[project] = {"version": version, "bindings": bindings}
        return Response(200, {**self.policies[project], "etag": etag_of(self.generation)})

    def _check_binding(self, binding: dict[str, Any], where: str, version: int) -> None:
        role = binding.get("role", "")
        if not ROLE.fullmatch(role):
            raise invalid(f"{where}.role", f"Role ({role}) does not exist or is malformed.")
        members = binding.get("members") or []
        if not members:
            raise invalid(f"{where}.members", f"Policy binding of {role} has no members.")
        for member in members:
            if not MEMBER.fullmatch(member):
                raise invalid(f"{where}.members", f"Invalid member in the policy binding: {member}.")
            email = member.removeprefix("serviceAccount:")
            if self.iam is not None and member.startswith("serviceAccount:") and email not in self.iam.accounts:
                raise invalid(f"{where}.members", f"Service account {email} does not exist.")
        condition = binding.get("condition")
        if condition is not None:
            if version < 3:
                raise invalid("policy.version", "A policy with conditional role bindings must be version 3.")
            if not condition.get("title") or not condition.get("expression"):
                raise invalid(f"{where}.condition", "A condition needs a title and an expression.")

    def bindings(self, project: str, role: str) -> list[dict[str, Any]]:
        """The project's bindings of `role` (for tests)."""
        with self.lock:
            return [b for b in self.policies[project]["bindings"] if b["role"] == role]
