"""`manage.py chat interpret [--staff] [--tenant SLUG]`: what the local assistant would propose for
each line of stdin, as one JSON object per line, from the words alone (nothing runs, no tenant data
is read). `manage.py chat tools [--staff] [--markdown]`: the registry, as the models see it."""

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.assistants.local.interpreter import interpret
from chat.tools import REGISTRY, catalogue


def tools_markdown(*, staff: bool) -> str:
    lines = ["| tool | arguments (* required) | confirms | what it does |", "| --- | --- | --- | --- |"]
    for tool in REGISTRY.values():
        schema = tool.parameters(staff=staff)
        names = [f"{name}{'*' if name in schema['required'] else ''}" for name in schema["properties"]]
        confirms = "yes" if tool.confirm else ""
        lines.append(f"| `{tool.name}` | {', '.join(names) or '—'} | {confirms} | {tool.description} |")
    return "\n".join(lines) + "\n"


class Command(BaseCommand):
    help = "The assistant's interpreter and tools, from the command line."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        reading = commands.add_parser("interpret", help="Interpret each line of stdin; print JSON lines.")
        reading.add_argument("--staff", action="store_true", help="As staff: tools also take `tenant`.")
        reading.add_argument(
            "--tenant", default="", help="As a member of this tenant (the words alone decide; shown for context)."
        )
        listing = commands.add_parser("tools", help="Print the tool registry.")
        listing.add_argument("--staff", action="store_true")
        listing.add_argument("--markdown", action="store_true", help="A table for docs/chat.md.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["command"] == "tools":
            if options["markdown"]:
                self.stdout.write(tools_markdown(staff=options["staff"]), ending="")
                return
            declared = catalogue(staff=options["staff"])
            self.stdout.write(json.dumps(declared, indent=2))
            return
        if options["staff"] and options["tenant"]:
            raise CommandError("Use --staff or --tenant, not both: staff name tenants in their words.")
        for line in sys.stdin:
            text = line.rstrip("\n")
            if not text.strip():
                continue
            found = interpret(text, staff=options["staff"])
            self.stdout.write(json.dumps(found.as_json(), ensure_ascii=False))
