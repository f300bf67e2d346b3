"""The chat in a real browser (Debian's Chromium, driven by Playwright) against the real ASGI stack
and a real Celery worker: send a message, answer the follow-up, watch the progress, get the link,
confirm a deletion; a reload keeps the whole conversation."""

import re
from typing import Any

import pytest
from django.conf import settings

from chat.tests.conftest import site_status
from tenants.models import Role
from tenants.tests.test_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def in_memory_sites(settings: Any) -> None:
    # The worker thread runs the pipeline in this process: the in-memory runtime is shared with it.
    from sites.runtimes import memory

    settings.DRIVERS = {**settings.DRIVERS, "runtime": "memory", "assistant": "local"}
    memory.reset()


@pytest.fixture
def acme_session(make_tenant: Any, client_for: Any) -> tuple[Any, str]:
    """Made before the browser starts: Playwright's event loop forbids what tenant creation sends."""
    acme = make_tenant(slug="acme")
    owner = acme.memberships.get(role=Role.OWNER).user
    return acme, client_for(acme, user=owner).cookies[settings.SESSION_COOKIE_NAME].value


def test_a_member_builds_and_deletes_a_site_by_chatting(
    acme_session, in_memory_sites, platform, celery_worker_thread, page
):
    from playwright.sync_api import expect

    acme, session = acme_session
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": session,
                "domain": f".{settings.PLATFORM_DOMAIN}",
                "path": "/",
            }
        ]
    )
    portal = platform.replace("://", "://acme.")
    page.goto(portal + "/chat/")
    chat = page.locator("#chat-main")
    expect(chat).to_have_attribute("data-connected", "1")
    assert_accessible(page)

    box = page.get_by_label("Message to the assistant")
    box.fill("I need a site for my bakery, call it crumbs")
    box.press("Enter")
    expect(chat.locator(".chat-message.assistant").last).to_contain_text("title")
    box.fill("Crumbs Bakery")
    page.get_by_role("button", name="Send").click()

    expect(chat.locator(".chat-message.tool[data-tool='create_site']")).to_have_attribute("data-status", "succeeded")
    expect(chat.locator(".chat-message.progress")).to_have_attribute("data-state", "succeeded", timeout=30_000)
    link = chat.get_by_role("link", name=re.compile(r"crumbs--acme\.sites\.localhost"))
    expect(link).to_be_visible()
    assert site_status(acme, "crumbs") == "ready"
    assert_accessible(page)

    box.fill("delete crumbs")
    box.press("Enter")
    confirm = chat.get_by_role("button", name="Confirm")
    expect(confirm).to_be_visible()
    assert site_status(acme, "crumbs") == "ready"
    confirm.click()
    expect(chat.locator(".chat-message.assistant").last).to_contain_text("is deleted", timeout=30_000)
    expect(chat.get_by_role("button", name="Confirm")).to_have_count(0)

    # A reload brings the whole conversation back from the server, decisions included.
    page.reload()
    expect(chat).to_have_attribute("data-connected", "1")
    expect(chat.locator(".chat-message.user")).to_have_count(3)
    expect(chat.locator(".decision")).to_contain_text("confirmed")
    expect(page.get_by_role("navigation", name="Conversations")).to_contain_text("I need a site for my bakery")
