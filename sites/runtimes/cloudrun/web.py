"""Asking a site on Cloud Run, over its service URL, what any visitor would see."""

import json
import urllib.error
import urllib.request

from sites.spec import StepError


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer: WordPress sends visitors of the run.app URL to the site's own
    hostname (WP_HOME), which DNS may not point at the service yet."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def fetch(url: str, timeout: float = 15.0) -> tuple[int, str, bytes]:
    """Status, content type and body of a GET (an HTTP error status is an answer, not an exception)."""
    if not url.startswith(("http://", "https://")):
        raise StepError(f"{url} is not an http(s) URL.")
    request = urllib.request.Request(url, headers={"User-Agent": "AIPress health check"})  # noqa: S310 - checked
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise StepError(f"{url} did not answer: {getattr(exc, 'reason', exc)}.") from exc


def site_name(uri: str) -> str | None:
    """The site's title as WordPress's REST index gives it, or None while it does not answer so."""
    status, content_type, body = fetch(uri.rstrip("/") + "/wp-json/")
    if status != 200 or "json" not in content_type:
        return None
    try:
        return str(json.loads(body).get("name", ""))
    except ValueError:
        return None


def check(uri: str) -> str:
    """Ready means WordPress answers: the home page (or its canonical redirect to the site's own
    hostname) and /wp-json/, as on the local runtime."""
    status, _, body = fetch(uri.rstrip("/") + "/")
    if status in (301, 302):
        pass  # WordPress sending the visitor to WP_HOME: checked by /wp-json/ below, which does not redirect
    elif status != 200 or b"wp-content" not in body:
        raise StepError(f"{uri} answered {status}, not WordPress's 200.")
    name = site_name(uri)
    if name is None:
        raise StepError(f"{uri}/wp-json/ does not answer WordPress's JSON.")
    return f"{uri} and /wp-json/ answer 200 (“{name}”)"


def refused(uri: str) -> bool:
    """Whether the service turns visitors away (a suspended site)."""
    status, _, _ = fetch(uri.rstrip("/") + "/")
    return status in (403, 404)
