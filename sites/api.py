"""Thin API views for sites: parse, call a service or selector, serialize."""

from collections.abc import Callable

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from sites import env_vars, selectors, services
from sites.models import Site, SiteEnvVar
from sites.permissions import CanManageSites
from sites.serializers import (
    EnvVarSerializer,
    EnvVarWriteSerializer,
    SiteCreatedSerializer,
    SiteCreateSerializer,
    SiteEventSerializer,
    SiteSerializer,
    SiteUpdateSerializer,
)
from tenants.audit import Actor
from tenants.permissions import IsTenantMember


def _site(name: str) -> Site:
    site = selectors.site_get(name)
    if site is None:
        raise Http404
    return site


class SiteListApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember, CanManageSites]

    @extend_schema(responses=SiteSerializer(many=True), summary="Sites of the tenant")
    def get(self, request: Request) -> Response:
        return Response(SiteSerializer(selectors.site_list(), many=True, context={"tenant": request.tenant}).data)

    @extend_schema(
        request=SiteCreateSerializer,
        responses={202: SiteCreatedSerializer},
        summary="Create a site; it is provisioned in the background (watch /events/ or /ws/events/)",
    )
    def post(self, request: Request) -> Response:
        data = SiteCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        site, admin_password = services.site_request(
            actor=Actor.from_request(request),
            tenant=request.tenant,
            name=data.validated_data["name"],
            title=data.validated_data["title"],
        )
        body = SiteSerializer(site, context={"tenant": request.tenant}).data | {"admin_password": admin_password}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class SiteDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember, CanManageSites]

    @extend_schema(responses=SiteSerializer, summary="One site")
    def get(self, request: Request, name: str) -> Response:
        return Response(SiteSerializer(_site(name), context={"tenant": request.tenant}).data)

    @extend_schema(request=SiteUpdateSerializer, responses=SiteSerializer, summary="Change title or scaling")
    def patch(self, request: Request, name: str) -> Response:
        data = SiteUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        site = services.site_update(
            actor=Actor.from_request(request),
            site=_site(name),
            tenant=request.tenant,
            title=data.validated_data.get("title"),
            max_php_workers=data.validated_data.get("scaling", {}).get("max_php_workers"),
        )
        return Response(SiteSerializer(site, context={"tenant": request.tenant}).data)

    @extend_schema(responses={202: SiteSerializer}, summary="Delete a site and everything it owned")
    def delete(self, request: Request, name: str) -> Response:
        site = services.site_delete(actor=Actor.from_request(request), site=_site(name), tenant=request.tenant)
        return Response(SiteSerializer(site, context={"tenant": request.tenant}).data, status=status.HTTP_202_ACCEPTED)


def _site_action(service: Callable[..., Site], summary: str) -> type[APIView]:
    """A POST that applies one state change to a site (suspend, resume)."""

    class SiteActionApi(APIView):
        permission_classes = [IsAuthenticated, IsTenantMember, CanManageSites]

        @extend_schema(request=None, responses=SiteSerializer, summary=summary)
        def post(self, request: Request, name: str) -> Response:
            site = service(actor=Actor.from_request(request), site=_site(name), tenant=request.tenant)
            return Response(SiteSerializer(site, context={"tenant": request.tenant}).data)

    return SiteActionApi


SiteSuspendApi = _site_action(services.site_suspend, "Suspend a site (it answers 503)")
SiteResumeApi = _site_action(services.site_resume, "Resume a suspended site")


class SiteEventsApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(responses=SiteEventSerializer(many=True), summary="What happened to a site, newest first")
    def get(self, request: Request, name: str) -> Response:
        return Response(SiteEventSerializer(selectors.site_events(_site(name)), many=True).data)


def _env_body(var: SiteEnvVar) -> dict:
    return {
        "name": var.name,
        "value": env_vars.shown_value(var),
        "sensitive": var.sensitive,
        "updated_at": var.updated_at,
    }


class SiteEnvListApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(responses=EnvVarSerializer(many=True), summary="The site's env vars (sensitive values masked)")
    def get(self, request: Request, name: str) -> Response:
        site = _site(name)
        return Response([_env_body(v) for v in SiteEnvVar.objects.filter(site=site)])


class SiteEnvDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember, CanManageSites]

    def _var(self, site: Site, key: str) -> SiteEnvVar:
        var = SiteEnvVar.objects.filter(site=site, name=key).first()
        if var is None:
            raise Http404
        return var

    @extend_schema(responses=EnvVarSerializer, summary="One env var (masked when sensitive)")
    def get(self, request: Request, name: str, key: str) -> Response:
        return Response(_env_body(self._var(_site(name), key)))

    @extend_schema(
        request=EnvVarWriteSerializer, responses=EnvVarSerializer, summary="Set an env var; the site sees it at once"
    )
    def put(self, request: Request, name: str, key: str) -> Response:
        data = EnvVarWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        var = env_vars.env_set(
            actor=Actor.from_request(request),
            site=_site(name),
            tenant=request.tenant,
            name=key,
            value=data.validated_data["value"],
            sensitive=data.validated_data["sensitive"],
        )
        return Response(_env_body(var))

    @extend_schema(responses={204: None}, summary="Remove an env var")
    def delete(self, request: Request, name: str, key: str) -> Response:
        site = _site(name)
        self._var(site, key)
        env_vars.env_delete(actor=Actor.from_request(request), site=site, tenant=request.tenant, name=key)
        return Response(status=status.HTTP_204_NO_CONTENT)
