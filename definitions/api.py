"""Tenant definitions over the API: create, apply, plan, read and delete tenants as code.

The body is read here, not by DRF's parsers, so that YAML and JSON alike keep their line numbers
for errors. Staff (public host, staff keys) act on any tenant; an owner's key acts on its own tenant
only (the key routes the request to its tenant's host) and never creates one."""

import json
from typing import Any

import yaml
from django.db import connection
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from definitions import selectors, services
from definitions.models import ApplicationState
from definitions.parsing import DefinitionInvalid, Problem, parse_definition
from definitions.schema import tenant_schema
from definitions.services import Applied, Planned
from definitions.spec import TenantSpec
from kernel.problems import PROBLEM_CONTENT_TYPE, problem
from sites.models import UNFINISHED_STATES
from tenants.api import StaffTenantListApi
from tenants.audit import Actor
from tenants.models import Tenant
from tenants.requests import tenant_of
from tenants.serializers import TenantSerializer

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
BODY_TYPES = ("application/json", *YAML_TYPES)
DEFINITION_BODY = {
    "application/yaml": {"type": "object", "description": "A tenant definition (see /api/v1/schemas/tenant.json)"},
    "application/json": {"type": "object", "description": "A tenant definition (see /api/v1/schemas/tenant.json)"},
}


INVALID = OpenApiResponse(description="The definition is not valid: problem JSON whose `errors` name line and field")
NOT_YAML_OR_JSON = OpenApiResponse(description="The body is neither YAML nor JSON")


class YamlRenderer(BaseRenderer):
    """GET with `Accept: application/yaml`: the definition as a file holds it."""

    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code >= 400:
            # Errors stay problem JSON, as their Content-Type says, whatever was asked for.
            return JSONRenderer().render(data)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _problem(request: Request, status_code: int, detail: str, **extra: Any) -> Response:
    body = problem(status_code, detail, instance=request.get_full_path(), **extra)
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def _invalid(request: Request, exc: DefinitionInvalid) -> Response:
    return _problem(
        request,
        400,
        "The definition is not valid; see `errors` (each names the line and the field).",
        code="invalid-definition",
        errors=[p.as_error() for p in exc.problems],
    )


def _source(request: Request) -> str:
    """The file the CLI read the body from, for its messages (`X-Definition-Source`), as plain text."""
    named = request.headers.get("X-Definition-Source", "")
    cleaned = "".join(character for character in named if character.isprintable())[:200]
    return cleaned or "request body"


def _spec_of(request: Request) -> TenantSpec:
    source = _source(request)
    media_type = (request.content_type or "").split(";")[0].strip().lower()
    if media_type not in BODY_TYPES:
        raise _Refused(
            _problem(
                request,
                415,
                "Send the definition as YAML (application/yaml) or JSON (application/json), "
                f"not {media_type or 'no type'}.",
            )
        )
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise DefinitionInvalid([Problem(source, None, "", "the body is not UTF-8 text")]) from None
    return parse_definition(text, source=source)


def _legacy_body(request: Request) -> bool:
    """The older body of POST /tenants/ ({"slug", "owner_email"}), not a definition."""
    media_type = (request.content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        return False
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(body, dict) and "slug" in body and not {"apiVersion", "kind", "metadata", "spec"} & set(body)


def _spec_named(request: Request, tenant: str) -> TenantSpec:
    """The definition in the body, for the tenant the URL names (PUT and plan)."""
    spec = _spec_of(request)
    if spec.name != tenant:
        problem = Problem(
            spec.source,
            spec.line_of(("metadata", "name")),
            "metadata.name",
            f"“{spec.name}” differs from the tenant in the URL, “{tenant}”",
        )
        raise DefinitionInvalid([problem])
    return spec


def _application_url(request: Request, application_id: int, slug: str) -> str:
    return request.build_absolute_uri(f"/api/v1/tenants/{slug}/applications/{application_id}/")


def application_document(request: Request, application: Any) -> dict[str, Any]:
    operations = selectors.application_operations(application)
    running = any(entry.get("state") in UNFINISHED_STATES for entry in operations)
    return {
        "id": application.pk,
        "url": _application_url(request, application.pk, application.tenant_slug),
        "tenant": application.tenant_slug,
        "state": application.state,
        "done": application.state != ApplicationState.WAITING and not running,
        "error": application.error,
        "created_at": application.created_at,
        "finished_at": application.finished_at,
        "requested_by": application.requested_by_label,
        "changes": application.changes,
        "operations": operations,
    }


def _applied(request: Request, applied: Applied) -> Response:
    document = application_document(request, applied.application)
    body = {
        "tenant": applied.plan.tenant,
        "summary": applied.plan.summary(),
        "application": document,
        "warnings": applied.warnings,
        "follow": document["url"] if not document["done"] else "",
    }
    code = status.HTTP_202_ACCEPTED if not document["done"] else status.HTTP_200_OK
    headers = {"Location": document["url"]} if code == status.HTTP_202_ACCEPTED else {}
    return Response(body, status=code, headers=headers)


def _planned(planned: Planned) -> dict[str, Any]:
    return {**planned.plan.as_dict(), "warnings": planned.warnings}


def _same_host_tenant(request: Request, slug: str) -> None:
    """On a tenant's host (an owner's key, a signed-in owner) only that tenant's name is found."""
    here = getattr(connection, "tenant", None)
    if isinstance(here, Tenant) and here.schema_name != "public" and here.slug != slug:
        raise Http404


class TenantDefinitionCollectionApi(StaffTenantListApi):
    """GET lists tenants (staff); POST creates one from a definition (staff). The older body
    {"slug", "name", "owner_email"} still creates a bare tenant."""

    @extend_schema(
        request=DEFINITION_BODY,
        responses={202: OpenApiTypes.OBJECT, 400: INVALID, 415: NOT_YAML_OR_JSON},
        summary="Create a tenant from a definition (staff)",
    )
    def post(self, request: Request) -> Response:
        if _legacy_body(request):
            return super().post(request)
        try:
            spec = _spec_of(request)
            applied = services.definition_apply(actor=Actor.from_request(request), spec=spec, create=True)
        except DefinitionInvalid as exc:
            return _invalid(request, exc)
        except _Refused as refused:
            return refused.response
        return _applied(request, applied)

    def get(self, request: Request) -> Response:
        if request.query_params.get("managed") in ("1", "true"):
            return Response({"managed": selectors.managed_tenant_slugs()})
        return super().get(request)


class TenantHostCollectionApi(APIView):
    """On a tenant's host `tenants/` exists only to say no: owners never create tenants."""

    permission_classes = [IsAuthenticated]

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        return _problem(request, 403, "Only platform staff can create organisations; use a staff API key.")

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        raise Http404


class TenantDefinitionApi(APIView):
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer, YamlRenderer]

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        summary="The tenant as a definition (YAML with Accept: application/yaml), plus its status",
    )
    def get(self, request: Request, tenant: str) -> Response:
        _same_host_tenant(request, tenant)
        found = services.tenant_for_definition(actor=Actor.from_request(request), name=tenant)
        state = selectors.tenant_state(found)
        document = state.spec.document()
        if isinstance(request.accepted_renderer, YamlRenderer):
            return Response(document)  # a file to keep in git: no status
        document["status"] = {
            **TenantSerializer(found).data,
            **state.status_document(),
            "warnings": state.warnings(),
        }
        return Response(document)

    @extend_schema(
        request=DEFINITION_BODY,
        responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT, 400: INVALID, 415: NOT_YAML_OR_JSON},
        summary="Apply a full definition to the tenant",
    )
    def put(self, request: Request, tenant: str) -> Response:
        _same_host_tenant(request, tenant)
        try:
            spec = _spec_named(request, tenant)
            applied = services.definition_apply(actor=Actor.from_request(request), spec=spec, create=False)
        except DefinitionInvalid as exc:
            return _invalid(request, exc)
        except _Refused as refused:
            return refused.response
        return _applied(request, applied)

    @extend_schema(responses={202: OpenApiTypes.OBJECT}, summary="Delete the tenant with all its sites (staff)")
    def delete(self, request: Request, tenant: str) -> Response:
        _same_host_tenant(request, tenant)
        deleted = services.definition_delete(actor=Actor.from_request(request), name=tenant)
        return Response(
            {"tenant": deleted.slug, "status": deleted.status, "detail": "Its sites are deleted first, then its data."},
            status=status.HTTP_202_ACCEPTED,
        )


class TenantPlanApi(APIView):
    permission_classes = [IsAuthenticated]
    # It changes nothing: a read-only key may plan.
    read_key_methods = ("POST",)

    @extend_schema(
        request=DEFINITION_BODY,
        responses={200: OpenApiTypes.OBJECT, 400: INVALID, 415: NOT_YAML_OR_JSON},
        summary="What applying a definition would change, changing nothing",
    )
    def post(self, request: Request, tenant: str) -> Response:
        _same_host_tenant(request, tenant)
        try:
            spec = _spec_named(request, tenant)
            planned = services.definition_plan(actor=Actor.from_request(request), spec=spec)
        except DefinitionInvalid as exc:
            return _invalid(request, exc)
        except _Refused as refused:
            return refused.response
        return Response(_planned(planned))


class ApplicationApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="How an application of a definition is going")
    def get(self, request: Request, tenant: str, application_id: int) -> Response:
        _same_host_tenant(request, tenant)
        actor = Actor.from_request(request)
        application = selectors.application_get(tenant_slug=tenant, application_id=application_id)
        if application is None:
            raise Http404
        if not (actor.is_staff or actor.is_system):
            here = getattr(connection, "tenant", None)
            if not isinstance(here, Tenant) or here.schema_name == "public":
                raise Http404
            here_tenant = tenant_of(request)
            if application.tenant_id != here_tenant.pk:
                raise Http404
            services.require_owner(actor, here_tenant)
        return Response(application_document(request, application))


class TenantSchemaApi(APIView):
    """The JSON Schema of a definition: public, for editors and CI linters."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="The JSON Schema of a tenant definition")
    def get(self, request: Request) -> Response:
        return Response(tenant_schema())
