"""Ready means WordPress answers: the home page (after its canonical redirect) and /wp-json/."""

import http.client
import json
from urllib.parse import urlsplit

from django.conf import settings

from sites import page_cache
from sites.spec import SiteSpec, StepError

MAX_REDIRECTS = 5


def fetch(hostname: str, path: str, timeout: float = 15.0) -> tuple[int, dict[str, str], bytes]:
    """GET through the local nginx with the site's Host header, following same-host redirects."""
    for _ in range(MAX_REDIRECTS + 1):
        connection = http.client.HTTPConnection("127.0.0.1", settings.SITES_PORT, timeout=timeout)
        try:
            connection.request("GET", path, headers={"Host": f"{hostname}:{settings.SITES_PORT}"})
            response = connection.getresponse()
            body = response.read()
            headers = {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()
        if response.status in (301, 302, 307, 308) and "location" in headers:
            target = urlsplit(headers["location"])
            if target.hostname and target.hostname != hostname:
                raise StepError(f"{path} redirects to another host: {headers['location']}")
            path = (target.path or "/") + (f"?{target.query}" if target.query else "")
            continue
        return response.status, headers, body
    raise StepError(f"Too many redirects from {path}")


def check(spec: SiteSpec) -> str:
    status, _, body = fetch(spec.hostname, "/")
    if status != 200 or b"wp-content" not in body:
        raise StepError(f"The home page answered {status}, not WordPress's 200.")
    status, headers, body = fetch(spec.hostname, "/wp-json/")
    if status != 200 or "json" not in headers.get("content-type", ""):
        raise StepError(f"/wp-json/ answered {status}.")
    name = json.loads(body).get("name", "")
    said = f"home page and /wp-json/ answer 200 (“{name}”)"
    # The home page once more: its second request comes from the page cache (the portal shows this).
    _, again, _ = fetch(spec.hostname, "/")
    if again.get("x-cache"):
        said += "; " + page_cache.CHECK_SAID.format(again["x-cache"])
    return said
