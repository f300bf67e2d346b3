from django.urls import path

from billing import api

# Served on tenants' hosts (a member, a tenant key: its own slug only) and on the public host (staff).
billing_api_urlpatterns = [
    path("tenants/<slug:tenant>/billing", api.BillingApi.as_view(), name="api-billing"),
    path("tenants/<slug:tenant>/budgets/", api.BudgetListApi.as_view(), name="api-budgets"),
    path("tenants/<slug:tenant>/budget", api.TenantBudgetApi.as_view(), name="api-tenant-budget"),
    path("tenants/<slug:tenant>/budgets/<slug:site>", api.SiteBudgetApi.as_view(), name="api-site-budget"),
]
