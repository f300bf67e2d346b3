"""The assistant protocol: what the turn loop (chat.turns) asks of an assistant, local or Gemini.

An assistant reads the conversation so far and the tools it may call, and answers with a stream of
text pieces and tool calls, then one usage record. It never calls a tool itself: the turn loop
checks every call against the registry (unknown tools and arguments are refused, missing arguments
are asked for, destructive tools wait for the person's confirmation) and runs it through the
services as the acting user. So what an assistant says cannot widen what the person may do.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class ToolDeclaration:
    """A tool as an assistant sees it: generated from the registry (chat.tools)."""

    name: str
    description: str
    parameters: dict[str, Any]  # a JSON Schema object: type, properties, required


@dataclass(frozen=True)
class HistoryItem:
    """One entry of the conversation, oldest first.

    role "user" and "assistant" carry text; role "call" is a tool call the assistant asked for
    (name, arguments); role "result" is what that call returned (name, result)."""

    role: Literal["user", "assistant", "call", "result"]
    text: str = ""
    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingCall:
    """A call the conversation is completing: the assistant asked the person for `missing`."""

    name: str
    arguments: dict[str, Any]
    missing: list[str]


@dataclass(frozen=True)
class AssistantRequest:
    system_instruction: str
    history: list[HistoryItem]  # ends with the newest user message, or with results to answer
    tools: list[ToolDeclaration]
    staff: bool  # a staff conversation: every tool but help takes `tenant`
    pending: PendingCall | None = None  # what the last question was about, if any
    focus: dict[str, str] = field(default_factory=dict)  # the site (and tenant) last talked about


@dataclass(frozen=True)
class TextPiece:
    text: str


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    model: str
    tokens_in: int
    tokens_out: int


Chunk = TextPiece | ToolCall | Usage


class AssistantUnavailable(Exception):
    """The provider failed (timeout, 429, 5xx, refused credentials). `message` is for the person;
    nothing was done."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Assistant(Protocol):
    """A driver of the `assistant` concern."""

    def model_name(self) -> str:
        """The model metered for usage and priced (settings.AI_PRICES)."""
        ...

    def estimate_tokens(self, request: AssistantRequest) -> int:
        """Tokens (in and out) this request may use at most: reserved from the quota before the call."""
        ...

    def respond(self, request: AssistantRequest) -> Iterator[Chunk]:
        """Text pieces as they are produced and tool calls, then exactly one Usage. Raises
        AssistantUnavailable when the provider fails."""
        ...

    def check(self) -> str:
        """A line for /readyz and setup_platform; raises when the provider cannot be reached."""
        ...
