from django.urls import path

from sites import api

site_api_urlpatterns = [
    path("sites/", api.SiteListApi.as_view(), name="api-sites"),
    path("sites/<slug:name>/", api.SiteDetailApi.as_view(), name="api-site"),
    path("sites/<slug:name>/suspend/", api.SiteSuspendApi.as_view(), name="api-site-suspend"),
    path("sites/<slug:name>/resume/", api.SiteResumeApi.as_view(), name="api-site-resume"),
    path("sites/<slug:name>/retry/", api.SiteRetryApi.as_view(), name="api-site-retry"),
    path("sites/<slug:name>/events/", api.SiteEventsApi.as_view(), name="api-site-events"),
    path("sites/<slug:name>/operations/", api.SiteOperationListApi.as_view(), name="api-site-operations"),
    path(
        "sites/<slug:name>/operations/<int:operation_id>/",
        api.SiteOperationDetailApi.as_view(),
        name="api-site-operation",
    ),
    path("sites/<slug:name>/cache/purge", api.SiteCachePurgeApi.as_view(), name="api-site-cache-purge"),
    path("sites/<slug:name>/env/", api.SiteEnvListApi.as_view(), name="api-site-env"),
    path("sites/<slug:name>/env/<str:key>/", api.SiteEnvDetailApi.as_view(), name="api-site-env-var"),
    path("secrets/", api.TenantSecretListApi.as_view(), name="api-secrets"),
    path("secrets/<slug:name>/", api.TenantSecretDetailApi.as_view(), name="api-secret"),
]
