"""Plain HTTP runs Django's WSGI handler in a pool of threads (aipress/serving.py): a client that sends
its body slowly, or never, must not hold one of them, and a body too large never reaches Django."""

import socket

import httpx
import pytest

from aipress.serving import DEFAULT_THREADS


@pytest.mark.django_db(transaction=True)
def test_slow_bodies_hold_no_thread_and_others_are_answered(make_tenant, api_key_for, platform):
    tenant = make_tenant()
    key = api_key_for(tenant)
    port = int(platform.rsplit(":", 1)[1])
    stalled = []
    try:
        # More half-sent requests than the pool has threads, each promising a body it never finishes.
        for _ in range(DEFAULT_THREADS + 2):
            conn = socket.create_connection(("127.0.0.1", port))
            conn.sendall(
                b"POST /accounts/login/ HTTP/1.1\r\nHost: aipress.localhost\r\n"
                # With a CSRF cookie, Django's CSRF check reads the form body for the token.
                b"Cookie: csrftoken=" + b"a" * 32 + b"\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nlogin="
            )
            stalled.append(conn)
        headers = {"Authorization": f"Bearer {key}", "Host": tenant.host.split(":")[0]}
        answered = httpx.get(f"http://127.0.0.1:{port}/api/v1/tenant/", headers=headers, timeout=10)
        assert answered.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json() == {"status": "ok"}
    finally:
        for conn in stalled:
            conn.close()


@pytest.mark.django_db(transaction=True)
def test_a_body_over_the_cap_is_refused_before_django(platform, monkeypatch):
    from aipress import serving

    monkeypatch.setattr(serving, "MAX_BODY_BYTES", 1000)  # read at each request, not at start
    port = int(platform.rsplit(":", 1)[1])
    response = httpx.post(f"http://127.0.0.1:{port}/api/v1/tenant/", content=b"x" * 5000, timeout=10)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
