"""RFC 9457 problem details for every API error, with per-field errors for validation failures."""

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from kernel.errors import InvalidInput, NotFound, NotPermitted, ServiceError

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://aipress.dev/problems/"

_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    429: "Too many requests",
}


class Conflict(exceptions.APIException):
    """The request is valid but the object's current state does not allow it (HTTP 409)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The operation is not allowed in the current state."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too-large"


def _flatten_field_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """Turn DRF's nested error dict into a flat list of {field, message, code}."""
    errors: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            errors.extend(_flatten_field_errors(value, f"{prefix}.{name}" if prefix and name else prefix or name))
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, (dict, list)) and not isinstance(item, exceptions.ErrorDetail):
                errors.extend(_flatten_field_errors(item, f"{prefix}[{index}]"))
            else:
                errors.append(_field_error(prefix, item))
    else:
        errors.append(_field_error(prefix, detail))
    return errors


def _field_error(field: str, item: Any) -> dict[str, str]:
    return {"field": field, "message": str(item), "code": getattr(item, "code", "invalid")}


def problem(status_code: int, detail: str, *, code: str | None = None, instance: str = "", **extra: Any) -> dict:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (code or _TITLES.get(status_code, "error").lower().replace(" ", "-")),
        "title": _TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def _from_service_error(exc: ServiceError) -> exceptions.APIException:
    if isinstance(exc, InvalidInput):
        return exceptions.ValidationError({exc.field or "non_field_errors": [exc.message]})
    if isinstance(exc, NotPermitted):
        return exceptions.PermissionDenied(exc.message)
    if isinstance(exc, NotFound):
        return exceptions.NotFound(exc.message)
    return Conflict(exc.message)


def problem_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ServiceError):
        exc = _from_service_error(exc)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("No such object here.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = PayloadTooLarge(f"The request body is larger than {limit} bytes; send less at a time.")
    response = exception_handler(exc, context)
    if response is None:
        return None
    request = context.get("request")
    instance = request.get_full_path() if request is not None else ""
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten_field_errors(exc.detail)
        body = problem(400, "The request has invalid fields; see `errors`.", code="validation-error", instance=instance)
        body["errors"] = errors
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(exc, "default_code", None)
        body = problem(
            response.status_code, str(detail), code=str(code).replace("_", "-") if code else None, instance=instance
        )
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_response(request: HttpRequest, status_code: int, detail: str, **extra: Any) -> JsonResponse:
    """A problem response outside DRF views (URL not found, suspended tenant, server errors)."""
    body = problem(status_code, detail, instance=request.get_full_path(), **extra)
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)
