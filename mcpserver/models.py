"""What the MCP server keeps: the destructive calls waiting for their confirmation.

In the public schema, next to the API keys they are bound to. A confirming call must come through
the same key, name the same tool with exactly the same arguments (compared by digest: the
arguments themselves are not kept), before the action expires, and only once.
"""

from django.db import models

from chat.models import ActionState
from tenants.models import ApiKey, Tenant


class McpAction(models.Model):
    """A call of a tool that confirms first (chat.tools.Tool.confirm), answered with this id."""

    action_id = models.CharField(max_length=32, unique=True)
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    # Where it acts: the key's tenant, or the one a staff key named (none: across tenants).
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    tool = models.CharField(max_length=64)
    arguments_digest = models.CharField(max_length=64, help_text="SHA-256 of the call's arguments, as JSON.")
    summary = models.CharField(max_length=400)
    state = models.CharField(max_length=16, choices=ActionState.choices, default=ActionState.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["api_key", "expires_at"], name="mcpserver_action_key_expiry")]

    def __str__(self) -> str:
        return f"{self.tool} ({self.state})"
