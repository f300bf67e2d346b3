"""Accuracy of the local assistant's interpreter on the labelled set (chat/tests/nlu_utterances.jsonl).

    .venv/bin/python bench/nlu_accuracy.py [--file chat/tests/nlu_utterances.jsonl] [--quiet]

Per expected tool: how many sentences, intent accuracy (the right tool) and argument accuracy (the
right tool AND arguments AND missing list, all exactly). The interpreter was developed against the
lines with an even index (0-based); the odd lines are reported apart as held out. Then every failure,
with what was expected and what came. Needs no database: Django is set up only for the registry.

Target (chat issue): overall intent and argument accuracy at least 95%.
"""

import argparse
import json
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET = 0.95


@dataclass
class Row:
    line: int
    text: str
    staff: bool
    expected: dict[str, Any]
    got: dict[str, Any]

    @property
    def intent_ok(self) -> bool:
        return self.expected["tool"] == self.got["tool"]

    @property
    def full_ok(self) -> bool:
        return self.expected == self.got


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipress.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def _rows(path: Path) -> list[Row]:
    from chat.assistants.local.interpreter import interpret

    rows = []
    for line, raw in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not raw.strip():
            continue
        item = json.loads(raw)
        expected = {"tool": item["tool"], "arguments": item["arguments"], "missing": item["missing"]}
        got = interpret(item["text"], staff=item["staff"]).as_json()
        rows.append(Row(line, item["text"], item["staff"], expected, got))
    return rows


def _ratio(rows: list[Row], attribute: str) -> float:
    return sum(getattr(row, attribute) for row in rows) / len(rows) if rows else float("nan")


def _line(label: str, rows: list[Row]) -> str:
    return f"{label:<22} {len(rows):>5} {_ratio(rows, 'intent_ok'):>9.1%} {_ratio(rows, 'full_ok'):>11.1%}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", type=Path, default=ROOT / "chat" / "tests" / "nlu_utterances.jsonl")
    parser.add_argument(
        "--independent",
        type=Path,
        default=ROOT / "chat" / "tests" / "nlu_holdout.jsonl",
        help="a set written apart from the interpreter, by someone who never saw it, and never tuned on",
    )
    parser.add_argument("--quiet", action="store_true", help="no list of failures")
    args = parser.parse_args()
    _setup_django()
    rows = _rows(args.file)

    by_tool: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_tool[row.expected["tool"] or "(no action)"].append(row)
    print(f"{'expected tool':<22} {'n':>5} {'intent':>9} {'arguments':>11}")
    for tool in sorted(by_tool):
        print(_line(tool, by_tool[tool]))
    print("-" * 50)
    print(_line("overall", rows))
    print(_line("  staff sentences", [row for row in rows if row.staff]))
    print(_line("  development (even)", [row for row in rows if row.line % 2 == 0]))
    print(_line("  held out (odd)", [row for row in rows if row.line % 2 == 1]))
    intent, full = _ratio(rows, "intent_ok"), _ratio(rows, "full_ok")
    verdict = "ok" if intent >= TARGET and full >= TARGET else "BELOW TARGET"
    print(f"\ntarget: intent and arguments >= {TARGET:.0%} overall: {verdict}")

    independent = _rows(args.independent) if args.independent.exists() else []
    if independent:
        print(_line("independent set", independent) + f"   ({args.independent.name}: written apart, never tuned on)")
    failures = [("held out" if row.line % 2 else "dev", row) for row in rows if not row.full_ok]
    failures += [("independent", row) for row in independent if not row.full_ok]
    if failures and not args.quiet:
        print(f"\n{len(failures)} failures:")
        for part, row in failures:
            print(f"- line {row.line + 1} ({part}, {'staff' if row.staff else 'member'}): {row.text!r}")
            print(f"    expected {json.dumps(row.expected, ensure_ascii=False)}")
            print(f"    got      {json.dumps(row.got, ensure_ascii=False)}")


if __name__ == "__main__":
    main()
