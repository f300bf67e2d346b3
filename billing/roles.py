"""Who may see and steer a tenant's costs."""

from tenants.audit import Actor
from tenants.models import MANAGER_ROLES, Role, Tenant, WriterRoles
from tenants.roles import require_role

COST_READERS = frozenset({Role.OWNER, Role.ADMIN, Role.BILLING})
BUDGET_WRITERS = WriterRoles(COST_READERS)
# A budget that caps or suspends a site changes the site: the roles that may change sites' scaling.
BUDGET_ACTION_WRITERS = MANAGER_ROLES

READ_REFUSED = "Only owners, admins and billing members can see this organisation's costs."


def require_cost_reader(actor: Actor, tenant: Tenant) -> None:
    """Members with a costs role, and platform staff (who see every tenant's costs)."""
    if actor.is_staff or actor.is_system:
        return
    require_role(actor, tenant, COST_READERS, READ_REFUSED)
