"""The public host: landing, sign-up and onboarding, invitations, staff console and staff API."""

from django.contrib import admin
from django.urls import include, path

from aipress.urls_common import common_urlpatterns
from billing.urls_api import billing_api_urlpatterns
from chat import views as chat_views
from chat.urls_api import chat_api_urlpatterns
from definitions.urls_api import staff_definition_urlpatterns
from tenants import views
from tenants.urls_api import staff_api_urlpatterns

handler404 = "aipress.views.not_found"
handler500 = "aipress.views.server_error"
handler403 = "aipress.views.forbidden"

admin.site.site_header = "AIPress staff console"
admin.site.site_title = "AIPress staff"
admin.site.index_title = "Fleet"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("onboarding/", views.onboarding, name="onboarding"),
    path("onboarding/check-slug/", views.check_slug, name="onboarding-check-slug"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("admin/", admin.site.urls),
    path("chat/", chat_views.chat_page, name="staff-chat"),
    path(
        "api/v1/",
        # Definitions first: they answer `tenants/` and `tenants/<slug>/` (a list and a definition).
        include(staff_definition_urlpatterns + staff_api_urlpatterns + billing_api_urlpatterns + chat_api_urlpatterns),
    ),
    *common_urlpatterns,
]
