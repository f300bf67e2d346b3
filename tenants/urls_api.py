from django.urls import path

from tenants import api

tenant_api_urlpatterns = [
    path("tenant/", api.CurrentTenantApi.as_view(), name="api-tenant"),
    path("members/", api.MemberListApi.as_view(), name="api-members"),
    path("members/<int:member_id>/", api.MemberDetailApi.as_view(), name="api-member"),
    path("invitations/", api.InvitationListApi.as_view(), name="api-invitations"),
    path("invitations/<int:invitation_id>/", api.InvitationDetailApi.as_view(), name="api-invitation"),
    path("api-keys/", api.ApiKeyListApi.as_view(), name="api-keys"),
    path("api-keys/<int:key_id>/", api.ApiKeyDetailApi.as_view(), name="api-key"),
]

staff_api_urlpatterns = [
    # `tenants/` and `tenants/<slug>/` are answered by definitions.urls_api (the app above this one).
    path("tenants/<slug:slug>/suspend/", api.StaffTenantSuspendApi.as_view(), name="api-staff-tenant-suspend"),
    path("tenants/<slug:slug>/resume/", api.StaffTenantResumeApi.as_view(), name="api-staff-tenant-resume"),
]
