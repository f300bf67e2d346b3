"""Request id, tenant and user carried in context variables so every log line can name them."""

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
tenant_var: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="-")
user_var: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="-")

# Only accept a caller's request id when it is short and harmless; otherwise make our own.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Outermost middleware: gives each request an id, echoed back as X-Request-ID."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]  # the request id is our own attribute on Django's request
        # Set, not reset afterwards: Django logs the response (django.request) after this returns,
        # and those lines should carry the id too. The next request on this thread overwrites them.
        request_id_var.set(request_id)
        tenant_var.set("-")
        user_var.set("-")
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class RequestUserMiddleware:
    """After authentication: records the tenant and user for the log context."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        bind_request_context(request)
        return self.get_response(request)


def bind_request_context(request: HttpRequest) -> None:
    tenant = getattr(request, "tenant", None)
    if tenant is not None and getattr(tenant, "slug", None):
        tenant_var.set(tenant.slug)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        user_var.set(str(user.pk))


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.tenant = tenant_var.get()
        record.user = user_var.get()
        return True
