"""How plain HTTP reaches Django inside the ASGI server (docs/architecture.md, "Serving").

uvicorn serves HTTP and websockets on one port (one process on Cloud Run, one Procfile line). Django's
own ASGI handler runs a sync view behind sync middleware with three hops between the event loop and a
thread per request; the bare Django view answered 422 requests per second that way and 2,584 through
a2wsgi's WSGI bridge, which makes one (bench/api_throughput.py --servers all). Websockets stay on
Channels (aipress/asgi.py). WEB_HTTP=asgi switches back to Django's handler, for comparison.
"""

import os
from typing import Any

from a2wsgi import WSGIMiddleware

# Threads per process that run requests. More overlap a slow request (a cloud API call) with others;
# fewer contend less for the GIL. Four: no process stalls behind one slow call.
DEFAULT_THREADS = 4


def http_over_wsgi(wsgi_application: Any) -> Any:
    """An ASGI app that runs a WSGI app in a pool of WEB_THREADS threads."""
    return WSGIMiddleware(wsgi_application, workers=int(os.environ.get("WEB_THREADS", DEFAULT_THREADS)))
