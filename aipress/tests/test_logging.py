"""Logs are JSON lines that carry request id, tenant and user, and never a secret."""

import io
import json
import logging

import pytest

from kernel.logging import JsonFormatter, RedactSecretsFilter
from kernel.request_context import ContextFilter


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecretsFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.django_db
def test_request_log_line_names_request_tenant_and_user(tenant, owner, client_for, log_lines):
    response = client_for(tenant, user=owner).get("/api/v1/members/999999/", HTTP_X_REQUEST_ID="req-abc-123")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-abc-123"
    line = next(entry for entry in log_lines() if entry["logger"] == "django.request")
    assert (line["request_id"], line["tenant"], line["user"], line["level"]) == (
        "req-abc-123",
        "acme",
        str(owner.pk),
        "WARNING",
    )


@pytest.mark.django_db
def test_unsafe_request_id_is_replaced(client_for):
    response = client_for(None).get("/healthz", HTTP_X_REQUEST_ID="<script>")
    assert response["X-Request-ID"] != "<script>"
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_no_key_or_password_reaches_the_logs(tenant, owner, client_for, log_lines):
    api = client_for(tenant, user=owner)
    created = api.post("/api/v1/api-keys/", {"name": "ci"}, format="json").json()["key"]
    client_for(tenant, key=created + "x").get("/api/v1/tenant/")  # a failing key is logged as a 401
    client_for(None).post("/accounts/login/", {"login": owner.email, "password": "hunter2-wrong-password"})
    logging.getLogger("aipress.test").info("careless code logged %s with password=%s", created, "hunter2")
    text = json.dumps(log_lines())
    assert "Unauthorized" in text  # the lines are there...
    assert created not in text  # ...without the key
    assert "hunter2" not in text
    assert "aip_[REDACTED]" in text


SCRIPT_WITH_DEBUG = """
import django
django.setup()
from django.test import Client
from tenants.tokens import new_api_key
key, _ = new_api_key()
print(key, flush=True)
client = Client(HTTP_HOST="aipress.localhost")
client.get(f"/api/v1/sites/{key}/", HTTP_AUTHORIZATION=f"Bearer {key}")
client.get(f"/no-such-page/{key}/")
"""


@pytest.mark.django_db(transaction=True)
def test_with_debug_on_no_handler_prints_a_key():
    """DEBUG used to add Django's own console handler, which printed full keys from URL paths."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    from conftest import database_url_of_this_run

    result = subprocess.run(
        [sys.executable, "-c", SCRIPT_WITH_DEBUG],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DJANGO_DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "aipress.settings",
            "LOG_LEVEL": "DEBUG",
            "DATABASE_URL": database_url_of_this_run(),
            "DATABASE_POOL": "0",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    key = result.stdout.split()[0]
    assert "Not Found" in result.stderr  # the requests were logged...
    assert key not in result.stderr  # ...without the key, by every handler
    assert key.rsplit("_", 1)[1] not in result.stderr
