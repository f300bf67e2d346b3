"""Thin API views for sites: parse, call a service or selector as the request's actor, serialize.
Every change answers 202 with the operation that carries it out (and a Location to follow it)."""

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.api import validated
from sites import selectors, services
from sites.models import Site, SiteOperation
from sites.serializers import (
    EnvVarAcceptedSerializer,
    EnvVarSerializer,
    EnvVarWriteSerializer,
    OperationAcceptedSerializer,
    OperationSerializer,
    SiteAcceptedSerializer,
    SiteCreatedSerializer,
    SiteCreateSerializer,
    SiteEventSerializer,
    SiteSerializer,
    SiteUpdateSerializer,
    TenantSecretSerializer,
    TenantSecretWriteSerializer,
)
from tenants.audit import Actor
from tenants.permissions import IsTenantMember
from tenants.requests import tenant_of


def _accepted(request: Request, site: Site, operation: SiteOperation, **extra: Any) -> Response:
    operation.site = site
    body = SiteSerializer(site, context={"tenant": tenant_of(request)}).data | {
        "operation": OperationSerializer(operation).data,
        **extra,
    }
    response = Response(body, status=status.HTTP_202_ACCEPTED)
    response["Location"] = body["operation"]["url"]
    return response


def _site_now(request: Request, name: str) -> Site:
    return selectors.site_get(tenant=tenant_of(request), actor=Actor.from_request(request), name=name)


class SiteListApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(responses=SiteSerializer(many=True), summary="Sites of the tenant")
    def get(self, request: Request) -> Response:
        sites = selectors.site_list(tenant=tenant_of(request), actor=Actor.from_request(request))
        return Response(SiteSerializer(sites, many=True, context={"tenant": tenant_of(request)}).data)

    @extend_schema(
        request=SiteCreateSerializer,
        responses={202: SiteCreatedSerializer},
        summary="Create a site; it is provisioned in the background (follow its operation)",
    )
    def post(self, request: Request) -> Response:
        data = validated(SiteCreateSerializer, request)
        site, operation, admin_password = services.site_request(
            tenant=tenant_of(request), actor=Actor.from_request(request), name=data["name"], title=data["title"]
        )
        return _accepted(request, site, operation, admin_password=admin_password)


class SiteDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(responses=SiteSerializer, summary="One site")
    def get(self, request: Request, name: str) -> Response:
        return Response(SiteSerializer(_site_now(request, name), context={"tenant": tenant_of(request)}).data)

    @extend_schema(
        request=SiteUpdateSerializer, responses={202: SiteAcceptedSerializer}, summary="Change title or scaling"
    )
    def patch(self, request: Request, name: str) -> Response:
        data = validated(SiteUpdateSerializer, request)
        operation = services.site_update(
            tenant=tenant_of(request),
            actor=Actor.from_request(request),
            name=name,
            title=data.get("title"),
            max_php_workers=data.get("scaling", {}).get("max_php_workers"),
        )
        return _accepted(request, _site_now(request, name), operation)

    @extend_schema(responses={202: SiteAcceptedSerializer}, summary="Delete a site and everything it owned")
    def delete(self, request: Request, name: str) -> Response:
        operation = services.site_delete(tenant=tenant_of(request), actor=Actor.from_request(request), name=name)
        return _accepted(request, _site_now(request, name), operation)


def _site_action(service: Any, summary: str) -> type[APIView]:
    """A POST that asks for one change of a site's state (suspend, resume, retry)."""

    class SiteActionApi(APIView):
        permission_classes = [IsAuthenticated, IsTenantMember]

        @extend_schema(request=None, responses={202: SiteAcceptedSerializer}, summary=summary)
        def post(self, request: Request, name: str) -> Response:
            operation = service(tenant=tenant_of(request), actor=Actor.from_request(request), name=name)
            return _accepted(request, _site_now(request, name), operation)

    return SiteActionApi


SiteSuspendApi = _site_action(services.site_suspend, "Suspend a site (it answers 503)")
SiteResumeApi = _site_action(services.site_resume, "Resume a suspended site")
SiteRetryApi = _site_action(services.site_retry, "Run a failed site's steps again")


def _site_listing(selector: Any, serializer: type, summary: str) -> type[APIView]:
    """A GET of one list about a site (its events, its operations), newest first."""

    class SiteListingApi(APIView):
        permission_classes = [IsAuthenticated, IsTenantMember]

        @extend_schema(responses=serializer(many=True), summary=summary)
        def get(self, request: Request, name: str) -> Response:
            found = selector(tenant=tenant_of(request), actor=Actor.from_request(request), name=name)
            return Response(serializer(found, many=True).data)

    return SiteListingApi


SiteEventsApi = _site_listing(selectors.site_events, SiteEventSerializer, "What happened to a site, newest first")
SiteOperationListApi = _site_listing(
    selectors.site_operations, OperationSerializer, "The site's operations, newest first"
)


class SiteOperationDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(responses=OperationSerializer, summary="One operation: its state and the step it is at")
    def get(self, request: Request, name: str, operation_id: int) -> Response:
        operation = selectors.site_operation(
            tenant=tenant_of(request), actor=Actor.from_request(request), name=name, operation_id=operation_id
        )
        return Response(OperationSerializer(operation).data)


def _env_body(var: Any, shown: str) -> dict[str, Any]:
    return {
        "name": var.name,
        "value": shown,
        "sensitive": var.sensitive or bool(var.from_secret),
        "from_secret": var.from_secret or None,
        "updated_at": var.updated_at,
    }


class SiteEnvListApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(responses=EnvVarSerializer(many=True), summary="The site's env vars (sensitive values masked)")
    def get(self, request: Request, name: str) -> Response:
        env = selectors.site_env_vars(tenant=tenant_of(request), actor=Actor.from_request(request), name=name)
        return Response([_env_body(var, shown) for var, shown in env])


class SiteEnvDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(responses=EnvVarSerializer, summary="One env var (masked when sensitive)")
    def get(self, request: Request, name: str, key: str) -> Response:
        var, shown = selectors.site_env_var(
            tenant=tenant_of(request), actor=Actor.from_request(request), name=name, key=key
        )
        return Response(_env_body(var, shown))

    @extend_schema(
        request=EnvVarWriteSerializer,
        responses={202: EnvVarAcceptedSerializer},
        summary="Set an env var (a value, or from_secret: a tenant secret's); an operation applies it to the site",
    )
    def put(self, request: Request, name: str, key: str) -> Response:
        data = validated(EnvVarWriteSerializer, request)
        actor = Actor.from_request(request)
        if "from_secret" in data:
            var, operation = services.env_link_secret(
                tenant=tenant_of(request), actor=actor, name=name, key=key, secret=data["from_secret"]
            )
        else:
            var, operation = services.env_set(
                tenant=tenant_of(request),
                actor=actor,
                name=name,
                key=key,
                value=data["value"],
                sensitive=data["sensitive"],
            )
        var, shown = selectors.site_env_var(tenant=tenant_of(request), actor=actor, name=name, key=var.name)
        operation.site = var.site
        body = _env_body(var, shown) | {"operation": OperationSerializer(operation).data}
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["operation"]["url"]})

    @extend_schema(responses={202: OperationAcceptedSerializer}, summary="Remove an env var")
    def delete(self, request: Request, name: str, key: str) -> Response:
        operation = services.env_delete(
            tenant=tenant_of(request), actor=Actor.from_request(request), name=name, key=key
        )
        operation.site = _site_now(request, name)
        body = {"operation": OperationSerializer(operation).data}
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["operation"]["url"]})


# --- Tenant secrets: write-only values that env vars refer to by name --------------------------


class TenantSecretListApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(
        responses=TenantSecretSerializer(many=True), summary="The tenant's secrets: names, dates, users; no values"
    )
    def get(self, request: Request) -> Response:
        found = selectors.tenant_secrets(tenant=tenant_of(request), actor=Actor.from_request(request))
        return Response(TenantSecretSerializer(found, many=True).data)


class TenantSecretDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(
        request=TenantSecretWriteSerializer,
        responses={201: TenantSecretSerializer, 200: TenantSecretSerializer},
        summary="Set a secret (201 new, 200 replaced); the sites using it get the new value",
    )
    def put(self, request: Request, name: str) -> Response:
        data = validated(TenantSecretWriteSerializer, request)
        actor = Actor.from_request(request)
        secret, created = services.tenant_secret_set(
            tenant=tenant_of(request), actor=actor, name=name, value=data["value"]
        )
        found = selectors.tenant_secret(tenant=tenant_of(request), actor=actor, name=secret.name)
        if not created:
            return Response(TenantSecretSerializer(found).data)
        location = reverse("api-secret", kwargs={"name": secret.name})
        return Response(
            TenantSecretSerializer(found).data, status=status.HTTP_201_CREATED, headers={"Location": location}
        )

    @extend_schema(responses={204: None}, summary="Delete a secret (refused while an env var uses it)")
    def delete(self, request: Request, name: str) -> Response:
        services.tenant_secret_delete(tenant=tenant_of(request), actor=Actor.from_request(request), name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)
