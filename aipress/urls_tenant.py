"""A tenant's host: its portal and its API."""

from django.urls import include, path

from aipress.urls_common import common_urlpatterns
from billing import views as billing_views
from billing.urls_api import billing_api_urlpatterns
from chat import views as chat_views
from chat.urls_api import chat_api_urlpatterns
from definitions.urls_api import tenant_definition_urlpatterns
from dns import views as domain_views
from dns.urls_api import domain_api_urlpatterns
from sites import views as site_views
from sites.urls_api import site_api_urlpatterns
from tenants import views
from tenants.urls_api import tenant_api_urlpatterns

handler404 = "aipress.views.not_found"
handler500 = "aipress.views.server_error"
handler403 = "aipress.views.forbidden"

urlpatterns = [
    path("", views.home, name="portal-home"),
    path("status.json", views.tenant_status, name="portal-status"),
    path("team/", views.team, name="portal-team"),
    path("team/members/<int:member_id>/role/", views.member_role, name="portal-member-role"),
    path("team/members/<int:member_id>/remove/", views.member_remove, name="portal-member-remove"),
    path("team/invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="portal-invitation-revoke"),
    path("api-keys/", views.api_keys, name="portal-api-keys"),
    path("api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="portal-api-key-revoke"),
    path("settings/", views.tenant_settings, name="portal-settings"),
    path("sites/", site_views.sites_list, name="portal-sites"),
    path("sites/<slug:name>/", site_views.site_detail, name="portal-site"),
    path("sites/<slug:name>/env/", site_views.site_env_set, name="portal-site-env"),
    path("sites/<slug:name>/env/<str:key>/delete/", site_views.site_env_delete, name="portal-site-env-delete"),
    path("sites/<slug:name>/delete/", site_views.site_delete, name="portal-site-delete"),
    path("sites/<slug:name>/domains/", domain_views.site_domains, name="portal-site-domains"),
    path(
        "sites/<slug:name>/domains/<str:domain>/remove/",
        domain_views.site_domain_remove,
        name="portal-site-domain-remove",
    ),
    path(
        "sites/<slug:name>/domains/<str:domain>/verify/",
        domain_views.site_domain_verify,
        name="portal-site-domain-verify",
    ),
    path("sites/<slug:name>/<str:action>/", site_views.site_state, name="portal-site-state"),
    path("secrets/", site_views.secrets_page, name="portal-secrets"),
    path("secrets/<slug:name>/delete/", site_views.secret_delete, name="portal-secret-delete"),
    path("billing/", billing_views.billing_page, name="portal-billing"),
    path("billing/budgets/remove/", billing_views.budget_remove, name="portal-budget-remove"),
    path("chat/", chat_views.chat_page, name="portal-chat"),
    path(
        "api/v1/",
        include(
            tenant_api_urlpatterns
            + site_api_urlpatterns
            + domain_api_urlpatterns
            + billing_api_urlpatterns
            + chat_api_urlpatterns
            + tenant_definition_urlpatterns
        ),
    ),
    *common_urlpatterns,
]
