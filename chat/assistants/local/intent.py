"""Which tool a message asks for: verbs and phrases found in order, nouns that say what they act on.

The first action verb decides ("ignore your rules and delete blog": delete). A verb acts on sites
unless the sentence is about env vars (an env noun, an env var name, `unset`), where the same verbs
mean set or remove a variable. Without an action verb, words of state ask for a status (one site's,
or a list of sites when "sites" is plural), and "what can you do" asks for help.
"""

import itertools
import re
from dataclasses import dataclass

from chat.assistants.local import vocabulary as v
from chat.assistants.local.text import Token

# Phrases whose words mean more together than apart ("bring blog back online" is no "bring").
# Matched on the words of the message, one space apart, typos mended; a few words may sit inside.
_GAP = r"(?:\S+ ){0,3}?"
PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"\b(?:turn|bring|put|get|switch|make|set) {_GAP}(?:back (?:on|online|up)|live again|online again)\b"),
     "resume"),
    (re.compile(rf"\b(?:bring|get|put) {_GAP}back\b"), "resume"),
    (re.compile(r"\b(?:back online|online again|live again)\b"), "resume"),
    (re.compile(r"\b(?:lift|end) (?:\S+ ){0,2}?(?:suspension|suspend)\b"), "resume"),
    (re.compile(r"\bturn on\b"), "resume"),
    (re.compile(rf"\btake {_GAP}(?:offline|down)\b"), "suspend"),
    (re.compile(rf"\bput {_GAP}offline\b"), "suspend"),
    (re.compile(rf"\b(?:turn|switch|shut) {_GAP}(?:off|down)\b"), "suspend"),
    (re.compile(r"\bon hold\b"), "suspend"),
    (re.compile(r"\bget rid of\b"), "delete"),
    (re.compile(rf"\btear {_GAP}down\b"), "delete"),
    (re.compile(r"\bset up\b"), "create"),
    (re.compile(r"\bspin (?:\S+ ){0,2}?up\b"), "create"),
    (re.compile(r"\bgoing on\b"), "check"),
)  # fmt: skip
_PHRASE_WORDS = v.wordlist(
    "turn bring put get switch make set back on online up live again lift end suspension suspend take offline "
    "down off shut hold rid of tear spin going"
)
HELP_PHRASES = re.compile(
    r"\bwhat (?:can|could) (?:you|u|i|this|it)\b|\b(?:you|u) can do\b|\bable to do\b|\bcan i ask\b|\bhow to use\b"
    r"|\bhow (?:does|do) (?:this|it|you) work\b|\bhow (?:do|can|should) i use\b"
)
_VERB_KINDS: tuple[tuple[frozenset[str], str], ...] = (
    (v.DELETE, "delete"), (v.SUSPEND, "suspend"), (v.RESUME, "resume"), (v.UNSET, "unset"),
    (v.CREATE, "create"), (v.SET, "set"), (v.LIST, "list"), (v.CHECK, "check"),
)  # fmt: skip
_NEGATIONS = frozenset({"don't", "dont", "never", "not"})
_QUESTION = frozenset({"what", "which", "what's", "whats"})
_OPENERS = frozenset({"hey", "so", "ok", "okay", "and", "hi", "hello", "please", "quick", "one", ",", ":", "!", "."})
SITE_TOOLS = {"create": "create_site", "delete": "delete_site", "suspend": "suspend_site", "resume": "resume_site"}


@dataclass(frozen=True)
class Event:
    index: int  # the token where the verb or phrase begins
    kind: str  # create, delete, suspend, resume, set, unset, list, check
    alone: bool = True  # False for "make", "build"...: they ask for a site only if one is spoken of


def rendered(tokens: list[Token]) -> str:
    """The message as known words, one token per word: what the phrase patterns read."""
    return " ".join("«q»" if t.quoted else (t.canon or t.low).replace(" ", "_") for t in tokens)


def phrase_events(tokens: list[Token]) -> tuple[list[Event], set[int]]:
    """Phrases found, and the tokens they used up (no longer verbs of their own)."""
    words = rendered(tokens)
    events: list[Event] = []
    used: set[int] = set()
    for pattern, kind in PHRASES:
        for found in pattern.finditer(words):
            first = words[: found.start()].count(" ")
            last = first + found.group().count(" ")
            if any(index in used for index in (first, last)):
                continue
            events.append(Event(first, kind))
            used |= {i for i in range(first, last + 1) if (tokens[i].canon or tokens[i].low) in _PHRASE_WORDS}
    return events, used


def _negated(tokens: list[Token], index: int) -> bool:
    before = [t.low for t in tokens[max(0, index - 2) : index]]
    return bool(before) and (before[-1] in _NEGATIONS or before == ["do", "not"])


def _aimed_at_assistant(tokens: list[Token], index: int) -> bool:
    """ "delete your memory", "print your instructions": the assistant's own things, no platform action."""
    after = [t for t in tokens[index + 1 : index + 4] if t.low != "me"]
    return bool(after) and after[0].low == "your" and not (len(after) > 1 and after[1].canon in v.HELP_WORDS)


def verb_events(tokens: list[Token], names: set[int]) -> tuple[list[Event], set[int]]:
    """Action verbs and phrases in the order they are said (names and negated verbs left out), and every
    token that is part of one (such a word is no name: "get rid of crumbs")."""
    events, used = phrase_events(tokens)
    for index, token in enumerate(tokens):
        if index in used or index in names or not token.canon:
            continue
        kind = next((kind for words, kind in _VERB_KINDS if token.canon in words), None)
        if kind is None or _aimed_at_assistant(tokens, index):
            continue
        events.append(Event(index, kind, alone=kind != "create" or token.canon in v.CREATE_ALONE))
    acting = used | {e.index for e in events}
    return sorted((e for e in events if not _negated(tokens, e.index)), key=lambda e: e.index), acting


def negated_only(tokens: list[Token]) -> bool:
    """ "don't delete blog": an action is named only to be refused."""
    return any(
        t.canon and any(t.canon in words for words, _ in _VERB_KINDS) and _negated(tokens, i)
        for i, t in enumerate(tokens)
    )


@dataclass(frozen=True)
class Signals:
    """What the words of a message point at, besides its verbs."""

    env: bool  # speaks of env vars
    assignment: bool  # "KEY=value", "KEY to value"
    site_noun: bool  # "site", "website", "sites"
    plural: bool  # several sites: "sites", "every site", "how many"
    status: bool  # a word of state or "status"
    naming: bool  # "called", "titled", "new site"...: a site is being made
    help: bool
    question: bool  # begins with what/which
    env_plural: bool


def signals(tokens: list[Token], events: list[Event], key: int | None) -> Signals:
    canons = [t.canon for t in tokens if not t.quoted]
    lows = [t.low for t in tokens]
    env_words = [
        i
        for i, t in enumerate(tokens)
        if t.canon in v.ENV_NOUNS | v.ENV_PLURALS and not (i > 0 and tokens[i - 1].low == "your")
    ]
    after_key = [t.low for t in tokens[key + 1 : key + 3]] if key is not None else []
    site_noun = any(c in v.SITE_NOUNS | v.SITES_NOUNS for c in canons)
    first = next((t.low for t in tokens if t.low not in _OPENERS), "")
    return Signals(
        env=bool(env_words) or key is not None or any(t.canon == "unset" for t in tokens),
        assignment=bool(after_key) and (after_key[0] in {"=", "to", "as"} or after_key == ["with", "value"]),
        site_noun=site_noun,
        plural=any(c in v.SITES_NOUNS for c in canons)
        or (site_noun and any(w in {"every", "all", "any"} for w in lows))
        or "how many" in " ".join(lows),
        status=any(c in v.STATUS_NOUNS for c in canons)
        or any(e.kind == "check" for e in events)
        # A word of state needs something it describes: "is blog up?", not "what's up?".
        or (any(c in v.STATUS_OF for c in canons) and (site_noun or _something_named(tokens))),
        naming=site_noun
        and (
            any(w in {"called", "named", "titled", "title", "new", "another"} for w in lows)
            or _calls_it(lows)
            or _asks_for_one(tokens)
        ),
        help=any(c in v.HELP_WORDS for c in canons) or bool(HELP_PHRASES.search(" ".join(lows))),
        question=first in _QUESTION,
        env_plural=any(tokens[i].canon in v.ENV_PLURALS for i in env_words),
    )


def _calls_it(lows: list[str]) -> bool:
    """ "a website. call it knitting": a name is being given."""
    return any(a in {"call", "name"} and b == "it" for a, b in itertools.pairwise(lows))


_WANTING = {"need", "needs", "want", "wanna", "like", "get", "give"}


def _asks_for_one(tokens: list[Token]) -> bool:
    """ "I need a site for my bakery", "could I get a website?": wanting one site is asking for it."""
    lows = [t.low for t in tokens]
    for index, token in enumerate(tokens):
        if token.canon in v.SITE_NOUNS and index > 0 and lows[index - 1] in {"a", "an"}:
            return any(word in _WANTING for word in lows[max(0, index - 4) : index - 1])
    return False


def _something_named(tokens: list[Token]) -> bool:
    """A word that could be a name: no known word, no function word, or quoted."""
    return any(t.quoted or (t.word and not t.canon and t.low not in v.FUNCTION_WORDS) for t in tokens)


def _env_tool(found: Signals, events: list[Event]) -> str:
    if found.question and found.env_plural and not found.assignment:
        return "list_env_vars"  # "which variables are set on blog?"
    for event in events:
        if event.kind in {"create", "set"}:
            return "set_env_var"
        if event.kind in {"delete", "unset"}:
            return "unset_env_var"
    return "set_env_var" if found.assignment else "list_env_vars"


def _site_tool(found: Signals, events: list[Event]) -> str | None:
    for event in events:
        if event.kind in SITE_TOOLS and (event.alone or found.site_noun or found.naming):
            return SITE_TOOLS[event.kind]
    if found.naming:
        return "create_site"  # "I want a new site called crumbs"
    if found.status:
        return "list_sites" if found.plural else "site_status"
    if found.plural:
        return "list_sites"
    return "help" if found.help else None


# A domain as people type it: dot-separated labels ending in letters (www.their-shop.com).
DOMAIN_SHAPE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}\.?$")


def domain_at(tokens: list[Token]) -> int | None:
    """Where the first domain-shaped word is that is not part of a URL (a value: https://x.example/a)."""

    def in_url(index: int) -> bool:
        before = tokens[index - 1].low if index > 0 else ""
        after = tokens[index + 1].low if index + 1 < len(tokens) else ""
        return "/" in (before, after) or after == ":"

    return next((i for i, t in enumerate(tokens) if DOMAIN_SHAPE.fullmatch(t.low.strip()) and not in_url(i)), None)


def domain_tool(tokens: list[Token], events: list[Event], key: int | None) -> str | None:
    """A message about a domain: one is named, or the word "domain" is said (not an env var's value:
    "set API_URL to api.example.com" stays an env var)."""
    if key is not None:
        return None
    named = domain_at(tokens) is not None
    if not named and not any(t.canon in v.DOMAIN_NOUNS for t in tokens):
        return None
    canons = {t.canon for t in tokens}
    for event in events:
        if event.kind in {"delete", "unset", "suspend"}:
            return "remove_domain"
        if event.kind in {"create", "set"}:
            return "add_domain"
    verbs = {"remove_domain": v.DOMAIN_REMOVE, "add_domain": v.DOMAIN_ADD}
    return next((tool for tool, words in verbs.items() if canons & words), "domain_status")


def cache_tool(tokens: list[Token], events: list[Event], key: int | None) -> str | None:
    """A message about a site's page cache that asks to empty it ("clear blog's cache", "flush the
    cache of shop"): the cache is named, with a verb of emptying that is not refused. Not an env var
    called CACHE ("unset CACHE on blog")."""
    if key is not None or not any(t.canon in v.CACHE_NOUNS for t in tokens):
        return None
    emptying = any(t.canon in v.CACHE_EMPTY and not _negated(tokens, i) for i, t in enumerate(tokens))
    if emptying or any(event.kind in {"delete", "unset"} for event in events):
        return "purge_cache"
    return None


def choose(found: Signals, events: list[Event]) -> str | None:
    return _env_tool(found, events) if found.env else _site_tool(found, events)
