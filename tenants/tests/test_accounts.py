"""Accounts through allauth as a person uses them: codes by email, password reset, TOTP two-factor
with recovery codes, and Google / Apple sign-in switched on by configuration."""

import re
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.conf import settings
from django.core import mail
from django.test import Client

from tenants.tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def public():
    return Client(HTTP_HOST=settings.PLATFORM_DOMAIN)


def _code_in_last_mail() -> str:
    match = re.search(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4}|[A-Z0-9]{6})\s*$", str(mail.outbox[-1].body), re.MULTILINE)
    assert match, mail.outbox[-1].body
    return match.group(1)


def _totp_now(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_login_by_emailed_code(public):
    user = UserFactory()
    response = public.post("/accounts/login/code/", {"email": user.email})
    assert response.status_code == 302
    assert mail.outbox[-1].to == [user.email]
    assert not _signed_in(public)
    public.post("/accounts/login/code/confirm/", {"code": _code_in_last_mail()})
    assert _signed_in(public)


def test_password_reset_sends_a_link_that_sets_a_new_password(public):
    user = UserFactory()
    public.post("/accounts/password/reset/", {"email": user.email})
    link = re.search(r"https?://[^\s]+/accounts/password/reset/key/[^\s]+", mail.outbox[-1].body).group(0)
    path = "/" + link.split("/", 3)[3]
    form = public.get(path, follow=True)
    public.post(form.redirect_chain[-1][0], {"password1": "brand-new-secret-9", "password2": "brand-new-secret-9"})
    user.refresh_from_db()
    assert user.check_password("brand-new-secret-9")


def test_totp_two_factor_with_recovery_codes(public):
    user = UserFactory()
    assert public.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD}).status_code == 302
    # Enabling a second factor asks for the password again first.
    reauth = public.get("/accounts/2fa/totp/activate/")
    assert reauth["Location"].startswith("/accounts/reauthenticate/")
    public.post(reauth["Location"], {"password": TEST_PASSWORD})
    public.get("/accounts/2fa/totp/activate/")
    secret = public.session[SECRET_SESSION_KEY]
    activated = public.post("/accounts/2fa/totp/activate/", {"code": _totp_now(secret)})
    assert activated.status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    codes = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES).wrap().get_unused_codes()
    assert len(codes) >= 8

    # Signing in now needs the second factor: the password alone is not enough.
    fresh = Client(HTTP_HOST=settings.PLATFORM_DOMAIN)
    step = fresh.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
    assert step["Location"] == "/accounts/2fa/authenticate/"
    assert not _signed_in(fresh)
    fresh.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert not _signed_in(fresh)
    fresh.post("/accounts/2fa/authenticate/", {"code": codes[0]})  # a recovery code works once
    assert _signed_in(fresh)

    again = Client(HTTP_HOST=settings.PLATFORM_DOMAIN)
    again.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
    again.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert not _signed_in(again)


def test_social_sign_in_appears_only_when_configured(public, settings):
    assert "Google" not in public.get("/accounts/login/").content.decode()
    settings.SOCIALACCOUNT_PROVIDERS = {
        "google": {"APPS": [{"client_id": "id.apps.googleusercontent.com", "secret": "s", "key": ""}]},
    }
    page = public.get("/accounts/login/").content.decode()
    assert "Google" in page
    assert "/accounts/google/login/" in page
