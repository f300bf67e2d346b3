from django.urls import path

from definitions import api

_shared = [
    path("tenants/<slug:tenant>/", api.TenantDefinitionApi.as_view(), name="api-tenant-definition"),
    path("tenants/<slug:tenant>/plan/", api.TenantPlanApi.as_view(), name="api-tenant-plan"),
    path(
        "tenants/<slug:tenant>/applications/<int:application_id>/",
        api.ApplicationApi.as_view(),
        name="api-tenant-application",
    ),
    path("schemas/tenant.json", api.TenantSchemaApi.as_view(), name="api-tenant-schema"),
]

# The public host: staff create, apply, read and delete any tenant.
staff_definition_urlpatterns = [
    path("tenants/", api.TenantDefinitionCollectionApi.as_view(), name="api-staff-tenants"),
    *_shared,
]

# A tenant's host: an owner applies, plans and reads its own tenant's definition.
tenant_definition_urlpatterns = [
    path("tenants/", api.TenantHostCollectionApi.as_view(), name="api-tenant-collection"),
    *_shared,
]
