"""What the MCP server's tool list costs a model: the `tools/list` answer in bytes and in tokens,
per tool and in total, for each kind of key.

    .venv/bin/python bench/mcp_tools.py [--protocol 2025-11-25]

The answer is measured as the wire carries it (compact JSON, the result shaped for the protocol
version), built by the server's own code (mcpserver.tools); a client hands these tool objects to its
model. Tokens are counted offline with Mistral's tekken tokenizer, whose vocabulary ships inside the
mistral-common package (no download); other models' tokenizers differ by some percent, so read the
counts as an estimate of the order of size. Needs no database: Django is set up only for the registry.
"""

import argparse
import json
import os
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VIEWS = (("member, write key", False, False), ("member, read key", False, True), ("staff key", True, False))


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipress.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def _tokenizer() -> tuple[Callable[[str], int], str]:
    """A token counter that works offline, and what it is."""
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    tekken = MistralTokenizer.v3(is_tekken=True).instruct_tokenizer.tokenizer
    described = (
        f"Mistral tekken (tekken_240718.json, {tekken.n_words:,}-token vocabulary, tiktoken-style BPE) "
        f"from mistral-common {version('mistral-common')}, loaded offline from the package"
    )
    return (lambda text: len(tekken.encode(text, bos=False, eos=False))), described


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _answer(result: dict[str, Any]) -> str:
    """The whole JSON-RPC response a client receives for tools/list."""
    return _compact({"jsonrpc": "2.0", "id": 1, "result": result})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", default=None, help="protocol version to shape the answer for")
    options = parser.parse_args()
    _setup_django()
    from mcp.types.version import LATEST_HANDSHAKE_VERSION

    from chat.tools import REGISTRY
    from mcpserver.tools import tools_list_answer

    protocol = options.protocol or LATEST_HANDSHAKE_VERSION
    count, described = _tokenizer()
    answers = {
        label: tools_list_answer(staff=staff, read_only=read_only, version=protocol)
        for label, staff, read_only in VIEWS
    }
    member = {tool["name"]: tool for tool in answers["member, write key"]["tools"]}
    staff = {tool["name"]: tool for tool in answers["staff key"]["tools"]}

    print(f"Tokenizer: {described}")
    print(f"Protocol {protocol}; sizes of compact JSON (UTF-8 bytes)\n")
    header = f"{'tool':<16} {'hints':<6} {'member B':>9} {'tokens':>7} {'staff B':>8} {'tokens':>7}"
    print(header)
    print("-" * len(header))
    for name, tool in REGISTRY.items():
        hints = "".join(flag if on else "." for flag, on in zip("RDIC", _hints(tool), strict=True))
        mine, theirs = _compact(member[name]), _compact(staff[name])
        print(
            f"{name:<16} {hints:<6} {len(mine.encode()):>9,} {count(mine):>7,} "
            f"{len(theirs.encode()):>8,} {count(theirs):>7,}"
        )
    print("hints: R read-only, D destructive, I idempotent, C confirms first (action_id)\n")

    header = f"{'tools/list answer':<20} {'tools':>5} {'bytes':>8} {'tokens':>7}"
    print(header)
    print("-" * len(header))
    for label, result in answers.items():
        text = _answer(result)
        print(f"{label:<20} {len(result['tools']):>5} {len(text.encode()):>8,} {count(text):>7,}")


def _hints(tool: Any) -> tuple[bool, bool, bool, bool]:
    return tool.read_only, tool.destructive, tool.idempotent, tool.asks_first


if __name__ == "__main__":
    main()
