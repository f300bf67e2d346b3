"""The sites list builds each site's body directly (issue 14); it must answer exactly what the
documented SiteSerializer answers, for every kind of value."""

from datetime import UTC, datetime

import pytest
from django_tenants.utils import tenant_context

from sites import selectors
from sites.models import Site, SiteStatus
from sites.serializers import SiteSerializer, site_body
from sites.tests.factories import ACTOR, requested_site
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_the_lists_body_is_the_serializers_for_every_kind_of_value(client_for, api_key_for):
    tenant = TenantFactory(slug="bodies")
    requested_site(tenant, "plain")
    requested_site(tenant, "odd", title="Café “Ünïcode” <b>&</b>")
    with tenant_context(tenant):
        Site.objects.filter(slug="odd").update(
            status=SiteStatus.FAILED,
            last_error="line one\nline two",
            wordpress_version="6.8.1",
            max_php_workers=7,
            created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: isoformat drops them
        )
        sites = list(Site.objects.order_by("slug"))
    expected = [SiteSerializer(site, context={"tenant": tenant}).data for site in sites]
    rows = selectors.site_list_rows(tenant=tenant, actor=ACTOR)
    assert [site_body(row, tenant) for row in rows] == expected
    listed = client_for(tenant, key=api_key_for(tenant)).get("/api/v1/sites/").json()
    assert listed == [dict(body) for body in expected]
