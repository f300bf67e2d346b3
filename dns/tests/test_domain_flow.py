"""The whole flow, for real: a WordPress site on the local runtime (nginx, php-fpm, MariaDB, a real
worker), a domain added through the API, its records created in the local DNS server's zone as the
owner would at their registrar, verified in the background, and then the site answering on that
name through nginx (WordPress too: its links use the name the visitor asked for). Removed, the name
is no site's again."""

import pytest
from django.core.management import call_command

from dns.models import ZoneRecord
from kernel.testing import wait_until
from sites.runtimes.local import health
from sites.tests.test_api_sites import _finished

pytestmark = pytest.mark.django_db(transaction=True)

DOMAIN = "www.their-shop.test"


def _domain(client) -> dict:
    return client.get(f"/api/v1/sites/shop/domains/{DOMAIN}/").json()


def test_add_create_records_verify_and_the_site_answers_on_its_own_domain(api, dns_server):
    """`api` is the sites API tests' (dns/tests/conftest.py): tenant acme, a key, real runtime and worker."""
    _, client = api
    created = client.post("/api/v1/sites/", {"name": "shop", "title": "Their Shop"}, format="json")
    assert created.status_code == 202, created.content
    assert _finished(client, created, timeout=120)["state"] == "succeeded"
    # The platform hostname was published by the pipeline's last step.
    assert ZoneRecord.objects.filter(name="shop--acme.sites.localhost", type="A").exists()
    status, _, _ = health.fetch(DOMAIN, "/")
    assert status == 404  # no site answers on it yet: nginx's "No site here"

    added = client.post("/api/v1/sites/shop/domains/", {"domain": DOMAIN}, format="json")
    assert added.status_code == 201, added.content
    records = {record["type"]: record for record in added.json()["records"]}
    wait_until(lambda: _domain(client)["last_checked_at"], timeout=30, what="the first check")
    assert _domain(client)["status"] == "pending"

    # At the registrar: exactly the records AIPress asked for.
    call_command("dns", "set-record", records["TXT"]["name"], "TXT", records["TXT"]["value"])
    call_command("dns", "set-record", records["CNAME"]["name"], "CNAME", records["CNAME"]["value"])
    assert client.post(f"/api/v1/sites/shop/domains/{DOMAIN}/verify/").status_code == 202

    active = wait_until(
        lambda: (body := _domain(client))["status"] == "active" and body, timeout=120, what=f"{DOMAIN} to be active"
    )
    assert (active["ownership"]["status"], active["dns"]["status"], active["certificate"]["status"]) == (
        "ok", "ok", "not_needed",
    )  # fmt: skip
    status, _, body = health.fetch(DOMAIN, "/")  # follows only same-host redirects
    assert status == 200 and b"Their Shop" in body
    assert f"http://{DOMAIN}:".encode() in body  # WordPress links under the name asked for
    assert b"shop--acme.sites.localhost" not in body
    # And still under its platform name.
    status, _, body = health.fetch("shop--acme.sites.localhost", "/")
    assert status == 200 and b"shop--acme.sites.localhost" in body

    assert client.delete(f"/api/v1/sites/shop/domains/{DOMAIN}/").status_code == 204
    wait_until(lambda: health.fetch(DOMAIN, "/")[0] == 404, timeout=60, what=f"{DOMAIN} to be no site's")
    assert health.fetch("shop--acme.sites.localhost", "/")[0] == 200
