"""Thin API views for sites: parse, call a service or selector as the request's actor, serialize.
Every change answers 202 with the operation that carries it out (and a Location to follow it)."""

import time
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.urls import reverse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from kernel.api import validated
from sites import page_cache, selectors, services
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
    site_body,
)
from tenants.audit import Actor
from tenants.authentication import ApiKeyAuthentication
from tenants.models import Tenant
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
        tenant = tenant_of(request)
        rows = selectors.site_list_rows(tenant=tenant, actor=Actor.from_request(request))
        return Response([site_body(row, tenant) for row in rows])

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


# --- The page cache: emptied by people, and by the site's own plugin with its purge token ----------


class SitePurgeToken:
    """`request.auth` of a call made with a site's purge token: its page cache plugin's."""

    def __init__(self, token: str) -> None:
        self.token = token


class PurgeTokenAuthentication(BaseAuthentication):
    """`X-AIPress-Purge-Token`, from the site's own plugin (through its nginx locally). Checked here,
    before any throttle: a wrong token never spends the site's budget, so no other site can use it up."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, SitePurgeToken] | None:
        token = request.META.get("HTTP_X_AIPRESS_PURGE_TOKEN")
        if token is None:
            return None
        name = str((request.parser_context or {}).get("kwargs", {}).get("name", ""))
        tenant = getattr(request, "tenant", None)
        if not isinstance(tenant, Tenant) or page_cache.token_site(tenant=tenant, name=name, token=token) is None:
            raise exceptions.PermissionDenied(services.PURGE_TOKEN_REFUSED)
        return AnonymousUser(), SitePurgeToken(token)


class PurgeTokenScheme(OpenApiAuthenticationExtension):
    target_class = PurgeTokenAuthentication
    name = "sitePurgeToken"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {"type": "apiKey", "in": "header", "name": page_cache.TOKEN_HEADER}


class HasSitePurgeToken(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.auth, SitePurgeToken)


def _rate(rate: str) -> tuple[int, int]:
    """DRF's notation: "120/min" is 120 requests in a window of 60 seconds."""
    number, _, period = rate.partition("/")
    return int(number), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[:1]]


class SitePurgeThrottle(BaseThrottle):
    """A site's plugin has a budget of its own (SITES_CACHE_PURGE_RATE), counted per site in a fixed
    window: it never spends the budget of the address it comes from (this host's nginx, for every
    local site), so no site can use up another's. People's calls go through the API's own throttles."""

    def __init__(self) -> None:
        defaults = cast(list[type[BaseThrottle]], api_settings.DEFAULT_THROTTLE_CLASSES)
        self._others = [throttle() for throttle in defaults]
        self._retry_after: float | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        if not isinstance(request.auth, SitePurgeToken):
            refused = [other for other in self._others if not other.allow_request(request, view)]
            waits = [wait for wait in (other.wait() for other in refused) if wait is not None]
            self._retry_after = max(waits) if waits else None
            return not refused
        allowed, window = _rate(str(settings.SITES_CACHE_PURGE_RATE))
        now = time.time()
        name = str((request.parser_context or {}).get("kwargs", {}).get("name", ""))
        counter = f"throttle:site_purge:{tenant_of(request).pk}:{name}:{int(now // window)}"
        cache.add(counter, 0, timeout=window + 1)
        if cache.incr(counter) <= allowed:
            return True
        self._retry_after = window - now % window
        return False

    def wait(self) -> float | None:
        return self._retry_after


class CachePurgeSerializer(serializers.Serializer):
    urls = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False),
        required=False,
        allow_null=True,
        help_text=(
            f"At most {page_cache.MAX_URLS} pages to empty: the site's addresses (on its platform name or its "
            "domains) or paths (/about/, on every name of the site). Left out: every page."
        ),
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="What changed, in a few words."
    )


class CachePurgedSerializer(serializers.Serializer):
    site = serializers.CharField()
    everything = serializers.BooleanField(help_text="Every page was emptied (no urls were given).")
    urls = serializers.ListField(
        child=serializers.CharField(), help_text="The pages emptied, on each of the site's names."
    )
    origin = serializers.CharField(help_text="What the site's runtime emptied (done when this answers).")
    edge = serializers.ChoiceField(
        choices=["queued", "none"], help_text="queued: the CDN in front is being asked (202); none: there is none."
    )


class SiteCachePurgeApi(APIView):
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication, PurgeTokenAuthentication]
    permission_classes = [HasSitePurgeToken | (IsAuthenticated & IsTenantMember)]
    throttle_classes = [SitePurgeThrottle]

    @extend_schema(
        request=CachePurgeSerializer,
        responses={200: CachePurgedSerializer, 202: CachePurgedSerializer},
        summary="Empty the site's page cache: every page, or some (200 done; 202 the CDN follows)",
        description=(
            "Owners, admins and members, with a write key; or the site's own plugin, with its purge token in "
            f"`{page_cache.TOKEN_HEADER}` (that site only). See docs/page-cache.md."
        ),
    )
    def post(self, request: Request, name: str) -> Response:
        data = validated(CachePurgeSerializer, request)
        urls, reason = data.get("urls"), data.get("reason", "")
        if isinstance(request.auth, SitePurgeToken):
            purge = services.site_cache_purge_by_site(
                tenant=tenant_of(request), name=name, token=request.auth.token, urls=urls, reason=reason
            )
        else:
            purge = services.site_cache_purge(
                tenant=tenant_of(request), actor=Actor.from_request(request), name=name, urls=urls, reason=reason
            )
        body = {
            "site": purge.site,
            "everything": purge.everything,
            "urls": list(purge.urls),
            "origin": purge.origin,
            "edge": purge.edge,
        }
        return Response(body, status=status.HTTP_200_OK if purge.finished else status.HTTP_202_ACCEPTED)
