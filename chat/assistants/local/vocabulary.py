"""The words the interpreter knows, and how a word as typed (typos included) maps to one of them.

The tool names, arguments and statuses come from the registry; what is kept here is only English:
which verbs and nouns point at which action. A word maps to a canonical word (`canonical`), and the
canonical words are grouped by meaning (the sets below).
"""

from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

# --- Verbs, by the action they ask for ------------------------------------------------------------

CREATE = frozenset({"create", "make", "build", "launch", "start", "spin", "setup", "add"})
# "make", "build", "add"... ask for a site only when a site is in the sentence; "create" always does.
CREATE_ALONE = frozenset({"create"})
DELETE = frozenset(
    {"delete", "remove", "destroy", "erase", "nuke", "wipe", "drop", "trash", "kill", "terminate", "scrap", "purge"}
)
SUSPEND = frozenset({"suspend", "pause", "disable", "deactivate", "freeze", "halt", "stop", "block"})
RESUME = frozenset({"resume", "unsuspend", "unpause", "reactivate", "enable", "reopen", "unfreeze", "unblock"})
CHECK = frozenset({"check"})
LIST = frozenset({"list", "show", "display", "see", "view", "print", "overview", "give"})
SET = frozenset({"set", "put", "store", "save", "configure", "define", "change", "update", "assign", "add"})
UNSET = frozenset({"unset", "clear"})

# --- Nouns ------------------------------------------------------------------------------------------

SITE_NOUNS = frozenset({"site", "website"})
SITES_NOUNS = frozenset({"sites", "websites"})
ENV_NOUNS = frozenset({"env", "environment", "variable", "var", "envvar", "secret", "config", "configuration"})
ENV_PLURALS = frozenset({"variables", "vars", "envs", "envvars", "secrets"})
TENANT_NOUNS = frozenset({"tenant", "org", "organisation", "organization", "customer", "client"})
STATUS_NOUNS = frozenset({"status", "state", "health", "doing"})
# A tenant's own domains: the nouns, and verbs that mean adding or removing one only there.
DOMAIN_NOUNS = frozenset({"domain", "domains", "hostname", "hostnames", "dns"})
DOMAIN_ADD = frozenset({"connect", "point", "attach", "link", "map", "use", "answer", "hook"})
DOMAIN_REMOVE = frozenset({"detach", "disconnect", "unlink", "unhook"})
DOMAIN_CHECK = frozenset({"verify", "verification", "propagated"})
# A site's page cache: its nouns, and verbs that mean emptying it only there (besides delete's and
# unset's: "purge", "clear", "wipe"...).
CACHE_NOUNS = frozenset({"cache", "caches", "cached"})
CACHE_EMPTY = frozenset({"flush", "empty", "refresh", "invalidate", "bust", "reset"})
# Words said of what the cache holds ("the page cache", "its cached pages"): never a site's name.
CACHE_HOLDS = frozenset({"page", "pages", "copies"})
HELP_WORDS = frozenset({"help", "commands", "command", "options", "capabilities", "tools", "actions"})
# Words that say a value must stay hidden (the key's own name does not count: see interpreter).
SENSITIVE = frozenset(
    {"secret", "secrets", "sensitive", "hidden", "hide", "private", "password", "passwd", "confidential", "masked"}
)

# Words of state -> the status they mean (the registry's enum is checked before one is used).
STATUS_OF: dict[str, str] = {
    **dict.fromkeys(("ready", "live", "running", "up", "online", "active", "working", "healthy"), "ready"),
    **dict.fromkeys(("suspended", "paused", "disabled", "deactivated", "frozen"), "suspended"),
    **dict.fromkeys(("failed", "failing", "broken", "errored", "erroring", "error", "crashed", "down"), "failed"),
    **dict.fromkeys(("provisioning", "provisioned"), "provisioning"),
    "updating": "updating",
    **dict.fromkeys(("requested", "pending", "queued"), "requested"),
    **dict.fromkeys(("deleting", "deleted"), "deleting"),
}

# Other spellings of known words.
_SPELLINGS = {
    "re-enable": "enable",
    "reenable": "enable",
    "un-suspend": "unsuspend",
    "un-pause": "unpause",
    "set-up": "setup",
    "websites": "websites",
    "web-site": "website",
    "env-vars": "envvars",
    "env-var": "envvar",
    "environments": "environment",
    "statuses": "status",
    "organisations": "organisation",
    "organizations": "organization",
    "tenants": "tenant",
    "orgs": "org",
}


# Words that carry no name and no action: articles, pronouns, prepositions, politeness, time.
def wordlist(words: str) -> frozenset[str]:
    return frozenset(words.split())


FUNCTION_WORDS = wordlist(
    """a an the my our your his her their its it this that these those them they me i you we us u he she
    all every each any some one another new other others of on in for from to at by with about into onto
    and or but not no yes is are was were be been being am do does did done have has had can could would
    should will shall may might must please pls plz thanks thank now right just also too again yet still
    already anymore completely immediately temporarily while then there here what which who how why when
    where whether what's it's that's i'm i'd i'll let's there's here's don't dont doesn't won't can't
    hey hi hello ok okay so quick like want need wanna up down off back out over hold without asking sure
    if as than soon later today tonight everything nothing something anything whole entire same current
    currently called named titled title name value key keep getting really very bit few many much more
    most every only also both either neither via per anyway thing things lol pls"""
)
# Words that look one typo away from a known word but are words of their own.
_NOT_TYPOS = frozenset({"upset", "smart", "stage", "lunch", "charge", "clean", "stare", "score", "stone", "shore"})

_WORDS: dict[str, str] = {
    word: word
    for group in (
        CREATE, DELETE, SUSPEND, RESUME, CHECK, LIST, SET, UNSET, SITE_NOUNS, SITES_NOUNS, ENV_NOUNS,
        ENV_PLURALS, TENANT_NOUNS, STATUS_NOUNS, HELP_WORDS, SENSITIVE, STATUS_OF, DOMAIN_NOUNS, DOMAIN_ADD,
        DOMAIN_REMOVE, DOMAIN_CHECK, CACHE_NOUNS, CACHE_EMPTY, CACHE_HOLDS,
    )
    for word in group
} | _SPELLINGS  # fmt: skip
# Typos are mended towards words of four letters or more (shorter ones are too alike).
_FUZZY_TARGETS = sorted(word for word in _WORDS if len(word) >= 4 and word.isalpha())


def _stem(word: str) -> str:
    """ "creating" -> "create", "lists" -> "list": the known word under a common ending, or ""."""
    for suffix, restore in (("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("d", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)] + restore
            if base in _WORDS:
                return _WORDS[base]
    return ""


def _mended(word: str) -> str:
    """The known word `word` is a typo of, or "". One slip for short words, two for long ones; the first
    letter must agree, and four-letter words only count swapped letters ("lsit"), since one changed
    letter turns a four-letter word into another word ("shop" is not "show")."""
    if len(word) < 4 or word in _NOT_TYPOS:
        return ""
    limit = 2 if len(word) >= 8 else 1
    found = process.extractOne(word, _FUZZY_TARGETS, scorer=OSA.distance, score_cutoff=limit)
    if found is None:
        return ""
    target = str(found[0])
    if target[0] != word[0]:
        return ""
    if len(word) == 4 and sorted(target) != sorted(word):
        return ""
    return _WORDS[target]


# --- Money: what a cost question or a budget says -----------------------------------------------------
# Kept out of the words above on purpose: a site may well be called "billing" or "budget", and a known
# word is never a name there ("the billing site", "delete budget" must keep working). These words
# count only where costs.py asks about them, with their own typo rule (money_word).

COST_WORDS = wordlist(
    """cost costs costing costed costly spend spends spending spendings spent bill bills billing billed
    invoice invoices invoiced expense expenses expensive expenditure expenditures charge charges charged
    pay paying paid payment payments price prices pricing money owe owed fee fees"""
)
BUDGET_WORDS = frozenset({"budget", "budgets", "budgeted", "budgeting"})
# Words of a ceiling: a budget when an amount or a cost word goes with them ("limit blog to 50 a month").
LIMIT_WORDS = frozenset({"limit", "limits", "cap", "caps", "capped", "ceiling", "allowance", "max", "maximum"})
CURRENCY_WORDS = frozenset(
    {"dollar", "dollars", "usd", "eur", "euro", "euros", "gbp", "pound", "pounds", "bucks", "$", "€", "£"}
)


@lru_cache(maxsize=4096)
def canonical(word: str) -> str:
    """The known word that `word` (lowercased) stands for, or "" for any other word."""
    if word in _WORDS:
        return _WORDS[word]
    if word in FUNCTION_WORDS or not word.replace("-", "").isalpha():
        return ""
    return _stem(word) or _mended(word)


_MONEY_KINDS = (
    dict.fromkeys(COST_WORDS, "cost") | dict.fromkeys(BUDGET_WORDS, "budget") | dict.fromkeys(LIMIT_WORDS, "limit")
)
_MONEY_TARGETS = sorted(word for word in COST_WORDS | BUDGET_WORDS | {"limit"} if len(word) >= 5)
# English words one slip from a word of money.
_NOT_MONEY_TYPOS = frozenset({"sped", "spew", "pacing", "coasting", "monkey", "pries", "bided"})


@lru_cache(maxsize=4096)
def money_word(word: str) -> str:
    """ "cost", "budget" or "limit" for a word of money (typos mended: "spnt", "buget"), else "".

    A typo counts at one slip from a word of five letters or more, with the first two letters right
    ("send" is no "spend", "sending" no "spending"); a typed word of five letters or fewer only by a
    dropped or swapped letter ("spnt", "spedn"), since one changed letter makes another word ("speed"
    is no "spend", "coast" no "costs"). A word the vocabulary knows is never a typo of these
    ("changed" is no "charged")."""
    if word in _MONEY_KINDS:
        return _MONEY_KINDS[word]
    if len(word) < 4 or word in _NOT_MONEY_TYPOS or not word.isalpha() or canonical(word):
        return ""
    found = process.extractOne(word, _MONEY_TARGETS, scorer=OSA.distance, score_cutoff=1)
    if found is None:
        return ""
    target = str(found[0])
    dropped_or_swapped = len(word) < len(target) or sorted(word) == sorted(target)
    if target[:2] != word[:2] or (len(word) <= 5 and not dropped_or_swapped):
        return ""
    return _MONEY_KINDS[target]
