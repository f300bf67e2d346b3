"""The full-page cache of the local runtime, for real: nginx's FastCGI cache in front of php-fpm and
WordPress, with the platform's must-use plugin saying what may be kept. What is kept, what never is,
and what emptying it does (the platform's side of purging: test_page_cache_purge.py)."""

from sites.runtimes.local import files, server, webserver
from sites.tests.page_cache_http import ask, sign_in

# A plugin of the site's own that sets a cookie, or says no-store, when asked to.
PERSONAL_PAGES = r"""<?php
add_action('template_redirect', function () {
    if (isset($_GET['set_cookie'])) { setcookie('visited', '1', 0, '/'); }
    if (isset($_GET['no_store'])) { header('Cache-Control: no-store'); }
});
"""


def _twice(hostname: str, path: str, **kwargs) -> tuple[str, str]:
    return ask(hostname, path, **kwargs).cache, ask(hostname, path, **kwargs).cache


def test_a_second_anonymous_get_or_head_is_a_hit(provisioned):
    runtime, provision = provisioned
    spec = provision(301, title="Cached Crumbs")
    # The health check asks for the home page twice, and says what the second answer was (the portal
    # shows it).
    assert runtime.ensure("health", spec, None).detail.endswith("; page cache: X-Cache HIT")
    runtime.cache_purge(spec, ())
    first = ask(spec.hostname, "/")
    assert (first.status, first.cache) == (200, "MISS")
    assert first.headers["cache-control"] == "public, max-age=0, s-maxage=600"  # the plugin, for the CDN too
    second = ask(spec.hostname, "/")
    assert (second.status, second.cache, second.body) == (200, "HIT", first.body)
    assert b"Cached Crumbs" in second.body
    # HEAD is kept apart (an empty body must never answer a GET).
    assert _twice(spec.hostname, "/", method="HEAD") == ("MISS", "HIT")
    assert ask(spec.hostname, "/").body == first.body
    # Another page, another entry; the site's own zone and folder hold them, no other site's.
    assert _twice(spec.hostname, "/?p=1") == ("MISS", "HIT")
    assert any(webserver.cache_dir(spec.key).rglob("*"))
    other = provision(302)
    runtime.cache_purge(other, ())
    assert ask(other.hostname, "/").cache == "MISS"
    assert ask(spec.hostname, "/").cache == "HIT"


def test_signed_in_visitors_never_get_a_cached_page(provisioned):
    _, provision = provisioned
    spec = provision(303)
    assert ask(spec.hostname, "/").cache == "HIT"  # the anonymous page is in the cache
    cookies = sign_in(spec.hostname, spec.admin_email, spec.secrets["WP_ADMIN_PASSWORD"])
    for _ in range(2):
        page = ask(spec.hostname, "/", cookies=cookies)
        assert (page.status, page.cache) == (200, "BYPASS")
        assert b"wp-admin-bar" in page.body  # WordPress made it for them: the toolbar is on it
        assert "public" not in page.headers["cache-control"]
    # The admin and the sign-in page are never kept either, signed in or not.
    assert ask(spec.hostname, "/wp-admin/", cookies=cookies).cache == "BYPASS"
    assert _twice(spec.hostname, "/wp-login.php") == ("BYPASS", "BYPASS")
    # And what they were shown never reaches anyone else.
    assert b"wp-admin-bar" not in ask(spec.hostname, "/").body


def test_pages_made_for_one_visitor_are_never_kept(provisioned):
    _, provision = provisioned
    spec = provision(304)
    (files.docroot(spec.key) / "wp-content" / "mu-plugins" / "personal-pages.php").write_text(PERSONAL_PAGES)
    # A response that sets a cookie, or says no-store: made again every time.
    assert _twice(spec.hostname, "/?set_cookie=1") == ("MISS", "MISS")
    assert "private" in ask(spec.hostname, "/?set_cookie=1").headers["cache-control"]
    assert _twice(spec.hostname, "/?no_store=1") == ("MISS", "MISS")
    # Previews, comment authors (their comment awaiting moderation shows), carts, REST, POSTs.
    assert _twice(spec.hostname, "/?p=1&preview=true") == ("BYPASS", "BYPASS")
    author = {"comment_author_0123456789abcdef": "Ann"}
    assert _twice(spec.hostname, "/", cookies=author) == ("BYPASS", "BYPASS")
    assert _twice(spec.hostname, "/", cookies={"woocommerce_items_in_cart": "1"}) == ("BYPASS", "BYPASS")
    assert _twice(spec.hostname, "/wp-json/") == ("BYPASS", "BYPASS")
    assert _twice(spec.hostname, "/?rest_route=/") == ("BYPASS", "BYPASS")
    assert ask(spec.hostname, "/", method="POST", form={}).cache == "BYPASS"
    assert _twice(spec.hostname, "/", headers={"Authorization": "Basic YTpi"}) == ("BYPASS", "BYPASS")
    # None of that touched the anonymous page.
    assert ask(spec.hostname, "/").cache == "HIT"


def test_emptying_some_pages_or_every_page(provisioned):
    runtime, provision = provisioned
    spec = provision(305)
    base = f"http://{spec.hostname}:8080"
    for path in ("/", "/?p=1", "/?page_id=2"):
        ask(spec.hostname, path)
        assert ask(spec.hostname, path).cache == "HIT"
    said = runtime.cache_purge(spec, (f"{base}/?p=1",))
    assert said == "1 cached copy of 1 page emptied"
    assert [ask(spec.hostname, path).cache for path in ("/?p=1", "/", "/?page_id=2")] == ["MISS", "HIT", "HIT"]
    assert runtime.cache_purge(spec, ()).startswith("every cached page emptied")
    assert [ask(spec.hostname, path).cache for path in ("/", "/?page_id=2")] == ["MISS", "MISS"]
    assert ask(spec.hostname, "/").cache == "HIT"  # and it fills again
    # The site's title changes outside WordPress's hooks: the install step empties its pages.
    runtime.ensure("install", spec, None)
    assert ask(spec.hostname, "/").cache == "MISS"
    # nginx took the missing files for pages it did not have, and had nothing to complain of.
    logged = webserver.error_log(spec.key).read_text() + (server.logs_dir() / "nginx-error.log").read_text()
    assert not [line for line in logged.splitlines() if "[crit]" in line or "[alert]" in line or "cache" in line]
