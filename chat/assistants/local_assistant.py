"""The local assistant: offline and deterministic. The interpreter (chat.assistants.local) reads one
message; this driver adds the conversation's memory (the question it asked last) and phrases results
from what the tools say. It costs nothing, and is metered like any model (tokens counted as words)."""

from collections.abc import Iterator

from chat.assistants.base import AssistantRequest, Chunk, TextPiece, ToolCall, Usage
from chat.assistants.local.interpreter import answer_for, interpret

MODEL = "local"
NOT_UNDERSTOOD = (
    "I did not understand that as something I can do. I can create, list, check, suspend, resume and "
    "delete sites, set, remove or list their env vars, add and check domains, tell what was spent and "
    "set budgets. Say “help” for the list."
)


def _words(text: str) -> int:
    return len(text.split())


class LocalAssistant:
    def model_name(self) -> str:
        return MODEL

    def estimate_tokens(self, request: AssistantRequest) -> int:
        last = request.history[-1] if request.history else None
        return (_words(last.text) if last else 0) + 200

    def check(self) -> str:
        return "offline rules, always available"

    def respond(self, request: AssistantRequest) -> Iterator[Chunk]:
        last = request.history[-1] if request.history else None
        said = ""
        if last is None:
            said = NOT_UNDERSTOOD
        elif last.role == "result":
            said = str(last.result.get("message") or "Done.")
        elif last.role == "user":
            call = self._call_for(last.text, request)
            if call is not None:
                yield call
                yield Usage(model=MODEL, tokens_in=_words(last.text), tokens_out=0)
                return
            said = NOT_UNDERSTOOD
        # Line by line, like a model that streams: the socket shows it as it comes.
        for line in said.splitlines(keepends=True):
            yield TextPiece(line)
        yield Usage(model=MODEL, tokens_in=_words(last.text) if last else 0, tokens_out=_words(said))

    def _call_for(self, text: str, request: AssistantRequest) -> ToolCall | None:
        pending = request.pending
        if pending is not None and pending.missing:
            value = answer_for(text, argument=pending.missing[0], tool=pending.name)
            if value is not None:
                arguments = {**pending.arguments, pending.missing[0]: value}
                # "crumbs, titled Crumbs Bakery": more than the one answer in the same words.
                more = interpret(text, staff=request.staff)
                if more.tool == pending.name:
                    for name, found in more.arguments.items():
                        arguments.setdefault(name, found)
                return ToolCall(name=pending.name, arguments=arguments)
        found = interpret(text, staff=request.staff)
        if found.tool is None:
            return None
        arguments = dict(found.arguments)
        if not request.staff:
            # A member who names an organisation: the turn loop refuses any but their own.
            named = interpret(text, staff=True).arguments.get("tenant")
            if named:
                arguments["tenant"] = named
        return ToolCall(name=found.tool, arguments=arguments)
