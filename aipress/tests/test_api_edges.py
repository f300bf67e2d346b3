"""The API's edges: bodies it cannot read, bodies too large, paths that do not exist. Each answers
problem JSON that says what is wrong, in every mode, and changes nothing."""

import pytest
from django_tenants.utils import tenant_context

from sites.models import Site

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
WRITES = [
    ("post", "/api/v1/sites/"),
    ("patch", "/api/v1/sites/blog/"),
    ("put", "/api/v1/sites/blog/env/NAME/"),
    ("post", "/api/v1/members/"),
    ("patch", "/api/v1/members/1/"),
    ("post", "/api/v1/api-keys/"),
]


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_deeply_nested_json_is_a_400_problem(tenant, client_for, api_key_for, method, path):
    api = client_for(tenant, key=api_key_for(tenant))
    body = "[" * 5000 + "]" * 5000  # 10 KB
    response = api.generic(method.upper(), path, body, content_type="application/json")
    assert response.status_code in (400, 404)  # 404: no such object, found before the body is read
    assert response["Content-Type"] == PROBLEM
    if response.status_code == 400:
        assert "nested too deeply" in response.json()["detail"]


def test_a_body_over_the_limit_is_a_413_problem(tenant, client_for, api_key_for, settings):
    api = client_for(tenant, key=api_key_for(tenant))
    body = '{"name": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"}'
    response = api.generic("POST", "/api/v1/sites/", body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == PROBLEM
    assert "larger than" in response.json()["detail"]
    with tenant_context(tenant):
        assert not Site.objects.exists()


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("host", ["tenant", "public"])
def test_unknown_api_paths_are_problem_json_in_every_mode(tenant, client_for, api_key_for, settings, debug, host):
    settings.DEBUG = debug
    client = client_for(tenant if host == "tenant" else None)
    for path in ("/api/v1/nothing-here/", "/api/v2/sites/", "/api/v1/sites/not a slug/", "/api/v1/api-keys/-1/"):
        for method in ("get", "delete", "post"):
            response = getattr(client, method)(path)
            assert response.status_code in (401, 404), (path, method)
            assert response["Content-Type"] == PROBLEM, (path, method, debug)
