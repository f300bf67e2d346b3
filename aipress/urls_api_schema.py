"""Every API endpoint under one URLconf, only for generating the OpenAPI document."""

from django.urls import include, path

from billing.urls_api import billing_api_urlpatterns
from chat.urls_api import chat_api_urlpatterns
from definitions.urls_api import staff_definition_urlpatterns
from dns.urls_api import domain_api_urlpatterns
from sites.urls_api import site_api_urlpatterns
from tenants.urls_api import staff_api_urlpatterns, tenant_api_urlpatterns

urlpatterns = [
    path(
        "api/v1/",
        include(
            staff_definition_urlpatterns
            + tenant_api_urlpatterns
            + site_api_urlpatterns
            + domain_api_urlpatterns
            + billing_api_urlpatterns
            + chat_api_urlpatterns
            + staff_api_urlpatterns
        ),
    )
]
