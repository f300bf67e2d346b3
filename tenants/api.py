"""Thin API views: parse, call a service or selector, serialize."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.api import validated
from tenants import selectors, services
from tenants.audit import Actor
from tenants.models import Membership, Tenant
from tenants.permissions import IsPlatformStaff, IsTenantManagerOrReadOnly, IsTenantMember, request_role
from tenants.requests import tenant_of
from tenants.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    CurrentTenantSerializer,
    InvitationSerializer,
    InviteRequestSerializer,
    MemberSerializer,
    ReasonSerializer,
    RoleChangeSerializer,
    TenantCreateSerializer,
    TenantSerializer,
)


class CurrentTenantApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    @extend_schema(responses=CurrentTenantSerializer, summary="The tenant this request acts in")
    def get(self, request: Request) -> Response:
        tenant = tenant_of(request)
        data = {
            "slug": tenant.slug,
            "name": tenant.name,
            "status": tenant.status,
            "role": request_role(request),
            "portal_url": tenant.portal_url,
            "max_sites": tenant.max_sites,
            "max_members": tenant.max_members,
        }
        return Response(CurrentTenantSerializer(data).data)


class MemberListApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantManagerOrReadOnly]

    @extend_schema(responses=MemberSerializer(many=True), summary="Members of the tenant")
    def get(self, request: Request) -> Response:
        return Response(MemberSerializer(selectors.member_list(tenant=tenant_of(request)), many=True).data)

    @extend_schema(
        request=InviteRequestSerializer, responses={201: InvitationSerializer}, summary="Invite someone by email"
    )
    def post(self, request: Request) -> Response:
        data = validated(InviteRequestSerializer, request)
        invitation = services.invitation_create(
            actor=Actor.from_request(request),
            tenant=tenant_of(request),
            email=data["email"],
            role=data["role"],
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantMember]

    def _member(self, request: Request, member_id: int) -> Membership:
        membership = selectors.member_get(tenant=tenant_of(request), member_id=member_id)
        if membership is None:
            raise Http404
        return membership

    @extend_schema(responses=MemberSerializer, summary="One member")
    def get(self, request: Request, member_id: int) -> Response:
        return Response(MemberSerializer(self._member(request, member_id)).data)

    @extend_schema(request=RoleChangeSerializer, responses=MemberSerializer, summary="Change a member's role")
    def patch(self, request: Request, member_id: int) -> Response:
        membership = self._member(request, member_id)
        data = validated(RoleChangeSerializer, request)
        membership = services.membership_change_role(
            actor=Actor.from_request(request),
            membership=membership,
            role=data["role"],
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None}, summary="Remove a member (or leave, for yourself)")
    def delete(self, request: Request, member_id: int) -> Response:
        membership = self._member(request, member_id)
        services.membership_remove(actor=Actor.from_request(request), membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantManagerOrReadOnly]

    @extend_schema(responses=InvitationSerializer(many=True), summary="Pending invitations")
    def get(self, request: Request) -> Response:
        return Response(InvitationSerializer(selectors.invitation_list(tenant=tenant_of(request)), many=True).data)


class InvitationDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantManagerOrReadOnly]

    @extend_schema(responses={204: None}, summary="Revoke a pending invitation")
    def delete(self, request: Request, invitation_id: int) -> Response:
        invitation = selectors.invitation_get(tenant=tenant_of(request), invitation_id=invitation_id)
        if invitation is None:
            raise Http404
        services.invitation_revoke(actor=Actor.from_request(request), invitation=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyListApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantManagerOrReadOnly]

    @extend_schema(responses=ApiKeySerializer(many=True), summary="API keys of the tenant")
    def get(self, request: Request) -> Response:
        return Response(ApiKeySerializer(selectors.api_key_list(tenant=tenant_of(request)), many=True).data)

    @extend_schema(
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeyCreatedSerializer},
        summary="Create an API key (its secret is in this response only)",
    )
    def post(self, request: Request) -> Response:
        data = validated(ApiKeyCreateSerializer, request)
        key, raw = services.api_key_create(
            actor=Actor.from_request(request),
            tenant=tenant_of(request),
            name=data["name"],
            role=data["role"],
            scope=data["scope"],
        )
        body = ApiKeySerializer(key).data | {"key": raw}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsTenantManagerOrReadOnly]

    @extend_schema(responses={204: None}, summary="Revoke an API key")
    def delete(self, request: Request, key_id: int) -> Response:
        key = selectors.api_key_get(tenant=tenant_of(request), key_id=key_id)
        if key is None:
            raise Http404
        services.api_key_revoke(actor=Actor.from_request(request), key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Staff -----------------------------------------------------------------------------------


class StaffTenantListApi(APIView):
    permission_classes = [IsAuthenticated, IsPlatformStaff]

    @extend_schema(responses=TenantSerializer(many=True), summary="Every tenant (staff)")
    def get(self, request: Request) -> Response:
        tenants = selectors.tenant_list(
            status=request.query_params.get("status"), search=request.query_params.get("q", "")
        )
        return Response(TenantSerializer(tenants, many=True).data)

    @extend_schema(request=TenantCreateSerializer, responses={202: TenantSerializer}, summary="Create a tenant (staff)")
    def post(self, request: Request) -> Response:
        data = validated(TenantCreateSerializer, request)
        owner = services.user_ensure(email=data["owner_email"], verified=False)
        tenant = services.tenant_create(
            actor=Actor.from_request(request), slug=data["slug"], name=data["name"], owner=owner
        )
        return Response(TenantSerializer(tenant).data, status=status.HTTP_202_ACCEPTED)


def _staff_tenant(slug: str) -> Tenant:
    tenant = selectors.tenant_get_by_slug(slug)
    if tenant is None:
        raise Http404
    return tenant


class StaffTenantSuspendApi(APIView):
    permission_classes = [IsAuthenticated, IsPlatformStaff]

    @extend_schema(request=ReasonSerializer, responses=TenantSerializer, summary="Suspend a tenant (staff)")
    def post(self, request: Request, slug: str) -> Response:
        data = validated(ReasonSerializer, request)
        tenant = services.tenant_suspend(
            actor=Actor.from_request(request), tenant=_staff_tenant(slug), reason=data["reason"]
        )
        return Response(TenantSerializer(tenant).data)


class StaffTenantResumeApi(APIView):
    permission_classes = [IsAuthenticated, IsPlatformStaff]

    @extend_schema(request=ReasonSerializer, responses=TenantSerializer, summary="Resume a suspended tenant (staff)")
    def post(self, request: Request, slug: str) -> Response:
        data = validated(ReasonSerializer, request)
        tenant = services.tenant_resume(
            actor=Actor.from_request(request), tenant=_staff_tenant(slug), reason=data["reason"]
        )
        return Response(TenantSerializer(tenant).data)
