"""The driver concern the chat app owns: the assistant."""

from chat.assistants.base import Assistant
from kernel import drivers

ASSISTANT = drivers.Concern(
    name="assistant",
    protocol=Assistant,
    variable="ASSISTANT",
    known={
        # Offline and deterministic: rules and fuzzy matching, no model, no network.
        "local": "chat.assistants.local_assistant.LocalAssistant",
        "gemini": "chat.assistants.gemini.GeminiAssistant",
    },
)


def register() -> None:
    drivers.register(ASSISTANT)


def assistant() -> Assistant:
    found: Assistant = drivers.driver(ASSISTANT.name)
    return found
