"""Schemathesis drives every operation of the OpenAPI document with generated requests, valid and
not, as a tenant's admin key: no answer may be a server error, and every answer (status, media type,
body) must be one the document declares. Bounded: a fixed number of examples per operation."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tenants.models import Role

EXAMPLES_PER_OPERATION = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _document() -> dict:
    return SchemaGenerator(urlconf="aipress.urls_api_schema").get_schema(request=None, public=True)


schema = schemathesis.openapi.from_dict(_document())
application = get_wsgi_application()


@pytest.fixture
def admin_key(make_tenant, api_key_for):
    tenant = make_tenant(slug="contract")
    return tenant, api_key_for(tenant, role=Role.ADMIN)


# Bounded and repeatable: the same examples on every run, no example database between runs.
bounded = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@bounded
def test_every_operation_answers_as_documented(case, admin_key):
    tenant, key = admin_key
    response = case.call(app=application, headers={"Authorization": f"Bearer {key}", "Host": tenant.host})
    case.validate_response(response, checks=CHECKS)


@pytest.fixture
def staff_key(make_tenant):
    from tenants import services
    from tenants.audit import Actor
    from tenants.tests.factories import UserFactory

    make_tenant(slug="contract")
    staff = UserFactory(is_staff=True)
    _, raw = services.api_key_create(actor=Actor.of_user(staff), tenant=None, name="contract")
    return raw


@pytest.mark.django_db(transaction=True)
@schema.include(path_regex="^/api/v1/tenants/").parametrize()
@bounded
def test_every_staff_operation_answers_as_documented(case, staff_key):
    response = case.call(app=application, headers={"Authorization": f"Bearer {staff_key}", "Host": "aipress.localhost"})
    case.validate_response(response, checks=CHECKS)
