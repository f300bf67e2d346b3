"""Shared behaviour of portal views."""

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest

from kernel.errors import NotFound, ServiceError


def run_action(request: HttpRequest, success: str, call: Callable[[], object]) -> bool:
    """Run a service call from a form post; tell the person how it went (the reason, on failure)."""
    try:
        call()
    except NotFound:
        raise  # the page answers 404, as if the object were not there (it is not, for this person)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success)
    return True
