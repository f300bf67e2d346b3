"""What happens to a tenant, for the apps above to act on. `tenants` never imports them: sites (and
later DNS, billing) connect receivers here. Each signal is sent after the change has committed."""

from django.dispatch import Signal

# kwargs: tenant. Sent when staff suspend an organisation: its sites stop serving.
tenant_suspended = Signal()
# kwargs: tenant. Sent when it is resumed: what its suspension stopped starts again.
tenant_resumed = Signal()
# kwargs: tenant. Sent when its deletion is requested: each app removes what the tenant owns.
tenant_deletion_requested = Signal()
