"""Google's errors, said so that the person who asked can act on them. Every cloud call of the
runtime goes through `cloud_call`: whatever fails becomes a StepError (the pipeline retries it, then
fails the operation with this message), never a traceback in the site's history."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from google.api_core import exceptions as api_errors
from googleapiclient.errors import HttpError

from sites.spec import StepError

T = TypeVar("T")

_ADVICE = {
    400: "Google refused the request as malformed",
    401: "the platform's Google credentials were refused: check the service account it runs as",
    403: "permission denied: the platform's service account lacks a role for this (see docs/cloudrun.md, “Roles”)",
    404: "not found",
    409: "it already exists or is being changed by another operation; retrying picks it up",
    412: "it changed meanwhile; retrying reads it again",
    429: "a quota of the project is exhausted: ask Google for more, or retry later",
}


def describe(exc: Exception) -> tuple[int, str]:
    """The HTTP status and Google's own message of an SDK error."""
    if isinstance(exc, api_errors.GoogleAPICallError):
        return int(exc.code or 0), _said_by_google(exc) or str(exc.message)
    if isinstance(exc, HttpError):
        return int(exc.resp.status), str(exc.reason or exc)
    return 0, str(exc)


def _said_by_google(exc: api_errors.GoogleAPICallError) -> str:
    """Google's own words from an error's JSON body (the SDK's message starts with the method and
    URL, which tell a person nothing)."""
    try:
        return str(exc.response.json()["error"]["message"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return ""


def status_of(exc: Exception) -> int:
    return describe(exc)[0]


@contextmanager
def cloud_call(what: str) -> Iterator[None]:
    """`what` is the action in words (“creating the Cloud Run service aipress-t1-s2”)."""
    try:
        yield
    except StepError:
        raise
    except (api_errors.GoogleAPIError, HttpError, OSError) as exc:
        status, message = describe(exc)
        advice = _ADVICE.get(status, "Google Cloud did not answer as expected; retrying may help")
        if status >= 500:
            advice = "Google Cloud failed on its side; retrying usually helps"
        raise StepError(f"{what}: {advice} ({status or type(exc).__name__}: {message[:300]}).") from exc


def quietly_missing(call: Callable[[], T]) -> T | None:
    """The call's answer, or None when what it names does not exist (404)."""
    try:
        return call()
    except (api_errors.NotFound, HttpError) as exc:
        if status_of(exc) == 404:
            return None
        raise
