"""A fake of the IAM API v1, service accounts only."""

from __future__ import annotations

import random
import re
from typing import Any

from sites.tests.gcp.base import (
    FakeApi,
    Handler,
    Request,
    Response,
    already_exists,
    check_schema,
    invalid,
    load_discovery,
    not_found,
    paginate,
)

ACCOUNT_ID = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])$")


class FakeIam(FakeApi):
    """IAM API v1 service accounts, as `googleapiclient.discovery.build("iam", "v1")` speaks it.

    An account's email is {accountId}@{project}.iam.gserviceaccount.com; it can be read by email or by
    uniqueId, under its project or under `projects/-`."""

    legacy_errors = True
    error_domain = "iam.googleapis.com"

    def __init__(self) -> None:
        self.doc = load_discovery("iam.v1")
        self.accounts: dict[str, dict[str, Any]] = {}  # by email
        self._random = random.Random(4)  # ids, not secrets
        super().__init__()

    def routes(self) -> list[tuple[str, str, Handler]]:
        project = r"/v1/projects/(?P<project>[^/]+)"
        return [
            ("POST", project + "/serviceAccounts", self._create),
            ("GET", project + "/serviceAccounts", self._list),
            ("GET", project + r"/serviceAccounts/(?P<account>[^/:]+)", self._get),
            ("DELETE", project + r"/serviceAccounts/(?P<account>[^/:]+)", self._delete),
        ]

    def _create(self, request: Request, project: str) -> Response:
        body = check_schema(request.body or {}, {"$ref": "CreateServiceAccountRequest"}, self.doc, "")
        account_id = body.get("accountId") or ""
        if not (6 <= len(account_id) <= 30 and ACCOUNT_ID.fullmatch(account_id)):
            raise invalid(
                "account_id",
                f"Invalid account ID '{account_id}': it must be 6-30 characters long and match "
                "[a-z]([-a-z0-9]*[a-z0-9]).",
            )
        if project == "-":
            raise invalid("name", "A project id is required to create a service account.")
        details = body.get("serviceAccount") or {}
        display_name = details.get("displayName", "")
        if len(display_name) > 100:
            raise invalid("service_account.display_name", "The display name must be at most 100 characters.")
        if len(details.get("description", "")) > 256:
            raise invalid("service_account.description", "The description must be at most 256 characters.")
        email = f"{account_id}@{project}.iam.gserviceaccount.com"
        if email in self.accounts:
            raise already_exists(f"Service account {account_id} already exists within project projects/{project}.")
        unique_id = str(self._random.randrange(10**20, 10**21))
        account = {
            "name": f"projects/{project}/serviceAccounts/{email}",
            "projectId": project,
            "uniqueId": unique_id,
            "email": email,
            "etag": "MDEwMjE5MjA=",
            "oauth2ClientId": unique_id,
        }
        # Only display name and description are the caller's; the rest IAM sets.
        if display_name:
            account["displayName"] = display_name
        if details.get("description"):
            account["description"] = details["description"]
        self.accounts[email] = account
        return Response(200, account)

    def _find(self, project: str, account: str) -> dict[str, Any]:
        for found in self.accounts.values():
            if account in (found["email"], found["uniqueId"]) and project in ("-", found["projectId"]):
                return found
        raise not_found(f"Unknown service account: projects/{project}/serviceAccounts/{account}")

    def _get(self, request: Request, project: str, account: str) -> Response:
        return Response(200, self._find(project, account))

    def _delete(self, request: Request, project: str, account: str) -> Response:
        found = self._find(project, account)
        del self.accounts[found["email"]]
        return Response(200, {})

    def _list(self, request: Request, project: str) -> Response:
        accounts = [a for _, a in sorted(self.accounts.items()) if a["projectId"] == project]
        page, token = paginate(accounts, request)
        body: dict[str, Any] = {}
        if page:
            body["accounts"] = page
        if token:
            body["nextPageToken"] = token
        return Response(200, body)
