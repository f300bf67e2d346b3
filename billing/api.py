"""Thin API views for costs and budgets. `{tenant}` is the slug: a tenant's key or member reaches
only its own tenant (any other slug is 404); staff reach any tenant from the public host."""

import csv
import io
import json
from decimal import Decimal
from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors, services
from billing.models import BudgetAction
from billing.selectors import CostReport
from kernel.api import validated
from tenants.audit import Actor
from tenants.models import Tenant
from tenants.permissions import IsPlatformStaff, IsTenantMember
from tenants.requests import tenant_of


def _cell(value: Any) -> str:
    """A text cell that a spreadsheet will not run as a formula (a service name comes from outside)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class CsvRenderer(BaseRenderer):
    """The report's rows as CSV (`Accept: text/csv` or `?format=csv`); errors stay problem JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        response = (renderer_context or {}).get("response")
        if (response is not None and response.status_code >= 400) or not isinstance(data, dict) or "rows" not in data:
            return json.dumps(data, default=str).encode()
        out = io.StringIO()
        group = data["group_by"]
        writer = csv.writer(out)
        writer.writerow([group, "currency", "gross", "credits", "net"])
        for row in data["rows"]:
            writer.writerow([_cell(row[group]), row["currency"], row["gross"], row["credits"], row["net"]])
        return out.getvalue().encode()


class CostReader(BasePermission):
    """On a tenant's host (or with its key): its members, as IsTenantMember (outsiders 404). On the
    public host: platform staff only."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if getattr(request, "tenant", None) is not None:
            return IsTenantMember().has_permission(request, view)
        if not IsPlatformStaff().has_permission(request, view):
            raise Http404
        return True


def _tenant(request: Request, slug: str) -> Tenant:
    here = getattr(request, "tenant", None)
    if here is not None:
        if here.slug != slug:
            raise Http404  # another tenant's costs: as if it did not exist
        return tenant_of(request)
    found = Tenant.objects.filter(slug=slug).first()
    if found is None:
        raise Http404
    return found


def _money(value: Decimal) -> str:
    return f"{value:.6f}"


def report_body(report: CostReport) -> dict[str, Any]:
    rows = []
    for row in report.rows:
        item = dict(row)
        if report.group_by == "day":
            item["day"] = str(item["day"])
        for part in ("gross", "credits", "net"):
            item[part] = _money(item[part])
        rows.append(item)
    return {
        "tenant": report.tenant,
        "start": str(report.start),
        "end": str(report.end),
        "group_by": report.group_by,
        "rows": rows,
        "totals": {
            currency: {part: _money(value) for part, value in parts.items()}
            for currency, parts in report.totals.items()
        },
        "site_labelled_share": str(report.site_labelled_share) if report.site_labelled_share is not None else None,
        "aggregated_at": report.freshness.aggregated_at,
        "latest_usage": report.freshness.latest_usage,
    }


class BillingApi(APIView):
    permission_classes = [IsAuthenticated, CostReader]
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (UTC); default the 1st of this month"),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, included; default today"),
            OpenApiParameter("group_by", str, enum=list(selectors.GROUPS), description="Default: day"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="The tenant's costs per day, month, site or service (also CSV: Accept: text/csv or ?format=csv)",
    )
    def get(self, request: Request, tenant: str) -> Response:
        found = _tenant(request, tenant)
        start, end = selectors.parse_range(request.query_params.get("start"), request.query_params.get("end"))
        report = selectors.costs_report(
            tenant=found,
            actor=Actor.from_request(request),
            start=start,
            end=end,
            group_by=request.query_params.get("group_by") or "day",
        )
        response = Response(report_body(report))
        if getattr(request.accepted_renderer, "format", "") == "csv":
            name = f"{found.slug}-costs-{start}-{end}-{report.group_by}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class BudgetSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    currency = serializers.CharField(required=False, min_length=3, max_length=3)
    # Left out: the budget keeps what it does at 100% (a new one only notifies).
    action = serializers.ChoiceField(choices=BudgetAction.choices, required=False)


def budget_body(item: dict[str, Any]) -> dict[str, Any]:
    budget = item["budget"]
    return {
        "site": budget.site_slug or None,
        "amount": f"{budget.amount:.2f}",
        "currency": budget.currency,
        "action": budget.action,
        "spent_this_month": _money(item["spent"]),
        "percent": item["percent"],
    }


def _budget_answer(request: Request, tenant: Tenant, site: str | None) -> Response:
    for item in selectors.budgets_status(tenant=tenant, actor=Actor.from_request(request)):
        if (item["budget"].site_slug or None) == site:
            return Response(budget_body(item))
    raise Http404


class BudgetListApi(APIView):
    permission_classes = [IsAuthenticated, CostReader]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="The tenant's budgets and this month's spend")
    def get(self, request: Request, tenant: str) -> Response:
        found = _tenant(request, tenant)
        items = selectors.budgets_status(tenant=found, actor=Actor.from_request(request))
        return Response([budget_body(item) for item in items])


class TenantBudgetApi(APIView):
    permission_classes = [IsAuthenticated, CostReader]

    @extend_schema(
        request=BudgetSerializer, responses={200: OpenApiTypes.OBJECT}, summary="Set the tenant's monthly budget"
    )
    def put(self, request: Request, tenant: str) -> Response:
        found = _tenant(request, tenant)
        data = validated(BudgetSerializer, request)
        services.budget_set(
            tenant=found,
            actor=Actor.from_request(request),
            amount=data["amount"],
            currency=data.get("currency"),
            action=data.get("action"),
        )
        return _budget_answer(request, found, None)

    @extend_schema(request=None, responses={204: None}, summary="Remove the tenant's monthly budget")
    def delete(self, request: Request, tenant: str) -> Response:
        services.budget_remove(tenant=_tenant(request, tenant), actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SiteBudgetApi(APIView):
    permission_classes = [IsAuthenticated, CostReader]

    @extend_schema(
        request=BudgetSerializer,
        responses={200: OpenApiTypes.OBJECT},
        summary="Set a site's monthly budget, and what it does at 100% (notify, cap, suspend)",
    )
    def put(self, request: Request, tenant: str, site: str) -> Response:
        found = _tenant(request, tenant)
        data = validated(BudgetSerializer, request)
        budget = services.budget_set(
            tenant=found,
            actor=Actor.from_request(request),
            amount=data["amount"],
            site=site,
            currency=data.get("currency"),
            action=data.get("action"),
        )
        return _budget_answer(request, found, budget.site_slug)

    @extend_schema(request=None, responses={204: None}, summary="Remove a site's monthly budget")
    def delete(self, request: Request, tenant: str, site: str) -> Response:
        services.budget_remove(tenant=_tenant(request, tenant), actor=Actor.from_request(request), site=site)
        return Response(status=status.HTTP_204_NO_CONTENT)
