"""Confirmations are bound to the key, the tool and the exact arguments, expire, and work once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from kernel.errors import Conflict, NotFound
from mcpserver.access import caller_for_key
from mcpserver.calls import action_decide, action_open, call_check
from mcpserver.models import McpAction

pytestmark = pytest.mark.django_db


def test_an_action_is_for_its_key_its_call_its_time_and_once(acme, key_for):
    mine, theirs = caller_for_key(key_for(acme)), caller_for_key(key_for(acme))
    call = call_check(mine, "delete_site", {"site": "blog"})
    action = action_open(mine, call)
    assert len(action.action_id) == 32 and action.summary.startswith("Delete the site “blog”")

    with pytest.raises(NotFound):
        action_decide(theirs, call_check(theirs, "delete_site", {"site": "blog"}), action.action_id, confirm=True)
    with pytest.raises(Conflict, match="another call"):
        action_decide(mine, call_check(mine, "delete_site", {"site": "blog2"}), action.action_id, confirm=True)
    # The same call, written differently, is the same call: names are normalised as the chat does.
    same = call_check(mine, "delete_site", {"site": " Blog", "action_id": action.action_id})
    assert same.action_id == action.action_id

    McpAction.objects.filter(pk=action.pk).update(expires_at=timezone.now())
    with pytest.raises(Conflict, match="expired"):
        action_decide(mine, same, action.action_id, confirm=True)
    McpAction.objects.filter(pk=action.pk).update(expires_at=timezone.now() + timedelta(minutes=1))
    assert action_decide(mine, same, action.action_id, confirm=True).state == "confirmed"
    with pytest.raises(Conflict, match="works once"):
        action_decide(mine, same, action.action_id, confirm=True)
