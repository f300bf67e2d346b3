"""Sites made the way production makes them: through the service, as the platform's CLI would."""

from sites import services
from sites.models import Site
from tenants.audit import Actor
from tenants.models import Tenant

ACTOR = Actor.system("tests")


def requested_site(tenant: Tenant, name: str = "blog", title: str = "") -> Site:
    """A site asked for (its create operation queued), as POST /api/v1/sites/ leaves it."""
    site, _, _ = services.site_request(tenant=tenant, actor=ACTOR, name=name, title=title or name.title())
    return site
