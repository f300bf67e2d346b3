"""Errors raised by services. The API maps them to problem JSON, the CLI to one line and exit 1."""

from django.http import Http404


class ServiceError(Exception):
    """Base for expected failures that carry a message meant for the person who caused them."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(ServiceError):
    """The input is wrong; `field` names what to fix (HTTP 400)."""


class Conflict(ServiceError):
    """The input is fine but the current state forbids it (HTTP 409)."""


class NotPermitted(ServiceError):
    """The acting user's role does not allow this (HTTP 403)."""


class NotFound(ServiceError, Http404):
    """Nothing by that name here, for this actor (HTTP 404): outsiders learn nothing of what exists.
    Also an Http404, so a portal page that meets it answers Django's 404 page."""
