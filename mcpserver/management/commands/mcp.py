"""`manage.py mcp`: the assistant's tools over MCP on stdin/stdout, for desktop clients.

The API key comes from the environment (AIPRESS_API_KEY), never from the command line, where other
users of the machine could read it. It decides everything: the tenant it belongs to (a staff key:
staff mode, every tool then takes `tenant`), and, read-scoped, that the tools only look.
"""

import os
from typing import Any

import anyio
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from kernel.errors import ServiceError
from mcpserver.access import caller_for_key
from mcpserver.server import serve_stdio
from tenants.schema import use_public_schema

KEY_VARIABLE = "AIPRESS_API_KEY"


class Command(BaseCommand):
    help = f"Serve the assistant's tools over MCP on stdin/stdout, as the API key in ${KEY_VARIABLE}."

    def handle(self, *args: Any, **options: Any) -> None:
        raw = os.environ.get(KEY_VARIABLE, "").strip()
        if not raw:
            raise CommandError(f"Set {KEY_VARIABLE} to an API key; an owner or admin creates one in the portal.")
        use_public_schema()
        try:
            caller_for_key(raw)  # refused now, not at the client's first call (and again at every call)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        # The tools open their own connections, in worker threads, in the schema each call needs.
        connection.close()
        anyio.run(serve_stdio, raw)
