"""Fixtures of the dns tests."""

from tenants.tests.test_browser import page  # noqa: F401 - the browser fixture, for test_domains_browser
