"""The local assistant's interpreter: one English message -> one proposed tool call, offline and
deterministic. The output depends only on the words (a site that does not exist is still the site
named) and, for a month named without its year, on today's date; the tools, their arguments and what
each requires come from the registry (chat.tools).

How a message is read:
1. Tokens (text.py): words with their place in the text; quoted passages are kept whole.
2. Words (vocabulary.py): each word mapped to a known word, typos mended with rapidfuzz.
3. Intent (intent.py): the first action verb or phrase decides; env var words turn site verbs into
   env var verbs; words of state ask for a status; "what can you do" for help. A message that is a
   plain yes or no (reply_kind) is no action, nor is a verb under "don't".
4. Arguments (slots.py, whose docstring gives the rules for names, titles, keys and values).
5. Money (costs.py): words of money ask what was spent or set a budget, before domains and sites are
   considered; the period, grouping and amount come from there, names still from slots.py.

Conventions the turn loop can rely on:
- `site` and `tenant` are lowercased single words; `key` is uppercased; `title` and `value` keep their
  case; surrounding quotes are stripped, and quotes keep everything inside them as written.
- "called"/"named" + ONE word is the site's name; + several words (or quoted words with a space) is
  the title ("create a site called Crumbs Bakery": title "Crumbs Bakery", site missing). An explicit
  "titled ..." wins over that.
- An unquoted title or value ends at the end of the message without its final "." "!" "?" or a
  trailing "please"/"thanks"; quote it to keep those.
- `sensitive` is true only when the person's own words say so (secret, sensitive, hidden, private,
  password, confidential, masked), outside the key and the value: a key named ADMIN_PASSWORD alone does
  not make the value sensitive. It is never false: absent means not said.
- `status` (list_sites) is one of the registry's statuses; synonyms are mapped (live -> ready, ...).
- `tenant` is read only when staff=True; a member's "of acme" is ignored (the turn loop, which also
  asks interpret(text, staff=True) for a named tenant, refuses other tenants).
- `period` is left out when no time is said (the tool's default is this month); a month without its
  year is resolved against `django.utils.timezone.now()`. `amount` is a number (int when whole).
- `missing` lists the required arguments (registry order, staff adds `tenant` first) not found.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from chat.assistants.local import costs, replies, slots
from chat.assistants.local import vocabulary as v
from chat.assistants.local.intent import (
    DOMAIN_SHAPE,
    Event,
    cache_tool,
    choose,
    domain_at,
    domain_tool,
    negated_only,
    signals,
    verb_events,
)
from chat.assistants.local.slots import Span
from chat.assistants.local.text import Token, key_shaped, name_of, shouting, tokenize
from chat.tools import REGISTRY, SITE_STATUSES, TENANT_ARGUMENT


@dataclass(frozen=True)
class Interpretation:
    tool: str | None  # a registry tool name, or None (not a platform action, or not understood)
    arguments: dict[str, Any] = field(default_factory=dict)  # only arguments found in the words
    missing: list[str] = field(default_factory=list)  # required arguments of `tool` not found

    def as_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "arguments": dict(self.arguments), "missing": list(self.missing)}


NOTHING = Interpretation(tool=None)


def _spelled_out(token: Token) -> list[Token]:
    """A registry tool's name written as such ("delete_site crumbs") reads as its words ("delete site")."""
    if token.quoted or token.low not in REGISTRY or "_" not in token.low:
        return [token]
    parts = []
    offset = token.start
    for part in token.low.split("_"):
        parts.append(Token(part, part, offset, offset + len(part)))
        offset += len(part) + 1
    return parts


def words(text: str) -> list[Token]:
    tokens = [part for token in tokenize(text) for part in _spelled_out(token)]
    for token in tokens:
        token.canon = "" if token.quoted else v.canonical(token.low)
    return tokens


@dataclass
class _Reading:
    """One message being read: its tokens and what has been found in them so far."""

    text: str
    tokens: list[Token]
    strong: set[int]  # tokens that are names whatever the verb
    events: list[Event]
    acting: set[int]  # tokens that are verbs or parts of phrases
    key: int | None
    money: costs.Money | None  # its words of money, period and amount (None: it says nothing of money)

    @classmethod
    def of(cls, text: str) -> "_Reading":
        tokens = words(text)
        strong = slots.strong_names(text, tokens)
        events, acting = verb_events(tokens, strong)
        shouted = shouting(text)
        key = slots.find_key(tokens, events, shouted)
        if key is not None and v.money_word(tokens[key].low) and not slots.capitals(tokens[key], shouted):
            key = None  # "set budget to 300": the budget, not an env var called BUDGET
        said_cache = any(t.canon in v.CACHE_NOUNS and not slots.capitals(t, shouted) for t in tokens)
        if key is not None and said_cache and not slots.capitals(tokens[key], shouted):
            key = None  # "clear the cache", "clear blog's cache": the site's page cache, not an env var
        return cls(text, tokens, strong, events, acting, key, costs.read(text, tokens, strong))

    def tool(self) -> str | None:
        if not self.tokens or (not self.events and negated_only(self.tokens)):
            return None
        found = signals(self.tokens, self.events, self.key)
        if found.help and not self.events:
            return choose(found, self.events)  # "what can you do?", even about costs
        about_money = costs.tool(self.money, self.tokens, self.events, self.key, found)
        return (
            about_money
            or cache_tool(self.tokens, self.events, self.key)
            or domain_tool(self.tokens, self.events, self.key)
            or choose(found, self.events)
        )

    def names(self, used: list[Span], creating: bool, upto: int | None = None, money: bool = False) -> slots.Names:
        tokens = self.tokens if upto is None else self.tokens[:upto]
        return slots.names(tokens, self.acting, used, self.strong, creating, money=money)


def _title(reading: _Reading, used: list[Span]) -> str | None:
    explicit = slots.title(reading.text, reading.tokens)
    _, several = slots.called_run(reading.text, reading.tokens)
    if several is not None:
        used.append(several)  # "called Crumbs Bakery": the words of a title, not a site's name
    found = explicit or several
    if found is None:
        return None
    used.append(found)
    return found.text


def _env(reading: _Reading, tool: str, used: list[Span]) -> dict[str, Any]:
    if reading.key is None:
        return {}
    key_token = reading.tokens[reading.key]
    used.append(Span(key_token.text, key_token.start, key_token.end))
    found: dict[str, Any] = {"key": key_token.text.strip().upper()}
    if tool != "set_env_var":
        return found
    # A site named before the value ("on blog set X to a b c", "set X on blog to a b c") lets the value
    # run to the end.
    marker = slots.value_marker(reading.tokens, reading.key)
    upto = (marker if marker is not None else reading.key) + 1
    site_before = reading.names(list(used), creating=False, upto=upto).site() is not None
    value = slots.value(reading.text, reading.tokens, reading.key, site_before)
    if value is not None:
        used.append(value)
        found["value"] = value.text
    if slots.sensitive(reading.tokens, used):
        found["sensitive"] = True
    return found


def _arguments(reading: _Reading, tool: str, staff: bool) -> dict[str, Any]:
    used: list[Span] = []
    found: dict[str, Any] = {}
    if tool == "create_site":
        title = _title(reading, used)
        if title:
            found["title"] = title
    if tool in {"set_env_var", "unset_env_var"}:
        found |= _env(reading, tool, used)
    at = domain_at(reading.tokens)
    if "domain" in REGISTRY[tool].properties and at is not None:
        token = reading.tokens[at]
        used.append(Span(token.text, token.start, token.end))
        found["domain"] = token.low.strip().rstrip(".")
    money = tool in costs.COST_TOOLS and reading.money is not None
    if money and reading.money is not None:
        found |= costs.arguments(reading.money, tool, reading.tokens, staff)
        used += costs.spans(reading.money, reading.tokens)
    names = _names(reading, tool, used, money)
    properties = REGISTRY[tool].properties
    site = names.site() if "site" in properties else None
    if site is None and "site" in properties and tool != "create_site":
        site = slots.antecedent(reading.tokens, reading.acting, used)
    if site:
        found["site"] = site
    if staff:
        tenant = _costs_tenant(reading, names) if tool == "tenant_costs" else names.tenant(site)
        if tenant:
            found[TENANT_ARGUMENT] = tenant
    if "status" in properties:
        status = slots.status(reading.tokens, SITE_STATUSES)
        if status:
            found["status"] = status
    return found


def _names(reading: _Reading, tool: str, used: list[Span], money: bool) -> slots.Names:
    if tool == "purge_cache":
        # "flush the shop cache", "purge cache blog": what follows a verb of emptying, or the cache
        # itself, is the site, as a verb's object would be.
        emptying = v.CACHE_NOUNS | v.CACHE_EMPTY
        acting = reading.acting | {i for i, t in enumerate(reading.tokens) if t.canon in emptying}
        return slots.names(reading.tokens, acting, used, reading.strong, creating=False)
    return reading.names(used, creating=tool == "create_site", money=money)


def _costs_tenant(reading: _Reading, names: slots.Names) -> str | None:
    """Whose costs: the tool has no site, so a name is the tenant's ("the costs of acme", "acme's
    bill"), except a site by its place ("the blog site") or what money was spent on ("spent on blog"):
    a member asking about one of their sites is then not taken for naming another organisation."""
    spent_on = {
        name
        for index, token in enumerate(reading.tokens)
        if (name := name_of(token)) is not None and slots.after_word(reading.tokens, index, frozenset({"on"}))
    }
    owners = [name for strength, name in names.sites if strength == 1]  # "acme's costs"
    ranked = names.tenants + owners + [name for _, name in sorted(names.others) if name not in spent_on]
    return ranked[0] if ranked else None


def _complete(tool: str, found: dict[str, Any], staff: bool) -> Interpretation:
    """Keep what the tool takes (per the registry) and list what it requires and was not said."""
    parameters = REGISTRY[tool].parameters(staff=staff)
    arguments = {name: found[name] for name in parameters["properties"] if name in found}
    missing = [name for name in parameters["required"] if name not in arguments]
    return Interpretation(tool=tool, arguments=arguments, missing=missing)


def _read(text: str, staff: bool) -> Interpretation:
    reading = _Reading.of(text)
    tool = reading.tool()
    if tool is None or tool not in REGISTRY:
        return NOTHING
    return _complete(tool, _arguments(reading, tool, staff), staff)


def interpret(text: str, *, staff: bool = False) -> Interpretation:
    """The tool call one message asks for (see the module docstring for the conventions)."""
    if reply_kind(text) is not None:
        return NOTHING  # "yes", "no, cancel that": an answer to a question, not a request
    return _read(text, staff)


def reply_kind(text: str) -> str | None:
    """ "yes" for an affirmation, "no" for a refusal, None for anything else.

    A reply counts when the message begins with it and nothing after turns it around ("yes, but...")
    or asks for an action of its own ("stop the blog site", "yes, delete shop instead").
    """
    found = replies.leading(text)
    if found is None:
        return None
    kind, rest = found
    if replies.hedged(kind, rest):
        return None
    if rest and _read(text, staff=True).arguments:
        return None
    return kind


# --- Answers to the assistant's questions ----------------------------------------------------------

_FREE_TEXT = frozenset({"title", "value"})
_NAME_PREFIX = re.compile(
    r"^(?:(?:ok|okay|sure|well|hmm|um)[,!.]?\s+)?(?:let'?s\s+(?:go\s+with\s+|call\s+it\s+|use\s+)?|how\s+about\s+"
    r"|go\s+with\s+|use\s+|(?:call|name)\s+it\s+|it'?s\s+called\s+|it\s+is\s+called\s+|it\s+(?:should|will)\s+be\s+"
    r"(?:called\s+)?|called\s+|named\s+|(?:the\s+|its\s+)?(?:site'?s?\s+)?name\s+(?:is|should\s+be|will\s+be)\s+"
    r"|(?:the\s+)?(?:site|name|key|variable|tenant)\s*:\s*|it'?s\s+|it\s+is\s+|on\s+|for\s+|from\s+|of\s+)+",
    re.IGNORECASE,
)
_TITLE_PREFIX = re.compile(
    r"^(?:(?:ok|okay|sure|well|hmm|um)[,!.]?\s+)?(?:(?:call|title|name)\s+it\s+|titled\s+|let'?s\s+go\s+with\s+"
    r"|go\s+with\s+|how\s+about\s+|(?:the\s+)?title\s+(?:is|should\s+be|will\s+be)\s+|(?:the\s+)?title\s*:\s*)",
    re.IGNORECASE,
)
_VALUE_PREFIX = re.compile(
    r"^(?:(?:set|make)\s+it\s+(?:to\s+)?|it\s+should\s+be\s+|the\s+value\s+(?:is|should\s+be)\s+|value\s*[:=]\s*)",
    re.IGNORECASE,
)
_TAIL = re.compile(r"(?:\s*,?\s+(?:please|pls|thanks|thank\s+you))*\s*[.!?]*$", re.IGNORECASE)
_QUOTED = re.compile(r"""^\s*(["“”'‘’`])(.*)(["“”'‘’`])\s*$""", re.DOTALL)


def _unquoted(text: str) -> tuple[str, bool]:
    found = _QUOTED.match(text)
    return (found.group(2), True) if found else (text.strip(), False)


def _new_request(text: str, tool: str, argument: str) -> bool:
    """The person asked for something else instead of answering ("list my sites", "help", "cancel")."""
    kind = reply_kind(text)
    leading = replies.leading(text)
    bare_reply = leading is not None and not leading[1]  # "yes" alone; "let's go with crumbs" answers
    if kind == "no" or (kind == "yes" and bare_reply and argument not in _FREE_TEXT):
        return True
    found = _read(text, staff=True)
    if found.tool in {None, tool}:
        return False
    reading = _Reading.of(text)
    if found.tool == "help" and all(t.canon in v.HELP_WORDS or t.low in v.FUNCTION_WORDS for t in reading.tokens):
        return True  # "help", "what can you do?"
    if argument in _FREE_TEXT:
        # A title or a value may hold any words ("Help Desk Pro", "Create Space"): only a request that
        # names what it acts on counts ("list my sites", "delete blog").
        platform = v.SITES_NOUNS | v.SITE_NOUNS | v.ENV_NOUNS | v.ENV_PLURALS | v.STATUS_NOUNS
        return bool(found.arguments) or any(t.canon in platform for t in reading.tokens)
    # A name may look like an env var or a word of state ("api_key"): a request has a verb or a noun of
    # the platform ("list my sites", "status of blog").
    return bool(reading.events) or any(t.canon in v.SITES_NOUNS | v.STATUS_NOUNS for t in reading.tokens)


def _name_answer(text: str, argument: str) -> str | None:
    bare, quoted = _unquoted(_NAME_PREFIX.sub("", text.strip()))
    tokens = [t for t in words(bare) if t.word]
    if quoted or len(tokens) == 1:
        token = tokens[0] if tokens else None
        if argument == "key":
            return bare.upper() if token is not None and key_shaped(Token(bare, bare.lower(), 0, 0)) else None
        return name_of(token) if token is not None and " " not in bare else None
    reading = _Reading.of(bare)
    if argument == "key":
        return reading.tokens[reading.key].text.upper() if reading.key is not None else None
    # An answer stands where a verb's object would ("my shop", "the blog site"); a title said with it
    # ("crumbs, titled Crumbs Bakery") is no part of the name.
    title = slots.title(bare, reading.tokens)
    used = [title] if title else []
    found = slots.names(reading.tokens, {-1}, used, reading.strong, creating=False)
    if argument == TENANT_ARGUMENT:
        return found.tenant(None)
    unknown = [t for t in reading.tokens if t.word and not t.canon and slots.name_here(t, used)]
    if not any(strength == 2 for strength, _ in found.sites) and len(unknown) > 1:
        return None  # "Crumbs Bakery": a description, not one name
    return found.site()


def _title_answer(text: str) -> str | None:
    bare, quoted = _unquoted(_TITLE_PREFIX.sub("", text.strip()))
    return (bare if quoted else _unquoted(_TAIL.sub("", bare))[0]) or None


def _value_answer(text: str) -> str | None:
    bare, quoted = _unquoted(_VALUE_PREFIX.sub("", text.strip()))
    return bare if quoted else (_TAIL.sub("", bare) or None)


def _status_answer(text: str) -> str | None:
    return slots.status(words(text), SITE_STATUSES)


def answer_for(text: str, *, argument: str, tool: str) -> str | int | float | None:  # noqa: PLR0911 - one exit per argument
    """The value of `argument` when `text` answers the question asking for it, or None when the text is
    empty or clearly a new request ("list my sites", "help", "cancel")."""
    if not text.strip() or _new_request(text, tool, argument):
        return None
    reading = _read(text, staff=True)
    if reading.tool == tool and isinstance(reading.arguments.get(argument), str):
        return str(reading.arguments[argument])  # "crumbs, titled Crumbs Bakery"
    free = {"title": _title_answer, "value": _value_answer, "status": _status_answer}
    if argument in free:
        return free[argument](text)
    if argument in {"site", "key", TENANT_ARGUMENT}:
        return _name_answer(_TAIL.sub("", text.strip()), argument)
    if argument == "domain":
        shaped = [t.low.strip().rstrip(".") for t in words(text) if DOMAIN_SHAPE.fullmatch(t.low.strip())]
        return shaped[0] if len(shaped) == 1 else None
    if argument == "amount":
        return costs.amount_in(text)  # "200", "$150 a month", "make it 2k"
    return None
