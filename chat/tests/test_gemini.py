"""The Gemini driver against a loopback fake of Vertex AI (chat.tests.fake_gemini): the real SDK, the
real wire format, no Google credentials and no network beyond 127.0.0.1. No database either."""

import http.client
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from google.auth import exceptions as auth_exceptions

from chat import tools
from chat.assistants.base import (
    AssistantRequest,
    AssistantUnavailable,
    HistoryItem,
    TextPiece,
    ToolCall,
    ToolDeclaration,
    Usage,
)
from chat.assistants.gemini import (
    BROKEN_OFF,
    BUSY,
    CREDENTIALS_REFUSED,
    EMULATOR_TOKEN,
    OUTPUT_ALLOWANCE,
    UNREACHABLE,
    GeminiAssistant,
)
from chat.tests.fake_gemini import Call, Failure, FakeGemini, Stall, Stream, Text, UsageCounts

SYSTEM = "You are AIPress's assistant. Answer in short plain sentences."
PROVIDER_FAILED = "The assistant's provider failed (HTTP {code}); nothing was done."
SECRET_WORDS = "my-very-private-words"  # in the prompt of failing requests: never in messages or logs


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(project="aipress-test", location="europe-west4", token=EMULATOR_TOKEN) as running:
        yield running


@pytest.fixture
def configure(settings: Any, fake: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> Any:
    # Nothing from the machine may steer the SDK elsewhere: API keys, base URLs, proxies.
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_VERTEX_BASE_URL", "GOOGLE_GENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    def google_auth_default(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("application default credentials must not be loaded for a loopback endpoint")

    monkeypatch.setattr("google.auth.default", google_auth_default)
    settings.GOOGLE_CLOUD_PROJECT = fake.project
    settings.GOOGLE_CLOUD_LOCATION = fake.location
    settings.GEMINI_MODEL = fake.model
    settings.GEMINI_ENDPOINT = fake.url
    settings.GEMINI_TIMEOUT_SECONDS = 10
    return settings


@pytest.fixture
def gemini(configure: Any) -> GeminiAssistant:
    return GeminiAssistant()


def declarations(*, staff: bool) -> list[ToolDeclaration]:
    return [ToolDeclaration(**declaration) for declaration in tools.declarations(staff=staff)]


def make_request(history: list[HistoryItem] | None = None, *, staff: bool = False) -> AssistantRequest:
    return AssistantRequest(
        system_instruction=SYSTEM,
        history=history or [HistoryItem(role="user", text="What sites do I have?")],
        tools=declarations(staff=staff),
        staff=staff,
    )


def sent(fake: FakeGemini) -> dict[str, Any]:
    """The body of the one request the fake got, after checking it was accepted."""
    assert len(fake.received) == 1, fake.received
    received = fake.received[0]
    assert received.status == 200, received.error
    return received.body


# --- Answers --------------------------------------------------------------------------------------


def test_streamed_text_arrives_in_pieces_in_order_then_usage(fake, gemini):
    fake.answer(Stream([Text("You have "), Text("two sites: "), Text("crumbs and bakery.")], UsageCounts(412, 9)))

    chunks = list(gemini.respond(make_request()))

    assert chunks == [
        TextPiece("You have "),
        TextPiece("two sites: "),
        TextPiece("crumbs and bakery."),
        Usage(model="gemini-2.5-flash", tokens_in=412, tokens_out=9),
    ]


def test_a_function_call_becomes_a_tool_call_with_its_arguments(fake, gemini):
    fake.answer(
        Stream(
            [Text("Creating it."), Call("create_site", {"site": "crumbs", "title": "Crumbs & Co"})],
            UsageCounts(500, 20, thoughts=35),
        )
    )

    chunks = list(gemini.respond(make_request([HistoryItem(role="user", text="Make a site crumbs, Crumbs & Co")])))

    assert chunks == [
        TextPiece("Creating it."),
        ToolCall(name="create_site", arguments={"site": "crumbs", "title": "Crumbs & Co"}),
        Usage(model="gemini-2.5-flash", tokens_in=500, tokens_out=55),  # thinking is output, and billed
    ]


def test_thought_summaries_are_not_said_and_missing_usage_counts_zero(fake, gemini):
    fake.answer(Stream([Text("The person wants a list.", thought=True), Text("Here they are.")]))

    chunks = list(gemini.respond(make_request()))

    assert chunks == [TextPiece("Here they are."), Usage(model="gemini-2.5-flash", tokens_in=0, tokens_out=0)]


def test_pieces_are_yielded_as_they_arrive_and_a_later_stall_still_fails(fake, configure):
    configure.GEMINI_TIMEOUT_SECONDS = 0.5
    fake.answer(Stream([Text("Let me look"), Stall()]))
    answer = GeminiAssistant().respond(make_request())

    # The first piece arrives while the fake still holds the rest of the stream back.
    assert next(answer) == TextPiece("Let me look")
    with pytest.raises(AssistantUnavailable) as raised:
        next(answer)
    assert raised.value.message == "The assistant did not answer in 0.5 s; nothing was done."


def test_an_error_event_after_some_text_still_raises(fake, gemini):
    fake.answer(Stream([Text("Creating"), Failure(503, "UNAVAILABLE", "The model is overloaded.")]))
    answer = gemini.respond(make_request())

    assert next(answer) == TextPiece("Creating")
    with pytest.raises(AssistantUnavailable) as raised:
        list(answer)
    assert raised.value.message == "The assistant's provider failed (HTTP 503); nothing was done."


def test_a_stream_cut_off_midway_still_raises(fake, gemini):
    fake.answer(Stream([Text("Creating"), Stall(seconds=0), Text(" never sent")]))  # the connection drops

    with pytest.raises(AssistantUnavailable) as raised:
        list(gemini.respond(make_request()))

    assert raised.value.message == BROKEN_OFF


# --- What Gemini is sent -------------------------------------------------------------------------


def test_the_request_is_vertex_streaming_with_a_bearer_token(fake, gemini):
    fake.answer(Stream([Text("Hello.")], UsageCounts(10, 2)))

    list(gemini.respond(make_request()))

    received = fake.received[0]
    assert received.path == (
        "/v1beta1/projects/aipress-test/locations/europe-west4/publishers/google/models/"
        "gemini-2.5-flash:streamGenerateContent"
    )
    assert received.query == {"alt": ["sse"]}
    assert received.headers["authorization"] == "<masked>"  # checked by the fake against EMULATOR_TOKEN
    assert received.headers["content-type"] == "application/json"
    assert received.headers["x-server-timeout"] == "10"
    assert set(received.body) == {"contents", "systemInstruction", "tools", "generationConfig"}


def test_the_request_carries_the_system_instruction_and_the_members_declarations(fake, gemini):
    fake.answer(Stream([Text("Hello.")]))

    list(gemini.respond(make_request(staff=False)))

    body = sent(fake)
    assert body["systemInstruction"]["parts"] == [{"text": SYSTEM}]
    (tool,) = body["tools"]
    expected = tools.declarations(staff=False)
    assert tool["functionDeclarations"] == [
        {"name": d["name"], "description": d["description"], "parameters_json_schema": d["parameters"]}
        for d in expected
    ]
    for declaration in tool["functionDeclarations"]:
        schema = declaration["parameters_json_schema"]
        assert "tenant" not in schema["properties"]
        assert "tenant" not in schema["required"]


def test_a_staff_request_carries_the_tenant_argument_on_every_tool_but_help(fake, gemini):
    fake.answer(Stream([Text("Which organisation?")]))

    list(gemini.respond(make_request(staff=True)))

    (tool,) = sent(fake)["tools"]
    schemas = {d["name"]: d["parameters_json_schema"] for d in tool["functionDeclarations"]}
    assert set(schemas) == set(tools.REGISTRY)
    for name, schema in schemas.items():
        if name == "help":
            assert "tenant" not in schema["properties"]
        else:
            assert schema["properties"]["tenant"]["type"] == "string"
            # A tool that answers across tenants when none is named (tenant_costs) does not require one.
            across = tools.REGISTRY[name].run_across is not None
            assert ("tenant" not in schema["required"]) if across else schema["required"][0] == "tenant"
    assert schemas == {d["name"]: d["parameters"] for d in tools.declarations(staff=True)}


def test_the_history_goes_in_gemini_roles_with_the_call_and_its_response(fake, gemini):
    fake.answer(Stream([Text("Done.")]))
    result = {"site": "crumbs", "operation": {"id": 7, "kind": "create", "state": "queued", "steps": 5}}
    history = [
        HistoryItem(role="user", text="Create crumbs, titled Crumbs"),
        HistoryItem(role="assistant", text="On it."),
        HistoryItem(role="call", name="create_site", arguments={"site": "crumbs", "title": "Crumbs"}),
        HistoryItem(role="result", name="create_site", result=result),
        HistoryItem(role="assistant", text=""),  # an empty text: Vertex refuses it, so it is left out
        HistoryItem(role="user", text="Thanks! Is it up?"),
    ]

    list(gemini.respond(make_request(history)))

    assert sent(fake)["contents"] == [
        {"role": "user", "parts": [{"text": "Create crumbs, titled Crumbs"}]},
        {
            "role": "model",
            "parts": [
                {"text": "On it."},
                {"functionCall": {"name": "create_site", "args": {"site": "crumbs", "title": "Crumbs"}}},
            ],
        },
        {"role": "user", "parts": [{"functionResponse": {"name": "create_site", "response": result}}]},
        {"role": "user", "parts": [{"text": "Thanks! Is it up?"}]},
    ]


def test_a_history_ending_with_results_asks_gemini_to_answer_them(fake, gemini):
    fake.answer(Stream([Text("You have no sites yet.")]))
    history = [
        HistoryItem(role="user", text="list my sites"),
        HistoryItem(role="call", name="list_sites", arguments={}),
        HistoryItem(role="result", name="list_sites", result={"tenant": "acme", "sites": []}),
    ]

    assert next(iter(gemini.respond(make_request(history)))) == TextPiece("You have no sites yet.")
    contents = sent(fake)["contents"]
    assert [content["role"] for content in contents] == ["user", "model", "user"]
    assert contents[-1]["parts"][0]["functionResponse"]["name"] == "list_sites"


# --- Failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (Failure(429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later."), BUSY),
        (Failure(500, "INTERNAL", "Internal error encountered."), PROVIDER_FAILED.format(code=500)),
        (Failure(503, "UNAVAILABLE", "The service is currently unavailable."), PROVIDER_FAILED.format(code=503)),
        (Failure(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."), CREDENTIALS_REFUSED),
        (Failure(403, "PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied."), CREDENTIALS_REFUSED),
    ],
)
def test_provider_errors_become_a_message_for_the_person(fake, gemini, caplog, failure, message):
    fake.answer(failure)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(AssistantUnavailable) as raised:
        list(gemini.respond(make_request([HistoryItem(role="user", text=SECRET_WORDS)])))

    assert raised.value.message == message
    assert len(fake.received) == 1  # the SDK does not retry on its own: the person decides
    assert SECRET_WORDS not in caplog.text
    assert EMULATOR_TOKEN not in caplog.text


def test_credentials_message_names_the_service_account():
    assert "operator must check" in CREDENTIALS_REFUSED
    assert "service account" in CREDENTIALS_REFUSED


def test_no_answer_within_the_timeout(fake, configure, caplog):
    configure.GEMINI_TIMEOUT_SECONDS = 1  # whole seconds, as settings give them: said "1 s", not "1.0 s"
    fake.answer(Stall())
    caplog.set_level(logging.DEBUG)

    with pytest.raises(AssistantUnavailable) as raised:
        list(GeminiAssistant().respond(make_request([HistoryItem(role="user", text=SECRET_WORDS)])))

    assert raised.value.message == "The assistant did not answer in 1 s; nothing was done."
    assert SECRET_WORDS not in caplog.text


def test_vertex_running_out_of_its_deadline_is_a_provider_failure(fake, configure):
    configure.GEMINI_TIMEOUT_SECONDS = 30
    configure.GEMINI_ENDPOINT = fake.url + "/"  # a trailing slash changes nothing
    fake.answer(Failure(504, "DEADLINE_EXCEEDED", "Deadline exceeded."))

    with pytest.raises(AssistantUnavailable) as raised:
        list(GeminiAssistant().respond(make_request()))

    # The SDK tells Vertex the deadline (X-Server-Timeout); Vertex answers 504 when it runs out first.
    assert raised.value.message == "The assistant's provider failed (HTTP 504); nothing was done."
    assert fake.received[0].headers["x-server-timeout"] == "30"


def test_connection_refused(configure):
    with socket.socket() as probe:  # a port nothing listens on any more
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configure.GEMINI_ENDPOINT = f"http://127.0.0.1:{port}"

    with pytest.raises(AssistantUnavailable) as raised:
        list(GeminiAssistant().respond(make_request()))

    assert raised.value.message == UNREACHABLE


def test_missing_application_default_credentials_tell_the_operator(fake, gemini, monkeypatch, caplog):
    def no_credentials(*args: Any, **kwargs: Any) -> Any:
        raise auth_exceptions.DefaultCredentialsError("Your default credentials were not found.")

    # As in production: no fixed token, so the SDK asks google.auth.default() before it sends anything.
    monkeypatch.setattr(gemini, "_credentials", lambda: None)
    monkeypatch.setattr("google.auth.default", no_credentials)

    with pytest.raises(AssistantUnavailable) as raised:
        list(gemini.respond(make_request()))

    assert raised.value.message == CREDENTIALS_REFUSED
    assert fake.received == []
    assert "DefaultCredentialsError" in caplog.text


def test_an_unknown_model_tells_the_operator_what_to_check(fake, configure):
    configure.GEMINI_MODEL = "gemini-0.1-nonexistent"

    with pytest.raises(AssistantUnavailable) as raised:
        list(GeminiAssistant().respond(make_request()))

    assert "HTTP 404" in raised.value.message
    assert "GEMINI_MODEL (gemini-0.1-nonexistent)" in raised.value.message
    assert fake.received[0].status == 404


# --- Configuration --------------------------------------------------------------------------------


def test_without_a_project_it_is_improperly_configured(configure):
    configure.GOOGLE_CLOUD_PROJECT = ""

    with pytest.raises(ImproperlyConfigured, match="GOOGLE_CLOUD_PROJECT"):
        GeminiAssistant()


def test_check_names_the_configuration_without_calling_gemini(fake, gemini):
    line = gemini.check()

    for word in ("aipress-test", "europe-west4", "gemini-2.5-flash", fake.url, "configured"):
        assert word in line
    assert fake.received == []
    assert gemini.model_name() == "gemini-2.5-flash"


def test_only_a_host_outside_google_gets_the_fixed_token(configure):
    assert GeminiAssistant()._credentials() is not None  # the fake, on 127.0.0.1
    configure.GEMINI_ENDPOINT = "https://europe-west4-aiplatform.googleapis.com"
    assert GeminiAssistant()._credentials() is None  # Google's own: application default credentials
    configure.GEMINI_ENDPOINT = ""
    assert GeminiAssistant()._credentials() is None


def test_the_estimate_covers_what_is_sent_and_an_answer(gemini):
    short = make_request([HistoryItem(role="user", text="hi")])
    long = make_request([HistoryItem(role="user", text="x" * 4000)])
    sent_chars = len(SYSTEM) + 2 + len(json.dumps([d.parameters for d in short.tools]))

    assert gemini.estimate_tokens(short) >= OUTPUT_ALLOWANCE + sent_chars // 4
    assert gemini.estimate_tokens(long) - gemini.estimate_tokens(short) >= 999


# --- The fake refuses what Vertex refuses ----------------------------------------------------------


def good_body() -> dict[str, Any]:
    return {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [{"name": "help", "parameters_json_schema": {"type": "object"}}]}],
    }


def model_path(
    *,
    project: str = "aipress-test",
    location: str = "europe-west4",
    model: str = "gemini-2.5-flash",
    method: str = "streamGenerateContent",
) -> str:
    return f"/v1beta1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}"


def post(fake: FakeGemini, body: Any, *, authorization: str | None = None, path: str = "") -> tuple[int, Any]:
    """A request by hand (stdlib only), as the SDK would send it unless told otherwise."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {EMULATOR_TOKEN}"}
    if authorization is not None:
        headers["Authorization"] = authorization
    if authorization == "":
        del headers["Authorization"]
    connection = http.client.HTTPConnection("127.0.0.1", int(fake.url.rsplit(":", 1)[1]), timeout=10)
    try:
        connection.request("POST", path or model_path() + "?alt=sse", body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    return response.status, (text if response.status == 200 else json.loads(text))


def with_contents(*contents: dict[str, Any]) -> dict[str, Any]:
    return {**good_body(), "contents": list(contents)}


def with_parameters(schema: dict[str, Any], *, name: str = "tool", field: str = "parameters_json_schema") -> Any:
    return {**good_body(), "tools": [{"functionDeclarations": [{"name": name, field: schema}]}]}


OBJECT = {"type": "object"}
HI = {"role": "user", "parts": [{"text": "hi"}]}
CALL = {"role": "model", "parts": [{"functionCall": {"name": "list_sites", "args": {}}}]}
RESPONSE_PART = {"functionResponse": {"name": "list_sites", "response": {}}}
RESPONSE = {"role": "user", "parts": [RESPONSE_PART]}
TWO_RESPONSES = {"role": "user", "parts": [RESPONSE_PART, RESPONSE_PART]}
OTHER_RESPONSE = {"role": "user", "parts": [{"functionResponse": {"name": "delete_site", "response": {}}}]}
USER_CALL = {"role": "user", "parts": [{"functionCall": {"name": "list_sites"}}]}
EXAMPLES = {"type": "object", "properties": {"a": {"type": "string", "examples": ["x"]}}}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (with_contents({"role": "system", "parts": [{"text": "hi"}]}), "valid role"),
        (with_contents({"role": "assistant", "parts": [{"text": "hi"}]}), "valid role"),
        (with_contents({"parts": [{"text": "hi"}]}), "valid role"),
        ({**good_body(), "contents": []}, "at least one content"),
        ({"tools": []}, "at least one content"),
        (with_contents({"role": "user", "parts": []}), "parts"),
        (with_contents({"role": "user", "parts": [{"text": ""}]}), "empty text"),
        (with_contents(HI, RESPONSE), "immediately after a function call"),
        (with_contents(HI, CALL, OTHER_RESPONSE), "does not match"),
        (with_contents(HI, CALL, TWO_RESPONSES), "number of function response"),
        (with_contents(HI, USER_CALL), "model turn"),
        (with_parameters(OBJECT, name="1st-tool"), "Invalid function name"),
        (with_parameters(OBJECT, name="list sites"), "Invalid function name"),
        (with_parameters(OBJECT, name="x" * 65), "Invalid function name"),
        (with_parameters({"type": "object", "allOf": []}), "allOf"),
        (with_parameters(EXAMPLES), "examples"),
        (with_parameters({"type": "OBJECT", "$schema": "x"}, field="parameters"), "$schema"),
        (with_parameters({"type": "object", "required": ["a"]}), "not defined"),
        (with_parameters({"type": "string"}), "must describe an object"),
        ({**good_body(), "unknownField": 1}, "unknownField"),
    ],
)
def test_the_fake_refuses_a_malformed_request(fake, body, words):
    status, answer = post(fake, body)

    assert status == 400, answer
    assert answer["error"]["code"] == 400
    assert answer["error"]["status"] == "INVALID_ARGUMENT"
    assert words in answer["error"]["message"]
    assert fake.received[0].status == 400


@pytest.mark.parametrize("authorization", ["", "Basic abc", "Bearer ", "Bearer another-token", EMULATOR_TOKEN])
def test_the_fake_refuses_a_request_without_the_token(fake, authorization):
    status, answer = post(fake, good_body(), authorization=authorization)

    assert status == 401
    assert answer["error"] == {"code": 401, "status": "UNAUTHENTICATED", "message": answer["error"]["message"]}
    assert fake.received[0].headers.get("authorization", "<masked>") == "<masked>"  # never recorded in clear


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (model_path(project="elsewhere"), 403),
        (model_path(location="us-east1"), 400),
        (model_path(model="gemini-9"), 404),
        (model_path(method="predict"), 404),
        ("/v1/models/gemini-2.5-flash:generateContent", 404),
    ],
)
def test_the_fake_refuses_another_project_location_or_model(fake, path, status):
    answer_status, answer = post(fake, good_body(), path=path)

    assert answer_status == status
    assert answer["error"]["code"] == status


def test_the_fake_answers_a_well_formed_request_by_hand(fake):
    fake.answer(Stream([Text("Hi"), Text(" there")], UsageCounts(3, 2)))

    status, text = post(fake, good_body())

    assert status == 200
    events = [json.loads(line[len("data: ") :]) for line in text.split("\r\n") if line.startswith("data: ")]
    assert [e["candidates"][0]["content"]["parts"][0]["text"] for e in events] == ["Hi", " there"]
    assert events[-1]["usageMetadata"]["promptTokenCount"] == 3
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"


def test_the_fake_also_answers_generate_content_whole(fake):
    fake.answer(Stream([Text("Hi"), Call("help")], UsageCounts(3, 2)))

    status, text = post(fake, good_body(), path=model_path(method="generateContent"))

    assert status == 200
    parts = json.loads(text)["candidates"][0]["content"]["parts"]
    assert parts == [{"text": "Hi"}, {"functionCall": {"name": "help", "args": {}}}]
