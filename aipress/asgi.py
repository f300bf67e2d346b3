"""HTTP goes to Django (but `/mcp`, the MCP server, which authenticates its own requests); websockets go
through tenant resolution, then session auth, then the router."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipress.settings")
django_asgi_app = get_asgi_application()

if os.environ.get("WEB_HTTP", "wsgi") == "wsgi":  # aipress/serving.py says why
    from django.core.wsgi import get_wsgi_application

    from aipress.serving import http_over_wsgi

    django_asgi_app = http_over_wsgi(get_wsgi_application())

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.routing import websocket_urlpatterns as chat_websockets  # noqa: E402
from mcpserver.http import WithMcp  # noqa: E402
from tenants.websocket import TenantWebsocketMiddleware, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": WithMcp(django_asgi_app),
        # Origin and membership are checked by the consumer, which closes with a code (tenants.websocket).
        "websocket": TenantWebsocketMiddleware(URLRouter(websocket_urlpatterns + chat_websockets)),
    }
)
