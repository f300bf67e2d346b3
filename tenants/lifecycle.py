"""What still holds a tenant back from deletion. Apps above register a counter of what the tenant
still owns with them (sites: its sites not yet removed); its schema is dropped only when every
counter says zero."""

from collections.abc import Callable

from tenants.models import Tenant

ResourceCounter = Callable[[Tenant], int]
_counters: dict[str, ResourceCounter] = {}


def register_resource_counter(name: str, counter: ResourceCounter) -> None:
    _counters[name] = counter


def resources_remaining(tenant: Tenant) -> dict[str, int]:
    """What the tenant still owns, by kind, leaving out kinds where it owns nothing."""
    counts = {name: counter(tenant) for name, counter in _counters.items()}
    return {name: count for name, count in counts.items() if count}
