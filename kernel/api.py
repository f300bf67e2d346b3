"""Shared behaviour of the apps' thin API views."""

from typing import Any

from rest_framework.request import Request


def validated(serializer_class: type, request: Request) -> dict[str, Any]:
    """The request body checked by `serializer_class`; a ValidationError (400 problem) otherwise."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
