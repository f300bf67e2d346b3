from django.urls import path

from dns import api

domain_api_urlpatterns = [
    path("sites/<slug:name>/domains/", api.DomainListApi.as_view(), name="api-site-domains"),
    path("sites/<slug:name>/domains/<str:domain>/", api.DomainDetailApi.as_view(), name="api-site-domain"),
    path(
        "sites/<slug:name>/domains/<str:domain>/verify/", api.DomainVerifyApi.as_view(), name="api-site-domain-verify"
    ),
]
