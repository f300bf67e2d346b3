"""Arguments from the words: titles and values by position in the text, names by the words around them.

Rules (the labelled set follows them):
- A site name is one word, lowercased: next to "site" ("site blog", "the blog site"), after "called",
  "named", "call it", "name:", in quotes, or else after the verb ("delete blog"), after a preposition
  ("status of blog", "on blog"), around "is"/"does" ("is blog up", "does blog have"), or before a
  status or env noun ("blog status"), or a label opening the message ("blog: set ..."). "a", "an",
  "new" describe instead of naming ("create a blog"), and so does "for my ..." when creating ("a site
  for my bakery" names no site). "delete it" after one unknown word earlier takes that word ("I don't
  need portfolio anymore, delete it").
- The tenant (staff) is the word after or before "tenant"/"org"/"organisation", the owner in "acme's
  blog" or "acme's sites", or else a second name found the general way ("blog of acme").
- A title follows "titled", "title:", "with the title", "title it"...; or it is the words after
  "called"/"named" when they are several ("a site called Crumbs Bakery": a title, no site name). It runs
  to a comma, "called"/"named", a tenant phrase, "please" or the end; quotes keep anything.
- A key is an env var name (capitals or an underscore, or any word right after `unset` or before
  "to"/"="); uppercased. A value follows "=", "to", "as" or "value", in quotes as written, or else up
  to a closing "on <site>"/"for <site>" (unless the site was named before the value: then to the end).
"""

import re
from dataclasses import dataclass

from chat.assistants.local import vocabulary as v
from chat.assistants.local.intent import Event
from chat.assistants.local.text import Token, key_shaped, name_of


@dataclass(frozen=True)
class Span:
    text: str
    start: int  # in the message
    end: int


_PREPOSITIONS = frozenset({"on", "of", "for", "from", "in", "to", "at", "about", "with"})
_DETERMINERS = frozenset({"the", "my", "our"})
_CALLING = frozenset({"called", "named", "entitled"})
# After "called X": these end the name.
_RUN_ENDS = frozenset(
    {"titled", "title", "with", "and", "for", "in", "on", "please", "pls", "thanks", "that", "which", "to", "as"}
)
_TENANT_WORDS = r"(?:tenant|org|organi[sz]ation|customer|client)"
_DETERMINER = r"(?:(?:the|my|our)\s+)?"
# Where an unquoted title or value stops.
_TITLE_END = re.compile(
    rf"\s*(?:[,;]|\.(?:\s|$)|\?|!+\s*$|\s+(?:called|named)\s|\s+and\s+(?:call|name)\s+it\b"
    rf"|\s+with\s+(?:the\s+)?(?:name|address|slug)\b|\s+(?:please|pls|plz|thanks|thank\s+you)\b"
    rf"|\s+(?:for|in|of|from)\s+{_DETERMINER}{_TENANT_WORDS}\b|\s+(?:for|in|of)\s+the\s+[\w-]+\s+{_TENANT_WORDS}\b)",
    re.IGNORECASE,
)
# What may follow a closing "on <site>": the end, a comma, "and ...", "please", a tenant phrase.
_CLOSING = r"(?=\s*$|\s*[,;.!?]|\s+(?:and|please|pls|thanks)\b|\s+(?:for|in|of|from)\s+(?:the\s+)?(?:[\w-]+\s+)?"
_SITE_CLAUSE = re.compile(
    rf"\s+(?:on|for|in|to|at|of)\s+{_DETERMINER}(?:(?:site|website)\s+)?(?:[\w-]+|'[^']+'|\"[^\"]+\")"
    rf"(?:\s+(?:site|website))?{_CLOSING}{_TENANT_WORDS}\b)",
    re.IGNORECASE,
)
_VALUE_TAIL = re.compile(
    rf"(?:\s*,?\s+(?:please|pls|plz|thanks|thank\s+you))+\s*[.!?]*$|\s*[.!?]+$"
    rf"|\s+(?:for|in|of)\s+{_DETERMINER}{_TENANT_WORDS}\s+[\w-]+\s*[.!?]*$",
    re.IGNORECASE,
)


def _next_word(tokens: list[Token], index: int, skip: frozenset[str] = frozenset()) -> int | None:
    for position in range(index + 1, len(tokens)):
        if tokens[position].low not in skip:
            return position if tokens[position].word else None
    return None


# --- Titles ------------------------------------------------------------------------------------------


def _title_start(tokens: list[Token]) -> int | None:
    """The token where a title begins, after "titled", "title:", "with the title", "title should be"..."""
    for index, token in enumerate(tokens):
        if token.low in {"titled", "entitled"}:
            return index + 1 if index + 1 < len(tokens) else None
        if token.low == "title" and index + 1 < len(tokens):
            position = index + 1
            joints = {":", "=", "is", "it", "should", "will", "be", "would"}
            while position < len(tokens) - 1 and tokens[position].low in joints:
                position += 1
            return position
    return None


def _until_end(text: str, start: int) -> Span | None:
    stop = _TITLE_END.search(text, start)
    end = stop.start() if stop else len(text)
    words = text[start:end].strip()
    return Span(words, start, end) if words else None


def title(text: str, tokens: list[Token]) -> Span | None:
    start = _title_start(tokens)
    if start is None or start >= len(tokens):
        return None
    first = tokens[start]
    if first.quoted:
        return Span(first.text, first.start, first.end)
    return _until_end(text, first.start)


def called_run(text: str, tokens: list[Token]) -> tuple[int | None, Span | None]:
    """After "called"/"named": one word is the site's name (its token); several are a title."""
    for index in range(len(tokens)):
        if not _is_calling(tokens, index):
            continue
        first = _next_word(tokens, index, frozenset({"it", ":", "="}))
        if first is None:
            return None, None
        if tokens[first].quoted:
            if name_of(tokens[first]) and " " not in tokens[first].text.strip():
                return first, None
            return None, Span(tokens[first].text, tokens[first].start, tokens[first].end)
        last = first
        while last + 1 < len(tokens) and tokens[last + 1].word and tokens[last + 1].low not in _RUN_ENDS:
            last += 1
        if last == first:
            return first, None
        return None, Span(text[tokens[first].start : tokens[last].end], tokens[first].start, tokens[last].end)
    return None, None


def _is_calling(tokens: list[Token], index: int) -> bool:
    low = tokens[index].low
    if low in _CALLING:
        return True
    after = tokens[index + 1].low if index + 1 < len(tokens) else ""
    # "call it crumbs", "name it crumbs", "Name: crumbs", "name = crumbs"
    return (low in {"call", "name"} and after == "it") or (low == "name" and after in {":", "="})


# --- Keys and values ---------------------------------------------------------------------------------

_KEY_SKIP = frozenset(
    {"the", "a", "an", "new", "this", "that", "my", "of", "value", "key", "password", "called", "named"}
    | v.ENV_NOUNS
    | v.ENV_PLURALS
    | v.SENSITIVE
)


def capitals(token: Token, shouted: bool) -> bool:
    """An env var's look: CAPITALS or an_underscore (capitals count for nothing in a shouted message)."""
    if not key_shaped(token):
        return False
    return "_" in token.text or (not shouted and token.text.isupper() and len(token.text) >= 2)


def _assigned(tokens: list[Token], index: int) -> bool:
    after = tokens[index + 1].low if index + 1 < len(tokens) else ""
    return after in {"=", "to", "as"}


def _key_after(tokens: list[Token], event: Event, shouted: bool) -> int | None:
    """ "set API_KEY", "unset debug", "set the secret STRIPE_KEY", "remove DEBUG from shop"."""
    index = _next_word(tokens, event.index, _KEY_SKIP)
    if index is None or not key_shaped(tokens[index]) or tokens[index].low in v.FUNCTION_WORDS:
        return None
    token = tokens[index]
    if capitals(token, shouted) and ("_" in token.text or event.kind != "delete" or _has_from(tokens, index)):
        return index
    if event.kind == "unset" or (event.kind == "set" and _assigned(tokens, index)):
        return index
    return None


def _has_from(tokens: list[Token], index: int) -> bool:
    return any(t.low in {"from", "on", "of", "in"} for t in tokens[index + 1 : index + 3])


def find_key(tokens: list[Token], events: list[Event], shouted: bool) -> int | None:
    """The token holding the env var's name, by the strongest sign first."""
    for index, token in enumerate(tokens[:-1]):
        # "api_key=1", "DEBUG=1"; a plain word only right after "set" ("set debug=1"), so that a value's
        # own "x=1" (in a URL) is not taken for the name.
        plain_after_set = index > 0 and tokens[index - 1].canon in v.SET | v.UNSET
        looks_like_key = capitals(token, shouted) or plain_after_set
        if tokens[index + 1].low == "=" and key_shaped(token) and not token.quoted and looks_like_key:
            return index
    for index in range(len(tokens) - 1):
        if _is_calling(tokens, index) or tokens[index].canon in v.ENV_NOUNS | {"secret"}:
            following = _next_word(tokens, index, _KEY_SKIP | {"it", ":"})
            if following is not None and capitals(tokens[following], shouted):
                return following
    for event in events:
        if event.kind in {"set", "unset", "delete", "create"}:
            found = _key_after(tokens, event, shouted)
            if found is not None:
                return found
    for index, token in enumerate(tokens):
        if "_" in token.text and key_shaped(token) and not token.quoted:
            return index
    return None


def value_marker(tokens: list[Token], key: int) -> int | None:
    """The token after which the value begins: "=", "to", "as", "value", skipping "on blog" in between."""
    index = key + 1
    if index < len(tokens) and tokens[index].low in {"on", "for", "in"}:
        index += 1
        while index < len(tokens) and (tokens[index].low in _DETERMINERS or tokens[index].canon in v.SITE_NOUNS):
            index += 1
        index += 1
        while index < len(tokens) and tokens[index].canon in v.SITE_NOUNS:
            index += 1
    if index >= len(tokens):
        return None
    if tokens[index].low in {"=", "to", "as", ":"}:
        return index
    if tokens[index].low == "with":
        index += 1 + (index + 1 < len(tokens) and tokens[index + 1].low == "the")
    if index < len(tokens) and tokens[index].low == "value":
        return index + (index + 1 < len(tokens) and tokens[index + 1].low in {":", "="})
    return None


def value(text: str, tokens: list[Token], key: int, site_before: bool) -> Span | None:
    marker = value_marker(tokens, key)
    if marker is None or marker + 1 >= len(tokens):
        return None
    first = tokens[marker + 1]
    if first.quoted:
        return Span(first.text, first.start, first.end)
    start = first.start
    end = len(text)
    if not site_before:
        clause = _SITE_CLAUSE.search(text, start)
        end = clause.start() if clause else end
    raw = text[start:end].rstrip()
    if end == len(text):
        raw = _VALUE_TAIL.sub("", raw)
    return Span(raw, start, start + len(raw)) if raw else None


def sensitive(tokens: list[Token], used: list[Span]) -> bool:
    return any(t.low in v.SENSITIVE and not _inside(t, used) for t in tokens)


# --- Site and tenant names ---------------------------------------------------------------------------

# Not names whatever their place: articles, pronouns, the platform's own nouns, words of state.
_NEVER_NAMES = (
    v.FUNCTION_WORDS | v.SITE_NOUNS | v.SITES_NOUNS | v.ENV_NOUNS | v.ENV_PLURALS | v.TENANT_NOUNS | v.HELP_WORDS
    | v.STATUS_NOUNS | v.SENSITIVE | frozenset(v.STATUS_OF) | frozenset({"wordpress", "wp", "admin", "mode", "traffic"})
    | v.DOMAIN_NOUNS | v.DOMAIN_CHECK | v.DOMAIN_ADD | v.DOMAIN_REMOVE | frozenset({"custom"})
    | v.CACHE_NOUNS | v.CACHE_EMPTY | v.CACHE_HOLDS
)  # fmt: skip


def _inside(token: Token, spans: list[Span]) -> bool:
    return any(span.start <= token.start < span.end or span.start < token.end <= span.end for span in spans)


def name_here(token: Token, used: list[Span]) -> str | None:
    if _inside(token, used):
        return None
    name = name_of(token)
    if name is None or (not token.quoted and (token.low in _NEVER_NAMES or token.canon in _NEVER_NAMES)):
        return None
    return name


@dataclass
class Names:
    """Names found, each with the role its place gives it, in the order they were said."""

    sites: list[tuple[int, str]]  # (strength, name), see site()
    tenants: list[str]  # named as a tenant
    others: list[tuple[int, str]]  # (rank, name) found the general way: 0 a verb's object, 1 anything else

    def site(self) -> str | None:
        """Next to "site", "called", quoted (2); owning a status or env vars (1); a verb's object; a label
        opening the message (0); anything else."""
        by_place = [name for strength in (2, 1) for s, name in self.sites if s == strength]
        objects = [name for rank, name in self.others if rank == 0]
        labels = [name for s, name in self.sites if s == 0]
        ranked = by_place + objects + labels + [name for rank, name in self.others if rank == 1]
        return ranked[0] if ranked else None

    def tenant(self, site: str | None) -> str | None:
        ranked = self.tenants + [name for _, name in sorted(self.others) if name != site]
        return ranked[0] if ranked else None


def _before_tenant_word(tokens: list[Token], index: int) -> bool:
    return index + 1 < len(tokens) and tokens[index + 1].canon in v.TENANT_NOUNS


def after_word(tokens: list[Token], index: int, words: frozenset[str]) -> bool:
    """The word before `index` (past "the", "my", "our") is one of `words`."""
    position = index - 1
    while position >= 0 and tokens[position].low in _DETERMINERS:
        position -= 1
    return position >= 0 and (tokens[position].low in words or tokens[position].canon in words)


def _strong_site(tokens: list[Token], index: int) -> bool:
    token = tokens[index]
    before = tokens[index - 1] if index > 0 else None
    after = tokens[index + 1] if index + 1 < len(tokens) else None
    if before is not None and before.canon in v.SITE_NOUNS:
        return True
    if before is not None and before.low in {":", "="} and index > 1 and tokens[index - 2].canon in v.SITE_NOUNS:
        return True
    if after is not None and after.canon in v.SITE_NOUNS and not token.canon:
        return True
    return token.quoted


def _label(tokens: list[Token], index: int) -> bool:
    """ "blog: set DEBUG=1": a name before a colon opening the message. Weaker than the other places,
    since "SYSTEM: ..." or "Note: ..." open messages too."""
    after = tokens[index + 1] if index + 1 < len(tokens) else None
    return index == 0 and after is not None and after.low == ":" and not tokens[index].canon


def strong_names(text: str, tokens: list[Token]) -> set[int]:
    """Tokens that are names whatever the verb: next to "site", after "called", in quotes, a label."""
    found = {i for i in range(len(tokens)) if (_strong_site(tokens, i) or _label(tokens, i)) and name_of(tokens[i])}
    one, several = called_run(text, tokens)
    if one is not None:
        found.add(one)
    if several is not None:
        found |= {i for i, t in enumerate(tokens) if _inside(t, [several])}
    return found


def _possessive(tokens: list[Token], index: int, names: Names, used: list[Span], money: bool) -> None:
    """ "acme's blog", "acme's sites": acme owns them (a tenant); "blog's env vars": blog is the site, and
    so is it in "blog's budget" when the message is about money (elsewhere "acme's billing site" keeps
    its tenant and its site called billing)."""
    following = _next_word(tokens, index)
    owned = tokens[following] if following is not None else None
    name = name_here(tokens[index], used)
    if name is None:
        return
    owns_money = money and owned is not None and not owned.quoted and bool(v.money_word(owned.low))
    # "blog's cache", "blog's page cache": blog is the site.
    cache = v.STATUS_NOUNS | v.ENV_NOUNS | v.ENV_PLURALS | v.CACHE_NOUNS | v.CACHE_HOLDS
    if owned is not None and (owned.canon in cache or owns_money):
        names.sites.append((1, name))
        return
    names.tenants.append(name)
    if owned is not None and following is not None and not owned.possessive:
        owned_name = name_here(owned, used)
        if owned_name:
            names.sites.append((2, owned_name))


def _weak_place(tokens: list[Token], index: int, verbs: set[int], creating: bool) -> str | None:
    """Why a word in no special place may still be a name: "object" (of a verb), "site", "tenant" (create's
    "for X"), or None."""
    if after_word(tokens, index, _PREPOSITIONS):
        if creating and after_word(tokens, index, frozenset({"for"})):
            return None if tokens[index - 1].low in _DETERMINERS else "tenant"
        return "site"
    position = index - 1
    while position >= 0 and tokens[position].low in _DETERMINERS:
        position -= 1
    if position in verbs and not (creating and tokens[index - 1].low in {"my", "our"}):
        return "object"
    after = tokens[index + 1] if index + 1 < len(tokens) else None
    if after_word(tokens, index, frozenset({"is", "does", "did", "has"})):
        return "site"
    if after is not None and (after.low in {"is", "has"} or after.canon in v.STATUS_NOUNS | v.ENV_NOUNS):
        return "site"
    return None


def names(
    tokens: list[Token], verbs: set[int], used: list[Span], strong: set[int], creating: bool, *, money: bool = False
) -> Names:
    found = Names(sites=[], tenants=[], others=[])
    owned: set[int] = set()
    for index, token in enumerate(tokens):
        if index in owned or not token.word:
            continue
        name = name_here(token, used)
        if token.possessive:
            _possessive(tokens, index, found, used, money)
            following = _next_word(tokens, index)
            owned |= {following} if following is not None else set()
        elif name is None:
            continue
        elif after_word(tokens, index, v.TENANT_NOUNS) or _before_tenant_word(tokens, index):
            found.tenants.append(name)
        elif index in strong:
            found.sites.append((0 if _label(tokens, index) else 2, name))
        elif index not in verbs:
            place = _weak_place(tokens, index, verbs, creating)
            if place in {"object", "site"}:
                found.others.append((0 if place == "object" else 1, name))
            elif place == "tenant":
                found.tenants.append(name)
    return found


_PRONOUNS = frozenset({"it", "that", "this"})


def antecedent(tokens: list[Token], verbs: set[int], used: list[Span]) -> str | None:
    """ "I don't need portfolio anymore, delete it": when a verb's object is "it", the one unknown word
    said before the verb is what "it" stands for (none when there are several: no guessing)."""
    for verb in sorted(verbs):
        if verb + 1 < len(tokens) and tokens[verb + 1].low in _PRONOUNS:
            earlier = [
                name
                for token in tokens[:verb]
                if not token.canon and (name := name_here(token, used)) is not None and not token.possessive
            ]
            return earlier[0] if len(earlier) == 1 else None
    return None


def status(tokens: list[Token], allowed: list[str]) -> str | None:
    for token in tokens:
        meant = v.STATUS_OF.get(token.canon or "")
        if meant in allowed:
            return meant
    return None
