"""Costs and budgets: whether a message asks what was spent (`tenant_costs`) or sets a monthly budget
(`set_budget`), and the period, grouping and amount its words say.

Rules (the labelled set follows them):
- A word of money (cost, spent, bill, invoice...; typos mended: "spnt") asks what was spent, unless the
  message acts on a site or an env var (delete, suspend, resume, unset; a key; an env noun; a domain;
  "status"): "delete billing" still deletes the site called billing, and a word of money that is a
  site's name by its place ("the billing site", "called budget") counts for nothing.
- It sets a budget when it says "budget" with an amount or a verb that sets one ("set a budget of
  200", "I need a budget for blog"), a ceiling (limit, cap, max...) with an amount or with a word of
  money ("limit blog's spending to 50 per month"), or a word of money with an amount and a ceiling or
  "a month" ("don't let me spend more than 100 a month"). "budget" with neither amount nor verb is a
  question ("how much of my budget is left?"): what was spent.
- `period` only when the words say one; said nothing, it is left out (the tool's default is this
  month). this/last month, this year, a month by name, with its year or not, or YYYY-MM. A month without
  its year is the most recent one that is not in the future (in November 2026 and in February 2027,
  "October" is 2026-10; "last October" is never the month we are in). Days instead of a period:
  dates (YYYY-MM-DD: "from ... to ...", "since ..."), today, yesterday, "the last N days", last year,
  a past year by number. "Today" is `django.utils.timezone.now()` (tests pin it).
- `group_by`: the first of site (site, sites), service, day (daily, per day) said; in a staff reading
  also tenant (tenants, organisations, per tenant). Said nothing, it is left out.
- `amount`: the first number that is no part of a date or of the period; "$150", "150 dollars",
  "1,500" and "2k" are understood; a whole number stays whole (200, not 200.0).
- The words of money, period, grouping and amount are no names. The site of a budget and the tenant
  of a cost question are found the general way (slots.py); "blog's budget" is the site's.
"""

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from rapidfuzz import process
from rapidfuzz.distance import OSA

from chat.assistants.local import vocabulary as v
from chat.assistants.local.intent import Event, Signals, domain_at
from chat.assistants.local.slots import Span
from chat.assistants.local.text import Token

COST_TOOLS = frozenset({"tenant_costs", "set_budget"})

# Verbs that act on a site or an env var: a word of money beside them is a name ("delete billing").
_ACTING_ELSEWHERE = frozenset({"delete", "suspend", "resume", "unset"})
_STATE = frozenset({"status", "state", "health"})
_MAKE_FILLERS = frozenset({"a", "an", "the", "me", "us", "my", "our", "new", "another", "one", "wordpress", "wp"})
_WRITING = frozenset({"poem", "poems", "story", "joke", "essay", "song", "haiku", "limerick", "recipe"})
_WANTING = frozenset({"want", "wanna", "need", "like", "give"})
# Words of a ceiling: with an amount and a word of money, a budget ("spend no more than 100").
_CEILINGS = re.compile(
    r"\b(?:at most|no more than|not more than|more than|less than|up to|under|below|over|above|beyond|exceed\w*"
    r"|go(?:es)? past|keep|stay\w*)\b"
)
_MONTHLY = re.compile(r"\b(?:monthly|(?:a|per|each|every|/) ?(?:month|mo)\b)")

MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
}  # fmt: skip
_FULL_MONTHS = sorted(name for name in MONTHS if len(name) >= 5)
# Month names that are other words too ("may I see...", "march on"): months only after a preposition
# or before a year.
_CAUTIOUS = frozenset({"may", "march", "mar"})
_BEFORE_A_MONTH = frozenset(
    {"in", "for", "during", "of", "since", "from", "through", "until", "till", "last", "this", "to", "and", "on"}
)
_BEFORE_A_YEAR = frozenset({"in", "for", "during", "of", "throughout", "through", "year", "since"})
_YEAR = re.compile(r"^20\d\d$")
_YEAR_MONTH = re.compile(r"^(20\d\d)-(0?[1-9]|1[0-2])$")
_DATE = re.compile(r"^20\d\d-\d\d-\d\d$")
_LAST = frozenset({"last", "previous", "past", "prior"})
_THIS = frozenset({"this", "current"})

_SERVICE = frozenset({"service", "services", "per-service", "sku", "skus", "product", "products"})
_DAY = frozenset({"daily", "day", "days", "per-day", "day-by-day"})
_TENANTS = frozenset({"tenants", "orgs", "organisations", "organizations", "customers", "clients"})
_GROUP_MARKERS = frozenset({"per", "by", "each", "every", "which", "what", "top", "all"})
# "which site costs most", "the most expensive site": beside "site", a verb or an adjective of money is
# no site's name (while "the site billing", "the invoices site" are names).
_DESCRIBING = frozenset(
    {"cost", "costs", "costed", "costing", "spend", "spends", "spent", "spending", "charged", "billed", "expensive",
     "costly", "pricey", "priciest", "cheapest"}
)  # fmt: skip
# Words about money or time that are never a name in a cost question ("a month", "the total").
_NOT_NAMES = frozenset(
    {"month", "months", "monthly", "mo", "year", "years", "yearly", "total", "totals", "breakdown", "most",
     "least", "so", "far", "left", "hosting", "spending", "week", "weeks", "top", "amount", "figures", "numbers"}
) | _SERVICE | _DAY | _TENANTS  # fmt: skip

# An amount: "$150", "1,500", "99.50", "2k"; never the digits of a date or of a name ("site2", "2026-10").
_AMOUNT = re.compile(
    r"(?<![\w.,/-])([$€£]\s?)?(\d{1,3}(?:,\d{3})+|\d+)(\.\d{1,2})?(k)?(?![\w-]|[.,/]\d)", re.IGNORECASE
)


def today() -> date:
    """The day months without a year are counted back from: the same clock as the cost tools'."""
    return timezone.now().date()


@dataclass
class Money:
    """The money words of one message, where they are, and the period and amount found."""

    kinds: dict[int, str]  # token -> "cost", "budget" or "limit"
    period: dict[str, str] = field(default_factory=dict)  # {"period": ...} or {"start": ..., "end": ...}
    timing: set[int] = field(default_factory=set)  # the tokens that said the period
    quiet: set[int] = field(default_factory=set)  # tokens of money, time, grouping: never names
    amount: tuple[int | float, Span] | None = None


def _month_of(word: str) -> int | None:
    """The month a word names, typos mended at one slip in names of five letters or more ("octobr")."""
    if word in MONTHS:
        return MONTHS[word]
    if len(word) < 5 or not word.isalpha() or word in v.FUNCTION_WORDS:
        return None
    limit = 2 if len(word) >= 8 else 1
    found = process.extractOne(word, _FULL_MONTHS, scorer=OSA.distance, score_cutoff=limit)
    if found is None or str(found[0])[0] != word[0]:
        return None
    return MONTHS[str(found[0])]


def _low(tokens: list[Token], index: int) -> str:
    return tokens[index].low if 0 <= index < len(tokens) and not tokens[index].quoted else ""


def _year_after(tokens: list[Token], index: int) -> tuple[int, int] | None:
    """ "October 2026", "October of 2026": the year and its token."""
    for position in (index + 1, index + 2):
        if _YEAR.match(_low(tokens, position)) and (position == index + 1 or _low(tokens, index + 1) == "of"):
            return int(tokens[position].low), position
    return None


def _month_period(tokens: list[Token], strong: set[int], now: date) -> tuple[str, set[int]] | None:
    for index, token in enumerate(tokens):
        if token.quoted or index in strong:
            continue
        found = _YEAR_MONTH.match(token.low)
        if found:
            return f"{found[1]}-{int(found[2]):02d}", {index}
        month = _month_of(token.low)
        if month is None:
            continue
        year = _year_after(tokens, index)
        before = _low(tokens, index - 1)
        if token.low in _CAUTIOUS and year is None and before not in _BEFORE_A_MONTH:
            continue
        used = {index} | ({year[1], index + 1} if year else set())
        if year is not None:
            return f"{year[0]}-{month:02d}", used
        # The most recent such month that has begun; "last October" one that has also ended.
        ended = before in _LAST
        this_year = month < now.month or (month == now.month and not ended)
        if before in _LAST | _THIS:
            used.add(index - 1)
        return f"{now.year if this_year else now.year - 1}-{month:02d}", used
    return None


def _dates(tokens: list[Token]) -> tuple[dict[str, str], set[int]] | None:
    """Explicit days: two are a range, one is a start ("since"), an end ("until") or the day itself."""
    found = [i for i, t in enumerate(tokens) if not t.quoted and _DATE.match(t.low) and _valid(t.low)]
    if not found:
        return None
    if len(found) >= 2:
        first, last = sorted(tokens[i].low for i in found[:2])
        return {"start": first, "end": last}, set(found[:2])
    index = found[0]
    day = tokens[index].low
    before = _low(tokens, index - 1)
    if before in {"since", "from", "after"}:
        return {"start": day}, {index}
    if before in {"until", "till", "to", "through", "before"}:
        return {"end": day}, {index}
    return {"start": day, "end": day}, {index}


def _valid(day: str) -> bool:
    try:
        date.fromisoformat(day)
    except ValueError:
        return False
    return True


def _span(first: date, last: date) -> dict[str, str]:
    return {"start": first.isoformat(), "end": last.isoformat()}


def _relative(tokens: list[Token], now: date) -> tuple[dict[str, str], set[int]] | None:
    for index in range(len(tokens)):
        found = _period_words(tokens, index, now) or _days_words(tokens, index, now)
        if found is not None:
            return found
    return None


def _period_words(tokens: list[Token], index: int, now: date) -> tuple[dict[str, str], set[int]] | None:
    """this month, last month, month to date, this year, year to date, last year, in 2025."""
    low, before = _low(tokens, index), _low(tokens, index - 1)
    if low == "month" and before in _THIS | _LAST:
        return {"period": "this_month" if before in _THIS else "last_month"}, {index - 1, index}
    if low in {"month-to-date", "mtd"} or (
        low == "month" and _low(tokens, index + 1) == "to" and _low(tokens, index + 2) == "date"
    ):
        return {"period": "this_month"}, {index, index + 1, index + 2}
    if low in {"ytd", "year-to-date"}:
        return {"period": "this_year"}, {index}
    year = None
    if low == "year" and before in _THIS | _LAST:
        year = now.year if before in _THIS else now.year - 1
    elif _YEAR.match(low) and before in _BEFORE_A_YEAR:
        year = int(low)  # "in 2025"; a year alone may be an amount ("a budget of 2000")
    if year is None:
        return None
    used = {index - 1, index} if low == "year" else {index}
    if year == now.year:
        return {"period": "this_year"}, used
    return _span(date(year, 1, 1), date(year, 12, 31)), used


def _days_words(tokens: list[Token], index: int, now: date) -> tuple[dict[str, str], set[int]] | None:
    """today, yesterday, the last N days, the last week."""
    low, before = _low(tokens, index), _low(tokens, index - 1)
    if low in {"today", "yesterday"}:
        day = now - timedelta(days=1 if low == "yesterday" else 0)
        return _span(day, day), {index}
    if low == "week" and before in _LAST:
        return _span(now - timedelta(days=6), now), {index - 1, index}
    if low in {"days", "day"} and before.isdigit() and _low(tokens, index - 2) in _LAST and 0 < int(before) <= 366:
        return _span(now - timedelta(days=int(before) - 1), now), {index - 2, index - 1, index}
    return None


def period(tokens: list[Token], strong: set[int], now: date) -> tuple[dict[str, str], set[int]]:
    """The period the words say, most precise first, and the tokens that said it."""
    found = _dates(tokens)
    if found is not None:
        return found
    month = _month_period(tokens, strong, now)
    if month is not None:
        return {"period": month[0]}, month[1]
    return _relative(tokens, now) or ({}, set())


def group_by(tokens: list[Token], used: set[int], staff: bool) -> tuple[str | None, set[int]]:
    """The first grouping said: site, service, day, or (staff) tenant."""
    for index, token in enumerate(tokens):
        if index in used or token.quoted:
            continue
        before = _low(tokens, index - 1)
        if token.canon in v.SITE_NOUNS | v.SITES_NOUNS:
            return "site", {index}
        if token.low in _SERVICE:
            return "service", {index}
        if token.low in _DAY:
            return "day", {index}
        tenants = token.low in _TENANTS or (token.canon in v.TENANT_NOUNS and before in _GROUP_MARKERS)
        if tenants:
            return ("tenant" if staff else None), {index}
    return None, set()


def _amount(text: str, tokens: list[Token], used: set[int]) -> tuple[int | float, Span] | None:
    taken = [Span(tokens[i].text, tokens[i].start, tokens[i].end) for i in used]
    for found in _AMOUNT.finditer(text):
        if any(span.start < found.end() and found.start() < span.end for span in taken):
            continue  # "the last 30 days", "in 2025": part of the period
        value = Decimal(found[2].replace(",", "") + (found[3] or "")) * (1000 if found[4] else 1)
        number: int | float = int(value) if value == value.to_integral_value() else float(value)
        return number, Span(found.group(), found.start(), found.end())
    return None


def amount_in(text: str) -> int | float | None:
    """The amount a message says, alone: the answer to "How much a month?"."""
    found = _amount(text, [], set())
    return found[0] if found else None


def _label(tokens: list[Token], index: int) -> bool:
    """ "budget: 300": a word opening the message before a colon (slots takes it for a site's label)."""
    return index == 0 and len(tokens) > 1 and tokens[1].low == ":"


def read(text: str, tokens: list[Token], strong: set[int]) -> Money | None:
    """The money words of a message (None when it has none), with its period and amount."""
    kinds = {
        i: kind
        for i, t in enumerate(tokens)
        if not t.quoted
        and (i not in strong or t.low in _DESCRIBING or _label(tokens, i))
        and (kind := v.money_word(t.low))
    }
    if not kinds:
        return None
    said, timing = period(tokens, strong, today())
    quiet = {i for i, t in enumerate(tokens) if t.low in v.CURRENCY_WORDS | _NOT_NAMES and i not in strong}
    return Money(kinds, said, timing, timing | quiet | set(kinds), _amount(text, tokens, timing))


def _elsewhere(tokens: list[Token], events: list[Event], key: int | None, found: Signals) -> bool:
    """The message acts on a site, an env var or a domain, or asks a site's state: its words of money are
    names there ("delete billing", "create a site called budget", "status of invoices"). Or it asks for
    writing ("a poem about money"): no platform action at all."""
    return (
        key is not None
        or found.env
        or found.naming
        or domain_at(tokens) is not None
        or any(e.kind in _ACTING_ELSEWHERE or _makes_a_site(tokens, e) for e in events)
        or any(t.canon in _STATE or t.low in _WRITING for t in tokens)
    )


def _setting(money: Money, tokens: list[Token], events: list[Event]) -> bool:
    """A verb that sets something, or wanting one ("I need a budget")."""
    first = min(money.kinds)
    return (
        any(e.kind in {"set", "create"} for e in events)
        or any(t.low in _WANTING for t in tokens)
        # "limit blog's spending to 50", "cap it": the word of a ceiling opening the message is a verb.
        or (money.kinds[first] == "limit" and all(t.low in {"please", "pls", "and", ","} for t in tokens[:first]))
    )


def tool(money: Money | None, tokens: list[Token], events: list[Event], key: int | None, found: Signals) -> str | None:
    """tenant_costs, set_budget, or None when the message is not about money (see the module's rules)."""
    if money is None or _elsewhere(tokens, events, key, found):
        return None
    kinds = set(money.kinds.values())
    if "budget" in kinds or ("limit" in kinds and (money.amount or "cost" in kinds)):
        return "set_budget" if money.amount or _setting(money, tokens, events) else "tenant_costs"
    if "cost" not in kinds:
        return None  # "limit" alone: a word like any other (a site may be called so)
    lows = " ".join(t.low for t in tokens if not t.quoted)
    ceiling = money.amount is not None and bool(_CEILINGS.search(lows) or _MONTHLY.search(lows))
    return "set_budget" if ceiling else "tenant_costs"


def _makes_a_site(tokens: list[Token], event: Event) -> bool:
    """ "create a site", "make me a new website": a verb of making whose object is a site."""
    if event.kind != "create":
        return False
    following = [t for t in tokens[event.index + 1 : event.index + 5] if t.low not in _MAKE_FILLERS]
    return bool(following) and following[0].canon in v.SITE_NOUNS | v.SITES_NOUNS


def arguments(money: Money, tool: str, tokens: list[Token], staff: bool) -> dict[str, Any]:
    """The period and grouping of a cost question, or the amount of a budget."""
    if tool == "set_budget":
        return {"amount": money.amount[0]} if money.amount else {}
    found: dict[str, Any] = dict(money.period)
    group, used = group_by(tokens, money.timing, staff)
    money.quiet |= used
    if group:
        found["group_by"] = group
    return found


def spans(money: Money, tokens: list[Token]) -> list[Span]:
    """What the money words took: never a site's or a tenant's name."""
    taken = [Span(tokens[i].text, tokens[i].start, tokens[i].end) for i in sorted(money.quiet) if 0 <= i < len(tokens)]
    return taken + ([money.amount[1]] if money.amount else [])
