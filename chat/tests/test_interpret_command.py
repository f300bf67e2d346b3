"""`manage.py chat interpret`: one JSON object per line of stdin, from the words alone."""

import io
import json
import sys

import pytest
from django.core.management import CommandError, call_command


def _interpret(monkeypatch: pytest.MonkeyPatch, text: str, *args: str) -> list[dict]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    out = io.StringIO()
    call_command("chat", "interpret", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_line_becomes_the_call_it_would_propose(monkeypatch):
    lines = "make me a site called crumbs titled 'Crumbs & Co'\n\nlist the failed sites of acme\nwrite a poem\n"
    assert _interpret(monkeypatch, lines, "--staff") == [
        {"tool": "create_site", "arguments": {"site": "crumbs", "title": "Crumbs & Co"}, "missing": ["tenant"]},
        {"tool": "list_sites", "arguments": {"status": "failed", "tenant": "acme"}, "missing": []},
        {"tool": None, "arguments": {}, "missing": []},
    ]
    # A member's words name no tenant; a site that does not exist is still the site named.
    assert _interpret(monkeypatch, "delete nosuchsite\n", "--tenant", "acme") == [
        {"tool": "delete_site", "arguments": {"site": "nosuchsite"}, "missing": []}
    ]


def test_staff_and_tenant_together_is_one_clear_error(monkeypatch):
    with pytest.raises(CommandError, match="not both"):
        _interpret(monkeypatch, "list sites\n", "--staff", "--tenant", "acme")
