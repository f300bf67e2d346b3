"""Reads of a tenant's sites. Called with the tenant's schema active; return lists, not querysets."""

from sites.models import Site, SiteEvent, SiteStatus


def site_list() -> list[Site]:
    return list(Site.objects.exclude(status=SiteStatus.DELETED).order_by("slug"))


def site_get(name: str) -> Site | None:
    return Site.objects.exclude(status=SiteStatus.DELETED).filter(slug=name).first()


def site_events(site: Site, limit: int = 200) -> list[SiteEvent]:
    return list(SiteEvent.objects.filter(site=site).order_by("-created_at", "-id")[:limit])
