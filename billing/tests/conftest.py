"""Fixtures of the billing tests."""

from sites.tests.test_api_sites import api  # noqa: F401 - a tenant, its key, the real runtime and worker
from tenants.tests.test_browser import page  # noqa: F401 - the browser fixture, for the Billing page
