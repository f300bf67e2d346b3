"""Thin API views for a site's domains: parse, call a service or selector as the request's actor,
serialize. Adding answers 201 with the records to create; the check runs in the background."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dns import selectors, services
from dns.serializers import DomainCreateSerializer, DomainSerializer, domain_body
from kernel.api import validated
from sites import selectors as site_selectors
from tenants.audit import Actor
from tenants.permissions import IsTenantMember
from tenants.requests import tenant_of


def _runtime(request: Request, site: str) -> str:
    return site_selectors.site_get(tenant=tenant_of(request), actor=Actor.from_request(request), name=site).runtime


def _body(request: Request, site: str, domain: Any) -> dict[str, Any]:
    return domain_body(domain, runtime=_runtime(request, site))


class DomainListApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(responses=DomainSerializer(many=True), summary="The site's own domains and their status")
    def get(self, request: Request, name: str) -> Response:
        domains = selectors.domain_list(tenant=tenant_of(request), actor=Actor.from_request(request), site=name)
        runtime = _runtime(request, name)
        return Response([domain_body(domain, runtime=runtime) for domain in domains])

    @extend_schema(
        request=DomainCreateSerializer,
        responses={201: DomainSerializer},
        summary="Add a domain to the site: the answer lists the records to create; it is checked in the background",
    )
    def post(self, request: Request, name: str) -> Response:
        data = validated(DomainCreateSerializer, request)
        domain = services.domain_add(
            tenant=tenant_of(request), actor=Actor.from_request(request), site=name, domain=data["domain"]
        )
        return Response(_body(request, name, domain), status=status.HTTP_201_CREATED)


class DomainDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(responses=DomainSerializer, summary="One domain: ownership, DNS and certificate status")
    def get(self, request: Request, name: str, domain: str) -> Response:
        found = selectors.domain_get(
            tenant=tenant_of(request), actor=Actor.from_request(request), domain=domain, site=name
        )
        return Response(_body(request, name, found))

    @extend_schema(request=None, responses={204: None}, summary="Remove a domain: the site stops answering on it")
    def delete(self, request: Request, name: str, domain: str) -> Response:
        services.domain_remove(tenant=tenant_of(request), actor=Actor.from_request(request), domain=domain, site=name)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DomainVerifyApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(request=None, responses={202: DomainSerializer}, summary="Check the domain's records now")
    def post(self, request: Request, name: str, domain: str) -> Response:
        found = services.domain_verify_request(
            tenant=tenant_of(request), actor=Actor.from_request(request), domain=domain, site=name
        )
        return Response(_body(request, name, found), status=status.HTTP_202_ACCEPTED)
