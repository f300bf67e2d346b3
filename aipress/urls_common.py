"""URLs served on every host: accounts, API schema and docs. Health is answered by
aipress.health.HealthMiddleware, before any URLconf is chosen."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from aipress import views

common_urlpatterns = [
    path("accounts/", include("allauth.urls")),
    # One schema for the whole API, whichever host serves it.
    path("api/schema/", SpectacularAPIView.as_view(urlconf="aipress.urls_api_schema"), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Last: any other /api/ path is a problem-JSON 404, with DEBUG on too (Django's debug 404 page
    # would otherwise answer in HTML).
    re_path(r"^api/", views.api_not_found),
]
