"""Requests to a local site as a browser makes them (no redirect followed, cookies by hand), for the
page cache's tests: what X-Cache and Cache-Control each answer says."""

import http.client
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

from django.conf import settings


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: dict[str, str] = field(default_factory=dict)  # what the answer set

    @property
    def cache(self) -> str:
        return self.headers.get("x-cache", "")

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def ask(
    hostname: str,
    path: str,
    *,
    method: str = "GET",
    cookies: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", settings.SITES_PORT, timeout=30)
    sent = {"Host": f"{hostname}:{settings.SITES_PORT}", **(headers or {})}
    if cookies:
        sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    if form is not None:
        body = urlencode(form).encode()
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        answer_body = response.read()
        set_cookies = SimpleCookie()
        for value in response.headers.get_all("Set-Cookie") or []:
            set_cookies.load(value)
        return Answer(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            answer_body,
            {name: morsel.value for name, morsel in set_cookies.items()},
        )
    finally:
        connection.close()


def sign_in(hostname: str, login: str, password: str) -> dict[str, str]:
    """WordPress's own sign-in form; the cookies it gives (wordpress_logged_in_... among them)."""
    test_cookie = {"wordpress_test_cookie": "WP%20Cookie%20check"}
    answer = ask(
        hostname,
        "/wp-login.php",
        method="POST",
        cookies=test_cookie,
        form={"log": login, "pwd": password, "testcookie": "1", "redirect_to": "/wp-admin/"},
    )
    assert answer.status == 302, answer.text[-1500:]
    assert any(name.startswith("wordpress_logged_in_") for name in answer.cookies), answer.cookies
    return {**test_cookie, **answer.cookies}


def xmlrpc(hostname: str, method: str, *params: Any) -> str:
    """A call of WordPress's XML-RPC API (the way desktop and mobile apps publish); its raw answer."""
    from xmlrpc.client import dumps

    answer = ask(hostname, "/xmlrpc.php", method="POST", body=dumps(tuple(params), method).encode(),
                 headers={"Content-Type": "text/xml"})  # fmt: skip
    assert answer.status == 200, answer.text[-1500:]
    assert "<fault>" not in answer.text, answer.text[-1500:]
    return answer.text
