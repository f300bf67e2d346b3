"""The ceiling for bench/api_throughput.py: a bare Django view (no middleware, no database, no DRF)
returning a small JSON body, served by the same server in the same mode as the product.

    uvicorn bench.bare_django:asgi      gunicorn bench.bare_django:wsgi
"""

import django
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only-not-a-secret",  # noqa: S106 - this app keeps no state and signs nothing
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    USE_TZ=True,
)
django.setup()


def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [path("", bare), path("<path:anything>", bare)]

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from aipress.serving import http_over_wsgi  # noqa: E402

asgi = get_asgi_application()
wsgi = get_wsgi_application()
asgi_over_wsgi = http_over_wsgi(wsgi)
