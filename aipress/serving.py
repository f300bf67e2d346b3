"""How plain HTTP reaches Django inside the ASGI server (docs/architecture.md, "A request's path").

uvicorn serves HTTP and websockets on one port (one process on Cloud Run, one Procfile line). Django's
own ASGI handler runs a sync view behind sync middleware with three hops between the event loop and a
thread per request; the bare Django view answered 531 requests per second that way and 2,015 through
a2wsgi's WSGI bridge, which makes one (bench/api_throughput.py --servers all). Websockets stay on
Channels (aipress/asgi.py). WEB_HTTP=asgi switches back to Django's handler, for comparison.

The bridge runs requests in a fixed pool of threads, so nothing slow may hold one that the event loop
can do instead: the request body is read in full on the event loop (capped, with a deadline) before a
thread is taken, and `/healthz` is answered there without one. A client that sends its body slowly
costs a coroutine, as it did under Django's ASGI handler, not one of the pool's threads.
"""

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from a2wsgi import WSGIMiddleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# Threads per process that run requests. Blocked threads (a slow cloud API call, a chat turn waiting
# for its model) cost nothing; runnable ones share one GIL.
DEFAULT_THREADS = 8
# Larger bodies are refused before Django sees them; Django's own limits (2.5 MB of form or JSON data)
# still answer below this with their problem JSON.
MAX_BODY_BYTES = 16 * 1024 * 1024
BODY_SECONDS = 30  # the whole body must arrive within this


async def _answer(send: Send, status: int, body: dict[str, Any], content_type: str = "application/json") -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _problem(send: Send, status: int, title: str, detail: str) -> None:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    await _answer(send, status, body, "application/problem+json")


class ReadBodyFirst:
    """Reads the request body on the event loop, then hands the app a `receive` that replays it."""

    def __init__(self, app: App, *, seconds: float = BODY_SECONDS) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/healthz" and scope["method"] in ("GET", "HEAD"):
            await _answer(send, 200, {"status": "ok"})  # liveness: this process's event loop answers
            return
        chunks: list[bytes] = []
        size = 0
        limit = MAX_BODY_BYTES
        try:
            async with asyncio.timeout(self.seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        await _problem(send, 413, "Request too large", f"Send at most {limit} bytes.")
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await _problem(send, 408, "Request timeout", f"The request body did not arrive within {self.seconds} s.")
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # what follows the body: a disconnect

        await self.app(scope, replay, send)


def http_over_wsgi(wsgi_application: Any) -> Any:
    """An ASGI app that reads the body first, then runs a WSGI app in a pool of WEB_THREADS threads."""
    threads = int(os.environ.get("WEB_THREADS", DEFAULT_THREADS))
    bridge: Any = WSGIMiddleware(wsgi_application, workers=threads)  # a2wsgi's own ASGI types
    return ReadBodyFirst(bridge)
