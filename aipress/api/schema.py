"""The OpenAPI document says what the API really does: Bearer authentication, the problem
responses every operation can give, and the exact shape of every path parameter."""

from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from kernel.problems import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Present for 400: one entry per field to fix.",
            "items": {
                "type": "object",
                "required": ["field", "message", "code"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "code": {"type": "string"}},
            },
        },
    },
}
_DESCRIPTIONS = {
    400: "Invalid input; `errors` names each field to fix. Nothing was changed.",
    401: "Missing, invalid or revoked API key (or its creator left the organisation).",
    403: "Your role does not allow this, or the organisation is suspended.",
    404: "No such object here (also for another organisation's objects).",
    409: "Not allowed in the object's current state.",
    413: "The request body is too large.",
    429: "Too many requests; retry after the `Retry-After` header's seconds.",
}
WRITE_METHODS = ("post", "put", "patch", "delete")


def _problem(status: int) -> dict:
    return {
        "description": _DESCRIPTIONS[status],
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _path_patterns() -> dict[str, str]:
    """Each path parameter's regular expression, from the converters of the URL patterns."""
    found: dict[str, str] = {}

    def walk(patterns: list) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                found.update({name: conv.regex for name, conv in entry.pattern.converters.items()})
                walk(entry.url_patterns)
            elif isinstance(entry, URLPattern):
                found.update({name: conv.regex for name, conv in entry.pattern.converters.items()})

    walk(get_resolver("aipress.urls_api_schema").url_patterns)
    return found


def add_problems_and_patterns(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    patterns = _path_patterns()
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            statuses = [401, 403, 404, 429]
            if method in WRITE_METHODS:
                statuses += [400, 409, 413]
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses.setdefault(str(status), _problem(status))
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "path" or parameter["name"] not in patterns:
                    continue
                schema = parameter.setdefault("schema", {})
                if schema.get("type") == "integer":
                    schema["minimum"] = 0
                else:
                    schema["pattern"] = f"^{patterns[parameter['name']]}$"
    return result
