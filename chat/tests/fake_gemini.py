"""A loopback fake of Vertex AI's Gemini REST API, for driving chat.assistants.gemini without Google.

It answers what google-genai sends in Vertex mode (verified against google-genai 3.4.0):

    POST {base}/v1beta1/projects/{project}/locations/{location}/publishers/google/models/{model}
         :streamGenerateContent?alt=sse    (or :generateContent)
    Authorization: Bearer <token>
    {"contents": [...], "systemInstruction": {...}, "tools": [...], "generationConfig": {...}}

and it checks the request the way the real service does, answering Google's error shape
`{"error": {"code": 400, "message": ..., "status": "INVALID_ARGUMENT"}}` for what Vertex would
refuse: another project, location or model in the path; a missing or malformed bearer token; no
contents, an empty part, a role other than user/model; a function response that does not answer the
function calls of the model turn right before it; function declarations with invalid or duplicate
names, or parameter schemas with keys Vertex does not support. Field names are accepted in both
spellings proto JSON allows (`systemInstruction` and `system_instruction`): the SDK itself sends
`parameters_json_schema` inside function declarations.

Tests script the answers, in order: a `Stream` of `Text`, `Call`, `Stall` and in-stream `Failure`
events (each event is one server-sent event, as Vertex streams them) with a final usage record; a
`Failure` (an HTTP error status with Google's error body); or a `Stall` (no answer at all, until the
fake is closed or its `seconds` pass: the SDK's timeout fires first). Every request is recorded
(path, headers with secrets masked, parsed body) with the status it got.
"""

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_VERSIONS = ("v1", "v1beta1")
PATH = re.compile(
    r"^/(?P<version>[^/]+)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/(?P<publisher>[^/]+)/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$"
)
FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$")
# What a Vertex Content part may carry: exactly one datum, plus these modifiers.
PART_DATA = {
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
}
PART_MODIFIERS = {"thought", "thoughtSignature", "videoMetadata", "mediaResolution"}
REQUEST_FIELDS = {
    "contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings", "labels",
    "cachedContent", "modelArmorConfig",
}  # fmt: skip
GENERATION_CONFIG_FIELDS = {
    "temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences", "responseLogprobs",
    "logprobs", "presencePenalty", "frequencyPenalty", "seed", "responseMimeType", "responseSchema",
    "responseJsonSchema", "routingConfig", "modelConfig", "responseModalities", "mediaResolution", "speechConfig",
    "audioTimestamp", "thinkingConfig", "imageConfig",
}  # fmt: skip
DECLARATION_FIELDS = {"name", "description", "parameters", "parametersJsonSchema", "response", "responseJsonSchema"}
# `parameters` is Vertex's OpenAPI Schema message; `parametersJsonSchema` takes the JSON Schema subset
# Vertex documents for function calling. Anything else (allOf, not, if/then, $schema, patternProperties
# ...) is refused by the service, so it is refused here.
OPENAPI_SCHEMA_KEYS = {
    "type", "format", "title", "description", "nullable", "default", "items", "minItems", "maxItems", "enum",
    "properties", "propertyOrdering", "required", "minProperties", "maxProperties", "minimum", "maximum",
    "minLength", "maxLength", "pattern", "example", "anyOf", "additionalProperties", "ref", "defs",
}  # fmt: skip
JSON_SCHEMA_KEYS = {
    "$id", "$defs", "$ref", "$anchor", "type", "format", "title", "description", "enum", "items", "prefixItems",
    "minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength", "pattern", "anyOf", "oneOf",
    "properties", "additionalProperties", "required", "propertyOrdering", "nullable", "default",
}  # fmt: skip
JSON_SCHEMA_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
OPENAPI_TYPES = {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
SECRET_HEADERS = {"authorization", "x-goog-api-key", "cookie", "proxy-authorization"}
# Vertex ends each server-sent event with a blank CRLF line; the SDK accepts \n\n as well.
EVENT_END = b"\r\n\r\n"


# --- What tests script --------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A piece of the model's text: one streamed chunk. `thought` marks a thought summary."""

    text: str
    thought: bool = False


@dataclass(frozen=True)
class Call:
    """A function call of the model: one streamed chunk."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stall:
    """No answer (at the top of the queue) or no further chunk (inside a Stream) until the fake is closed
    or `seconds` pass; then the connection is dropped."""

    seconds: float | None = None


@dataclass(frozen=True)
class Failure:
    """An error as Google sends it: an HTTP status with `{"error": {code, message, status}}`, or inside a
    Stream, an error event after what was already streamed."""

    code: int
    status: str
    message: str = "The fake was told to fail."

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


@dataclass(frozen=True)
class UsageCounts:
    prompt: int
    candidates: int
    thoughts: int = 0

    def wire(self) -> dict[str, Any]:
        total = self.prompt + self.candidates + self.thoughts
        usage = {"promptTokenCount": self.prompt, "candidatesTokenCount": self.candidates, "totalTokenCount": total}
        if self.thoughts:
            usage["thoughtsTokenCount"] = self.thoughts
        return usage


@dataclass(frozen=True)
class Stream:
    """A successful answer: each event one chunk, the last chunk carrying finishReason and usage."""

    events: list[Text | Call | Stall | Failure]
    usage: UsageCounts | None = None
    finish_reason: str = "STOP"


Answer = Stream | Failure | Stall


@dataclass
class Received:
    """One request as the fake saw it."""

    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # secrets masked
    body: Any
    status: int = 0  # what the fake answered (0: the connection was dropped)
    error: str = ""  # why it was refused, if it was

    @property
    def model_method(self) -> str:
        return self.path.rsplit(":", 1)[-1]


class Rejected(Exception):
    """The request was refused, as Google would refuse it."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.failure = Failure(code, status, message)


def _invalid(message: str) -> Rejected:
    return Rejected(400, "INVALID_ARGUMENT", message)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _fields(value: Any, where: str) -> dict[str, Any]:
    """A proto message in JSON, with its keys in lowerCamel (proto JSON accepts both spellings)."""
    if not isinstance(value, dict):
        raise _invalid(f"Invalid value at '{where}': expected an object.")
    return {_camel(key): item for key, item in value.items()}


def _unknown(given: dict[str, Any], known: set[str], where: str) -> None:
    for key in given:
        if key not in known:
            raise _invalid(f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field.")


# --- The checks ---------------------------------------------------------------------------------


def check_request(body: Any) -> None:
    """Raise Rejected for what Vertex's generateContent would refuse."""
    request = _fields(body, "request")
    _unknown(request, REQUEST_FIELDS, "request")
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _invalid("Unable to submit request because it must include at least one content in contents.")
    previous: dict[str, Any] | None = None
    for index, raw in enumerate(contents):
        content = _check_content(raw, f"contents[{index}]", previous)
        previous = content
    if "systemInstruction" in request:
        system = _fields(request["systemInstruction"], "system_instruction")
        _check_parts(system.get("parts"), "system_instruction", role="system")
    tools = request.get("tools", [])
    if not isinstance(tools, list):
        raise _invalid("Invalid value at 'tools': expected a list.")
    names: set[str] = set()
    for index, tool in enumerate(tools):
        declarations = _fields(tool, f"tools[{index}]").get("functionDeclarations", [])
        for number, declaration in enumerate(declarations):
            name = _check_declaration(declaration, f"tools[{index}].function_declarations[{number}]")
            if name in names:
                raise _invalid(f"Duplicate function declaration found: {name}")
            names.add(name)
    if "generationConfig" in request:
        _unknown(
            _fields(request["generationConfig"], "generation_config"), GENERATION_CONFIG_FIELDS, "generation_config"
        )


def _check_content(raw: Any, where: str, previous: dict[str, Any] | None) -> dict[str, Any]:
    content = _fields(raw, where)
    _unknown(content, {"role", "parts"}, where)
    role = content.get("role")
    if role not in ("user", "model"):
        raise _invalid(f"Please use a valid role: user, model. ({where}.role is {role!r})")
    parts = _check_parts(content.get("parts"), where, role=role)
    responses = [part["functionResponse"] for part in parts if "functionResponse" in part]
    if responses:
        calls = [part["functionCall"] for part in (previous or {}).get("parts", []) if "functionCall" in part]
        if not calls:
            raise _invalid("Please ensure that function response turn comes immediately after a function call turn.")
        if len(responses) != len(calls):
            raise _invalid(
                "Please ensure that the number of function response parts is equal to the number of function "
                "call parts of the function call turn."
            )
        called = {call["name"] for call in calls}
        for response in responses:
            if response["name"] not in called:
                raise _invalid(f"Function response name {response['name']!r} does not match any function call.")
    return {"role": role, "parts": parts}


def _check_parts(raw: Any, where: str, *, role: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise _invalid(f"Unable to submit request because it must include at least one parts field ({where}).")
    parts = []
    for index, item in enumerate(raw):
        here = f"{where}.parts[{index}]"
        part = _fields(item, here)
        _unknown(part, PART_DATA | PART_MODIFIERS, here)
        data = [key for key in part if key in PART_DATA]
        if len(data) != 1:
            raise _invalid(f"A part must hold exactly one of {sorted(PART_DATA)} ({here} has {data}).")
        if "text" in part and (not isinstance(part["text"], str) or not part["text"]):
            raise _invalid("Unable to submit request because it has an empty text parameter.")
        if role == "system" and "text" not in part:
            raise _invalid(f"The system instruction takes text parts only ({here}).")
        if "functionCall" in part:
            part["functionCall"] = _check_call(part["functionCall"], f"{here}.function_call", role=role)
        if "functionResponse" in part:
            part["functionResponse"] = _check_response(part["functionResponse"], f"{here}.function_response", role=role)
        parts.append(part)
    return parts


def _check_call(raw: Any, where: str, *, role: str) -> dict[str, Any]:
    if role != "model":
        raise _invalid(f"A function call must be in a model turn ({where}).")
    call = _fields(raw, where)
    _unknown(call, {"name", "args", "id", "partialArgs", "willContinue"}, where)
    if not isinstance(call.get("name"), str) or not call["name"]:
        raise _invalid(f"Function call name must be set ({where}).")
    if not isinstance(call.get("args", {}), dict):
        raise _invalid(f"Invalid value at '{where}.args': expected an object.")
    return call


def _check_response(raw: Any, where: str, *, role: str) -> dict[str, Any]:
    if role != "user":
        raise _invalid(f"A function response must be in a user turn ({where}).")
    response = _fields(raw, where)
    _unknown(response, {"name", "response", "id", "parts", "scheduling"}, where)
    if not isinstance(response.get("name"), str) or not response["name"]:
        raise _invalid(f"Function response name must be set ({where}).")
    if not isinstance(response.get("response"), dict):
        raise _invalid(f"Invalid value at '{where}.response': expected an object.")
    return response


def _check_declaration(raw: Any, where: str) -> str:
    declaration = _fields(raw, where)
    _unknown(declaration, DECLARATION_FIELDS, where)
    name = declaration.get("name")
    if not isinstance(name, str) or not FUNCTION_NAME.match(name):
        raise _invalid(
            f"* GenerateContentRequest.{where}.name: Invalid function name. Must start with a letter or an "
            "underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.) or dashes (-), with a "
            "maximum length of 64."
        )
    if "parameters" in declaration and "parametersJsonSchema" in declaration:
        raise _invalid(f"{where}: parameters and parameters_json_schema are mutually exclusive.")
    if "parameters" in declaration:
        _check_schema(declaration["parameters"], f"{where}.parameters", json_schema=False)
    if "parametersJsonSchema" in declaration:
        schema = declaration["parametersJsonSchema"]
        _check_schema(schema, f"{where}.parameters_json_schema", json_schema=True)
        if schema.get("type") != "object":
            raise _invalid(f"{where}.parameters_json_schema must describe an object.")
    return name


def _check_schema(schema: Any, where: str, *, json_schema: bool) -> None:
    if not isinstance(schema, dict):
        raise _invalid(f"Invalid value at '{where}': expected a schema object.")
    allowed = JSON_SCHEMA_KEYS if json_schema else OPENAPI_SCHEMA_KEYS
    for key in schema:
        if key not in allowed:
            raise _invalid(f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': not a schema key.")
    _check_type(schema.get("type"), where, json_schema=json_schema)
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise _invalid(f"Invalid value at '{where}.properties': expected an object.")
    for name, sub in properties.items():
        _check_schema(sub, f"{where}.properties[{name}]", json_schema=json_schema)
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        raise _invalid(f"Invalid value at '{where}.required': expected a list of names.")
    for name in required:
        if name not in properties:
            raise _invalid(f"{where}.required: property {name!r} is not defined.")
    enum = schema.get("enum")
    if enum is not None and (not isinstance(enum, list) or not all(isinstance(v, str | int | float) for v in enum)):
        raise _invalid(f"Invalid value at '{where}.enum': expected a list of strings or numbers.")
    if "items" in schema:
        _check_schema(schema["items"], f"{where}.items", json_schema=json_schema)
    for index, sub in enumerate(schema.get("anyOf", [])):
        _check_schema(sub, f"{where}.any_of[{index}]", json_schema=json_schema)


def _check_type(kind: Any, where: str, *, json_schema: bool) -> None:
    """JSON Schema's lowercase type (or a list of them), or the OpenAPI Schema's Type enum. The SDK writes
    the enum in capitals; lower case is let through, as the fake refuses only what it knows Vertex refuses."""
    if kind is None:
        return
    kinds = kind if json_schema and isinstance(kind, list) else [kind]
    valid = JSON_SCHEMA_TYPES if json_schema else OPENAPI_TYPES
    for each in kinds:
        if not isinstance(each, str) or (each if json_schema else each.upper()) not in valid:
            raise _invalid(f"Invalid value at '{where}.type': {each!r}.")


# --- The server ---------------------------------------------------------------------------------


class FakeGemini:
    """The fake service on 127.0.0.1, in a thread. Use as a context manager (or start() / close())."""

    def __init__(
        self,
        *,
        project: str = "aipress-test",
        location: str = "us-central1",
        model: str = "gemini-2.5-flash",
        token: str = "",
    ) -> None:
        self.project = project
        self.location = location
        self.model = model
        self.token = token  # the bearer token it accepts; empty: any non-empty token
        self.received: list[Received] = []
        self._answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()  # ends every Stall
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll: close() waits for the serving loop to notice, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-gemini", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> "FakeGemini":
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> "FakeGemini":
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def answer(self, *answers: Answer) -> None:
        """Queue what the next requests get, in order."""
        with self._lock:
            self._answers.extend(answers)

    @property
    def pending(self) -> int:
        """Scripted answers no request has taken yet."""
        with self._lock:
            return len(self._answers)

    def _next_answer(self) -> Answer:
        with self._lock:
            if self._answers:
                return self._answers.popleft()
        # An unscripted request fails loudly, as the real service's internal error would.
        return Failure(500, "INTERNAL", "The fake has no scripted answer for this request.")

    def _record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def stalled(self, seconds: float | None) -> None:
        self._closing.wait(timeout=seconds if seconds is not None else 120)

    def check(self, method: str, path: str, headers: dict[str, str], body: Any) -> str:
        """Raise Rejected when Vertex would; return the model method (generateContent or streamGenerateContent)."""
        if method != "POST":
            raise Rejected(404, "NOT_FOUND", f"The fake answers POST only, not {method}.")
        matched = PATH.match(path)
        if matched is None:
            raise Rejected(404, "NOT_FOUND", f"The requested URL {path} was not found on this server.")
        if matched["version"] not in API_VERSIONS:
            raise Rejected(404, "NOT_FOUND", f"Unknown API version {matched['version']}.")
        authorization = headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if not authorization:
            raise Rejected(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access token, login "
                "cookie or other valid authentication credential.",
            )
        if scheme != "Bearer" or not token.strip() or (self.token and token != self.token):
            raise Rejected(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if matched["project"] != self.project:
            raise Rejected(403, "PERMISSION_DENIED", f"Permission denied on resource project {matched['project']}.")
        if matched["location"] != self.location:
            raise _invalid(f"Location {matched['location']} is not supported for this project.")
        if matched["publisher"] != "google" or matched["model"] != self.model:
            raise Rejected(
                404,
                "NOT_FOUND",
                f"Publisher Model `projects/{matched['project']}/locations/{matched['location']}/publishers/"
                f"{matched['publisher']}/models/{matched['model']}` was not found or your project does not have "
                "access to it.",
            )
        if matched["method"] not in ("generateContent", "streamGenerateContent"):
            raise Rejected(404, "NOT_FOUND", f"Unknown method {matched['method']}.")
        if body is None:
            raise _invalid("Invalid JSON payload received.")
        check_request(body)
        return matched["method"]


def _chunk(events: list[Text | Call], finish_reason: str | None, usage: UsageCounts | None, model: str) -> bytes:
    parts: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, Text):
            parts.append({"text": event.text, "thought": True} if event.thought else {"text": event.text})
        else:
            parts.append({"functionCall": {"name": event.name, "args": event.args}})
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish_reason:
        candidate["finishReason"] = finish_reason
    response: dict[str, Any] = {"candidates": [candidate], "modelVersion": model}
    if usage is not None:
        response["usageMetadata"] = usage.wire()
    return json.dumps(response).encode()


def _handler_for(fake: FakeGemini) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # chunked streaming, as Google's front end answers

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read `fake.received` instead."""

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            split = urlsplit(self.path)
            headers = {key.lower(): value for key, value in self.headers.items()}
            length = int(headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = None
            shown = {key: ("<masked>" if key in SECRET_HEADERS else value) for key, value in headers.items()}
            received = Received(self.command, split.path, parse_qs(split.query), shown, body)
            fake._record(received)
            try:
                method = fake.check(self.command, split.path, headers, body)
            except Rejected as rejected:
                received.error = rejected.failure.message
                self._fail(received, rejected.failure)
                return
            answer = fake._next_answer()
            if isinstance(answer, Failure):
                self._fail(received, answer)
            elif isinstance(answer, Stall):
                fake.stalled(answer.seconds)
                self.close_connection = True
            elif method == "streamGenerateContent" and received.query.get("alt") == ["sse"]:
                self._stream(received, answer)
            else:
                self._whole(received, answer)

        def _fail(self, received: Received, failure: Failure) -> None:
            data = json.dumps(failure.body()).encode()
            received.status = failure.code
            self.send_response(failure.code)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, received: Received, answer: Stream) -> None:
            received.status = 200
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            last = max((i for i, e in enumerate(answer.events) if isinstance(e, Text | Call)), default=-1)
            try:
                for index, event in enumerate(answer.events):
                    if isinstance(event, Stall):
                        fake.stalled(event.seconds)
                        self.close_connection = True
                        return  # dropped mid-stream, without the final empty chunk
                    if isinstance(event, Failure):
                        self._send(b"data: " + json.dumps(event.body()).encode() + EVENT_END)
                        continue
                    final = index == last
                    data = _chunk(
                        [event], answer.finish_reason if final else None, answer.usage if final else None, fake.model
                    )
                    self._send(b"data: " + data + EVENT_END)
                if last < 0:  # nothing but usage: one chunk carrying it
                    self._send(b"data: " + _chunk([], answer.finish_reason, answer.usage, fake.model) + EVENT_END)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (its timeout): nothing to answer

        def _send(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _whole(self, received: Received, answer: Stream) -> None:
            """generateContent, or streamGenerateContent without alt=sse (a JSON array of chunks)."""
            events = [event for event in answer.events if isinstance(event, Text | Call)]
            chunk = json.loads(_chunk(events, answer.finish_reason, answer.usage, fake.model))
            data = json.dumps([chunk] if received.model_method == "streamGenerateContent" else chunk).encode()
            received.status = 200
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
