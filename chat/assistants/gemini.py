"""The Gemini driver of the `assistant` concern: Gemini on Vertex AI, through Google's Gen AI SDK.

It turns an AssistantRequest into one `streamGenerateContent` call and the answer back into text
pieces, tool calls and one usage record. It never runs a tool: automatic function calling (the SDK
calling Python functions itself) is disabled, and the declarations it sends are JSON Schema only.
Automatic continuation (the SDK resuming a broken stream from a checkpoint) is disabled too: a
failed stream raises AssistantUnavailable and the turn loop discards whatever was streamed.

What the SDK (google-genai 3.4.0) sends, in Vertex mode:

    POST {endpoint}/v1beta1/projects/{project}/locations/{location}/publishers/google/models/{model}
         :streamGenerateContent?alt=sse
    Authorization: Bearer <access token>          X-Server-Timeout: <GEMINI_TIMEOUT_SECONDS>
    {"contents": [{"role": "user" | "model", "parts": [{"text"} | {"functionCall"} | {"functionResponse"}]}],
     "systemInstruction": {"role": "user", "parts": [{"text"}]},
     "tools": [{"functionDeclarations": [{"name", "description", "parameters_json_schema"}]}],
     "generationConfig": {}}

and reads back server-sent events, one GenerateContentResponse each, the last with usageMetadata
(a running total: the latest one counts). The endpoint is `https://{location}-aiplatform.googleapis.com`
(`https://aiplatform.googleapis.com` for the location "global") unless GEMINI_ENDPOINT names another:
an emulator, the tests' fake (chat.tests.fake_gemini), a private endpoint.

Parameters go out as `parameters_json_schema` (raw JSON Schema, which Vertex accepts beside its
OpenAPI `parameters` Schema): the registry's schemas are sent exactly as chat.tools writes them,
without the SDK's conversion to its Schema type.

Credentials. Without GEMINI_ENDPOINT, or with an endpoint on googleapis.com, the SDK uses application
default credentials (google.auth.default(): the service account attached to the machine, or
GOOGLE_APPLICATION_CREDENTIALS), loaded at the first request, not here. With an endpoint anywhere
else, the client is given `google.oauth2.credentials.Credentials` holding the fixed token
EMULATOR_TOKEN instead: a Google access token is never handed to a host that is not Google's, and
an emulator or the tests need no Google credentials on the machine (the SDK neither loads nor
refreshes credentials that hold a token without an expiry).

Settings: GOOGLE_CLOUD_PROJECT (required), GOOGLE_CLOUD_LOCATION, GEMINI_MODEL, GEMINI_ENDPOINT,
GEMINI_TIMEOUT_SECONDS (per connect and per read of the stream: a stream that stalls that long fails).
"""

import importlib
import json
import logging
import math
from collections.abc import Iterator
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from google import genai
from google.auth import exceptions as auth_exceptions
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from chat.assistants.base import (
    AssistantRequest,
    AssistantUnavailable,
    Chunk,
    HistoryItem,
    TextPiece,
    ToolCall,
    Usage,
)

logger = logging.getLogger(__name__)

# The bearer token sent to an endpoint outside googleapis.com: a placeholder, never a secret.
EMULATOR_TOKEN = "aipress-emulator"  # noqa: S105
# estimate_tokens: characters per token of what is sent (an average for English and JSON; the
# turn loop settles the reservation with the real counts afterwards), and the answer's allowance.
CHARS_PER_TOKEN = 4
OUTPUT_ALLOWANCE = 1024

BUSY = "The assistant is busy (rate limited by Gemini); try again in a minute."
CREDENTIALS_REFUSED = (
    "The assistant's provider refused the platform's credentials; nothing was done. The operator must check "
    "the Google service account and its access to Vertex AI."
)
UNREACHABLE = "The assistant's provider could not be reached; nothing was done. Try again in a minute."
BROKEN_OFF = "The connection to the assistant's provider broke off; nothing was done."
UNREADABLE = "The assistant's provider sent an answer that could not be read; nothing was done."
# Finish reasons of an ordinary answer; any other (SAFETY, MALFORMED_FUNCTION_CALL...) is logged.
ORDINARY_ENDS = {"STOP", "MAX_TOKENS", "FINISH_REASON_UNSPECIFIED"}


def _transport_errors(name: str) -> tuple[type[Exception], ...]:
    """httpx's exception `name` from whichever of httpx2 and httpx the SDK may use (both when both are
    installed: the SDK picks one at run time)."""
    found: list[type[Exception]] = []
    for module in ("httpx2", "httpx"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


TIMEOUTS = _transport_errors("TimeoutException")
CONNECT_ERRORS = _transport_errors("ConnectError")
TRANSPORT_ERRORS = _transport_errors("TransportError")  # the rest: a dropped connection, a bad frame


class GeminiAssistant:
    """Gemini on Vertex AI. Built from Django settings; the SDK client is made at the first answer."""

    def __init__(self) -> None:
        self._project: str = getattr(settings, "GOOGLE_CLOUD_PROJECT", "")
        self._location: str = getattr(settings, "GOOGLE_CLOUD_LOCATION", "us-central1") or "us-central1"
        self._model: str = getattr(settings, "GEMINI_MODEL", "gemini-2.5-flash") or "gemini-2.5-flash"
        self._endpoint: str = getattr(settings, "GEMINI_ENDPOINT", "")
        self._timeout = float(getattr(settings, "GEMINI_TIMEOUT_SECONDS", 30))
        if not self._project:
            raise ImproperlyConfigured(
                "The Gemini assistant needs GOOGLE_CLOUD_PROJECT (the Google Cloud project that runs Vertex AI)."
            )
        if self._timeout <= 0:
            raise ImproperlyConfigured("GEMINI_TIMEOUT_SECONDS must be more than 0.")
        self._client: genai.Client | None = None

    # -- the protocol

    def model_name(self) -> str:
        return self._model

    def estimate_tokens(self, request: AssistantRequest) -> int:
        """An upper estimate, without asking Google: a token per CHARS_PER_TOKEN characters of everything
        sent (system instruction, history with arguments and results as JSON, declarations as JSON),
        rounded up, plus OUTPUT_ALLOWANCE for the answer."""
        sent = len(request.system_instruction)
        for item in request.history:
            sent += len(item.text) + len(item.name)
            if item.role == "call":
                sent += len(json.dumps(item.arguments, default=str))
            elif item.role == "result":
                sent += len(json.dumps(item.result, default=str))
        for tool in request.tools:
            sent += len(tool.name) + len(tool.description) + len(json.dumps(tool.parameters, default=str))
        return math.ceil(sent / CHARS_PER_TOKEN) + OUTPUT_ALLOWANCE

    def respond(self, request: AssistantRequest) -> Iterator[Chunk]:
        config = types.GenerateContentConfig(
            system_instruction=request.system_instruction or None,
            tools=[self._tool(request)] if request.tools else None,
            # The turn loop runs every tool itself, after its checks; the SDK must never call one.
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            automatic_continuation=False,
        )
        usage: types.GenerateContentResponseUsageMetadata | None = None
        ends: set[str] = set()
        try:
            stream = self._sdk().models.generate_content_stream(
                model=self._model, contents=_contents(request.history), config=config
            )
            for response in stream:
                if response.usage_metadata is not None:
                    usage = response.usage_metadata  # a running total: the latest is the request's
                yield from _chunks(response, ends)
        except errors.APIError as exc:
            raise self._unavailable(exc) from None
        except auth_exceptions.GoogleAuthError as exc:
            logger.error("gemini: credentials failed (%s)", type(exc).__name__)
            raise AssistantUnavailable(CREDENTIALS_REFUSED) from None
        except TIMEOUTS as exc:
            logger.warning("gemini: no answer within %g s (%s)", self._timeout, type(exc).__name__)
            raise AssistantUnavailable(
                f"The assistant did not answer in {self._timeout:g} s; nothing was done."
            ) from None
        except CONNECT_ERRORS as exc:
            logger.warning("gemini: cannot connect (%s)", type(exc).__name__)
            raise AssistantUnavailable(UNREACHABLE) from None
        except TRANSPORT_ERRORS as exc:
            logger.warning("gemini: connection broke off (%s)", type(exc).__name__)
            raise AssistantUnavailable(BROKEN_OFF) from None
        except errors.UnknownApiResponseError:
            logger.warning("gemini: unreadable answer")
            raise AssistantUnavailable(UNREADABLE) from None
        unusual = ends - ORDINARY_ENDS
        if unusual:
            # Only the reason: the answer itself may quote the conversation.
            logger.warning("gemini: answer ended with %s", ", ".join(sorted(unusual)))
        yield Usage(
            model=self._model,
            tokens_in=(usage.prompt_token_count or 0) if usage else 0,
            tokens_out=((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)) if usage else 0,
        )

    def check(self) -> str:
        """Configuration only: no request is sent (readiness must not spend quota or wait on Google)."""
        if not self._project:
            raise ImproperlyConfigured("The Gemini assistant needs GOOGLE_CLOUD_PROJECT.")
        endpoint = self._endpoint or "Vertex AI's default"
        return (
            f"gemini {self._model}: project {self._project}, location {self._location}, endpoint {endpoint}: configured"
        )

    # -- the SDK

    def _sdk(self) -> genai.Client:
        if self._client is None:
            # HttpOptions.timeout is in milliseconds; httpx applies it to the connection and to each read.
            options = types.HttpOptions(timeout=math.ceil(self._timeout * 1000))
            if self._endpoint:
                options.base_url = self._endpoint
            self._client = genai.Client(
                vertexai=True,
                project=self._project,
                location=self._location,
                credentials=self._credentials(),
                http_options=options,
            )
        return self._client

    def _credentials(self) -> Credentials | None:
        """None: the SDK's application default credentials. A fixed token for a host that is not Google's."""
        if not self._endpoint:
            return None
        host = urlsplit(self._endpoint).hostname or ""
        if host == "googleapis.com" or host.endswith(".googleapis.com"):
            return None
        return Credentials(token=EMULATOR_TOKEN)

    @staticmethod
    def _tool(request: AssistantRequest) -> types.Tool:
        return types.Tool(
            function_declarations=[
                types.FunctionDeclaration(
                    name=tool.name, description=tool.description, parameters_json_schema=tool.parameters
                )
                for tool in request.tools
            ]
        )

    def _unavailable(self, exc: errors.APIError) -> AssistantUnavailable:
        # Only the code and status are logged: Google's messages can quote the request.
        code, status = int(exc.code or 0), exc.status or ""  # an error event may lack its code
        if code == 429:
            logger.warning("gemini: rate limited (429 %s)", status)
            return AssistantUnavailable(BUSY)
        if code in (401, 403):
            logger.error("gemini: credentials refused (%s %s)", code, status)
            return AssistantUnavailable(CREDENTIALS_REFUSED)
        if code >= 500 or code in (0, 408):
            logger.warning("gemini: provider failed (%s %s)", code, status)
            return AssistantUnavailable(f"The assistant's provider failed (HTTP {code}); nothing was done.")
        if code == 404:
            logger.error("gemini: model %s not found in %s (404 %s)", self._model, self._location, status)
            return AssistantUnavailable(
                f"The assistant's model is not available (HTTP 404); nothing was done. The operator must check "
                f"GEMINI_MODEL ({self._model}) and GOOGLE_CLOUD_LOCATION ({self._location})."
            )
        # 400 and the like: the request itself was refused (too long, or a bug on our side).
        logger.error("gemini: request refused (%s %s)", code, status)
        return AssistantUnavailable(f"The assistant's provider refused the request (HTTP {code}); nothing was done.")


# --- Requests and answers -----------------------------------------------------------------------


def _part(item: HistoryItem) -> tuple[str, str, types.Part] | None:
    """(role, kind, part) of one history item; None for an empty text, which Vertex refuses."""
    if item.role == "call":
        return "model", "model", types.Part(function_call=types.FunctionCall(name=item.name, args=dict(item.arguments)))
    if item.role == "result":
        response = types.FunctionResponse(name=item.name, response=dict(item.result))
        return "user", "results", types.Part(function_response=response)
    if not item.text.strip():
        return None
    if item.role == "assistant":
        return "model", "model", types.Part(text=item.text)
    return "user", "text", types.Part(text=item.text)


def _contents(history: list[HistoryItem]) -> list[types.Content]:
    """Consecutive items of one turn share a Content, as the model writes them: its text and calls in one
    model turn, and the results of those calls in the user turn right after (Vertex wants one response
    per call there). A person's text after results starts a turn of its own."""
    contents: list[types.Content] = []
    kinds: list[str] = []
    for item in history:
        made = _part(item)
        if made is None:
            continue
        role, kind, part = made
        if contents and kinds[-1] == kind and contents[-1].parts is not None:
            contents[-1].parts.append(part)
        else:
            contents.append(types.Content(role=role, parts=[part]))
            kinds.append(kind)
    return contents


def _chunks(response: types.GenerateContentResponse, ends: set[str]) -> Iterator[TextPiece | ToolCall]:
    if not response.candidates:
        return
    candidate = response.candidates[0]
    if candidate.finish_reason is not None:
        ends.add(str(getattr(candidate.finish_reason, "value", candidate.finish_reason)))
    for part in (candidate.content.parts if candidate.content else None) or []:
        if part.function_call is not None and part.function_call.name:
            yield ToolCall(name=part.function_call.name, arguments=dict(part.function_call.args or {}))
        elif part.text and not part.thought:  # thought summaries are the model's, not the person's
            yield TextPiece(part.text)
