"""Reading a tenant definition (YAML, or JSON which is YAML too): every problem is reported at
once, each with the file, the line and the field, and nothing is planned until there are none.

YAML is composed into nodes first, which keep their line numbers, and the same nodes are turned into
Python values, so an error found by the schema points at the line a person wrote."""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from definitions.schema import API_VERSION, KIND, tenant_schema
from definitions.spec import DEFAULT_BUDGET_ACTION, DEFAULT_MAX_WORKERS, BudgetSpec, SiteSpec, TenantSpec
from dns.rules import validate_domain
from kernel.errors import InvalidInput
from sites.rules import check_env_name, check_env_value

# A definition of 200 sites is about 60 KB; PyYAML is pure Python, so a larger body only costs CPU.
MAX_DEFINITION_BYTES = 256_000
# A definition nests 6 deep (spec.sites[].secretEnv.KEY.fromSecret); PyYAML's time grows with depth.
MAX_NESTING = 32
MAX_INDENT = 200
SHOWN_AT_MOST = 60
Path = tuple[str | int, ...]


def _safe(text: str) -> str:
    """User text inside a message, made harmless for a terminal, a log and JSON: control characters
    and lone surrogates are shown as escapes."""
    return "".join(
        character
        if character.isprintable() and not 0xD800 <= ord(character) <= 0xDFFF
        else character.encode("unicode_escape", "backslashreplace").decode("ascii")
        for character in text
    )


@dataclass(frozen=True)
class Problem:
    source: str
    line: int | None
    field: str
    message: str

    def __post_init__(self) -> None:
        for name in ("source", "field", "message"):
            object.__setattr__(self, name, _safe(getattr(self, name)))

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def as_error(self) -> dict[str, Any]:
        """One entry of the API's `errors` (RFC 9457 problem JSON with field errors)."""
        return {"field": self.field, "message": self.message, "line": self.line, "source": self.source}


class DefinitionInvalid(InvalidInput):
    """A definition that cannot be applied: every problem found, with where it is."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}", field=first.field or None)


def field_name(path: Path) -> str:
    """spec.sites[0].scaling.maxWorkers"""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# --- YAML with line numbers --------------------------------------------------------------------


class _Lines:
    """The line of every key and item of a composed document, by path."""

    def __init__(self) -> None:
        self.lines: dict[Path, int] = {(): 1}
        self.duplicates: list[tuple[Path, int]] = []

    def walk(self, node: yaml.Node, path: Path) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = str(key.value)
                child = (*path, name)
                if name in seen:
                    self.duplicates.append((child, key.start_mark.line + 1))
                seen.add(name)
                self.lines[child] = key.start_mark.line + 1
                self.walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, index)
                self.lines[child] = item.start_mark.line + 1
                self.walk(item, child)

    def of(self, path: Path) -> int:
        """The line of `path`, or of the nearest part of it that exists (a missing field: its parent)."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


def _too_deep(text: str) -> int | None:
    """The line where brackets nest, or indentation goes, deeper than a definition ever needs: checked
    on the characters before PyYAML, whose time grows with depth, reads anything. Brackets inside
    quotes count too; 32 of them never happen in a real definition."""
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) - len(line.lstrip(" ")) > MAX_INDENT:
            return number
        for character in line:
            if character in "[{":
                depth += 1
                if depth > MAX_NESTING:
                    return number
            elif character in "]}":
                depth = max(0, depth - 1)
    return None


def _load(text: str, source: str) -> tuple[Any, _Lines]:
    def fail(message: str, line: int | None = None) -> DefinitionInvalid:
        return DefinitionInvalid([Problem(source, line, "", message)])

    if len(text.encode()) > MAX_DEFINITION_BYTES:
        raise fail(f"the definition is larger than {MAX_DEFINITION_BYTES} bytes")
    too_deep = _too_deep(text)
    if too_deep is not None:
        raise fail(f"nested more than {MAX_NESTING} levels deep (or indented more than {MAX_INDENT})", too_deep)
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            # An alias can repeat a node without limit (a "billion laughs"); a definition never needs one.
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark is not None else None
                raise fail("YAML anchors and aliases are not supported: write each value out", line)
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        if "another document" in str(exc.problem):
            raise fail("a file holds one definition: put each tenant in a file of its own", line) from None
        raise fail(f"not valid YAML or JSON: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:
        raise fail(f"not valid YAML or JSON: {exc}") from None
    except RecursionError:
        raise fail(f"nested more than {MAX_NESTING} levels deep") from None
    if node is None:
        raise fail("the definition is empty")
    lines = _Lines()
    lines.walk(node, ())
    if lines.duplicates:
        raise DefinitionInvalid(
            [Problem(source, line, field_name(path), "given twice") for path, line in lines.duplicates]
        )
    return data, lines


# --- Schema errors in words a person can act on --------------------------------------------------

_PATTERN_HINTS = {
    "metadata.name": "use 3 to 40 characters: lowercase letters, digits and hyphens, starting with a letter",
    "name": "use 2 to 40 characters: lowercase letters, digits and hyphens, starting with a letter",
    "fromSecret": "a secret's name: lowercase letters, digits and hyphens (stripe-live)",
    "currency": "a three-letter currency code in capitals (USD)",
}
ENV_NAME_HINT = "capital letters, digits and underscores, not starting with a digit (STRIPE_KEY)"
_TYPE_NAMES = {"string": "a string", "integer": "a whole number", "number": "a number", "object": "a mapping"}
_TYPE_NAMES |= {"array": "a list", "boolean": "true or false"}


def _shown(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"{str(value).lower()} (YAML reads yes, no, on and off as true or false: quote the value)"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    shown = repr(value) if isinstance(value, str) else str(value)
    return shown if len(shown) <= SHOWN_AT_MOST else shown[: SHOWN_AT_MOST - 1] + "…"


def _schema_problems(error: SchemaError, source: str, lines: _Lines) -> Iterator[Problem]:
    path: Path = tuple(error.absolute_path)
    kind = error.validator
    if "propertyNames" in error.absolute_schema_path:
        # A bad key: jsonschema reports it at its mapping; point at the key itself.
        child = (*path, str(error.instance))
        message = f"bad env var name {_shown(error.instance)}: {ENV_NAME_HINT}"
        yield Problem(source, lines.of(child), field_name(child), message)
        return
    name = field_name(path)
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = sorted(schema.get("properties", {}))
        for key in sorted(set(error.instance) - set(allowed), key=str):
            child = (*path, str(key))
            hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
            yield Problem(source, lines.of(child), field_name(child), f"unknown field “{key}”{hint}")
        return
    if kind == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else str(error.message)
        yield Problem(source, lines.of(path), field_name((*path, missing)), "missing: this field is required")
        return
    yield Problem(source, lines.of(path), name, _message(error, path, name))


def _message(error: SchemaError, path: Path, name: str) -> str:  # noqa: PLR0911 - one sentence per kind
    kind = error.validator
    if kind == "const" and name == "apiVersion":
        return f"unsupported apiVersion {_shown(error.instance)}: use {API_VERSION}"
    elif kind == "const" and name == "kind":
        return f"unsupported kind {_shown(error.instance)}: use {KIND}"
    elif kind == "type" and "secretEnv" in path and len(path) == 5:
        # Someone wrote the secret itself here: never repeat it into a CI log.
        return "must be {fromSecret: NAME}, a reference to a tenant secret: a value never goes in a definition"
    elif kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, str) else "string"
        shown = "a value" if "secretEnv" in path else _shown(error.instance)
        return f"must be {_TYPE_NAMES.get(wanted, wanted)}, not {shown}"
    elif kind == "pattern":
        last = "metadata.name" if name == "metadata.name" else str(path[-1]) if path else name
        hint = _PATTERN_HINTS.get(last) or ENV_NAME_HINT
        if "secretEnv" in path:  # perhaps the secret itself, pasted: never repeated
            return f"bad value: {hint}"
        return f"bad value {_shown(error.instance)}: {hint}"
    elif kind == "enum":
        choices = error.validator_value if isinstance(error.validator_value, list) else []
        return f"{_shown(error.instance)} is not one of: {', '.join(map(str, choices))}"
    elif kind == "uniqueItems":
        return "lists the same value twice"
    elif kind == "maxLength":
        return f"is longer than {error.validator_value} characters"
    elif kind == "maxItems":
        return f"has more than {error.validator_value} items"
    else:
        # jsonschema's own words repeat the value: only when it is short.
        return str(error.message) if len(str(error.message)) <= 2 * SHOWN_AT_MOST else f"does not satisfy {kind}"


# --- From checked data to a TenantSpec ------------------------------------------------------------


def _amount(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _budget(raw: dict[str, Any] | None) -> BudgetSpec | None:
    if raw is None:
        return None
    return BudgetSpec(
        monthly=_amount(raw["monthly"]),
        currency=raw.get("currency") or None,
        action=raw.get("action") or DEFAULT_BUDGET_ACTION,
    )


class _Checker:
    """What the schema cannot say: names the services refuse, duplicates across sites, emails."""

    def __init__(self, source: str, lines: _Lines) -> None:
        self.source, self.lines = source, lines
        self.problems: list[Problem] = []

    def add(self, path: Path, message: str) -> None:
        self.problems.append(Problem(self.source, self.lines.of(path), field_name(path), message))

    def check(self, data: dict[str, Any]) -> None:
        slug = data["metadata"]["name"]
        if "--" in slug:
            self.add(("metadata", "name"), "double hyphens are reserved (site hostnames use them as a separator)")
        if slug in settings.RESERVED_TENANT_SLUGS:
            self.add(("metadata", "name"), f"“{slug}” is reserved; choose another name")
        for index, email in enumerate(data["spec"]["owners"]):
            try:
                validate_email(email)
            except ValidationError:
                self.add(("spec", "owners", index), f"“{email}” is not a valid email address")
        self._budget(("spec", "budget"), data["spec"].get("budget"))
        seen_sites: dict[str, int] = {}
        seen_domains: dict[str, str] = {}
        for index, site in enumerate(data["spec"].get("sites") or []):
            self._site(index, site, seen_sites, seen_domains)

    def _budget(self, at: Path, budget: dict[str, Any] | None) -> None:
        if budget is None:
            return
        monthly = budget["monthly"]
        if not math.isfinite(monthly):
            self.add((*at, "monthly"), "must be a number of money, like 200 or 49.50")
        elif Decimal(str(monthly)) != Decimal(str(monthly)).quantize(Decimal("0.01")) or monthly < 0.01:
            self.add((*at, "monthly"), "use at least 0.01, with at most two decimals")

    def _site(self, index: int, site: dict[str, Any], seen: dict[str, int], domains: dict[str, str]) -> None:
        at: Path = ("spec", "sites", index)
        self._budget((*at, "budget"), site.get("budget"))
        name = site["name"]
        if name in seen:
            self.add((*at, "name"), f"the site “{name}” is defined twice (also at sites[{seen[name]}])")
        seen[name] = index
        if "--" in name:
            self.add((*at, "name"), "double hyphens are reserved: they separate the site from the tenant")
        title = site.get("title")
        if title is not None and any(ord(character) < 32 for character in title):
            self.add((*at, "title"), "a title is one line of text, without control characters")
        for group in ("env", "secretEnv"):
            for key, value in (site.get(group) or {}).items():
                try:
                    check_env_name(key)
                    if group == "env":
                        check_env_value(value)
                except InvalidInput as exc:
                    self.add((*at, group, key), exc.message)
        both = set(site.get("env") or {}) & set(site.get("secretEnv") or {})
        for key in sorted(both):
            self.add((*at, "secretEnv", key), "set in env too: give each env var one value")
        listed = site.get("domains") or []
        if len(listed) > settings.DNS_MAX_DOMAINS_PER_SITE:
            self.add((*at, "domains"), f"a site can have {settings.DNS_MAX_DOMAINS_PER_SITE} domains")
        for position, domain in enumerate(listed):
            try:
                hostname = validate_domain(domain)
            except InvalidInput as exc:
                self.add((*at, "domains", position), exc.message)
                continue
            if hostname in domains:
                where = "this site" if domains[hostname] == name else f"“{domains[hostname]}”"
                self.add((*at, "domains", position), f"{hostname} is also given to {where}")
            domains[hostname] = name


def _spec(data: dict[str, Any], source: str, lines: _Lines) -> TenantSpec:
    sites = []
    for raw in data["spec"].get("sites") or []:
        sites.append(
            SiteSpec(
                name=raw["name"],
                title=(raw.get("title") or "").strip() or raw["name"],
                max_workers=(raw.get("scaling") or {}).get("maxWorkers", DEFAULT_MAX_WORKERS),
                env=dict(raw.get("env") or {}),
                secret_env={key: ref["fromSecret"] for key, ref in (raw.get("secretEnv") or {}).items()},
                domains=tuple(validate_domain(domain) for domain in raw.get("domains") or []),
                budget=_budget(raw.get("budget")),
            )
        )
    metadata = data["metadata"]
    return TenantSpec(
        name=metadata["name"],
        display_name=(metadata.get("displayName") or "").strip() or metadata["name"],
        owners=tuple(sorted({email.strip().lower() for email in data["spec"]["owners"]})),
        budget=_budget(data["spec"].get("budget")),
        sites=tuple(sites),
        source=source,
        lines=lines.lines,
    )


def _surrogates(value: Any, path: Path) -> Iterator[Path]:
    """Where a string holds a lone surrogate (JSON's \\ud800 escapes allow it; no database stores it)."""
    if isinstance(value, str):
        if any(0xD800 <= ord(character) <= 0xDFFF for character in value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _surrogates(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _surrogates(item, (*path, index))


_VALIDATOR = Draft202012Validator(tenant_schema())


def parse_definition(text: str, *, source: str) -> TenantSpec:
    """The definition in `text`, checked; DefinitionInvalid lists every problem with its line."""
    data, lines = _load(text, source)
    if not isinstance(data, dict):
        raise DefinitionInvalid(
            [Problem(source, 1, "", "a definition is a mapping (apiVersion, kind, metadata, spec)")]
        )
    problems = [problem for error in _VALIDATOR.iter_errors(data) for problem in _schema_problems(error, source, lines)]
    if problems:
        raise DefinitionInvalid(sorted(problems, key=lambda p: (p.line or 0, p.field)))
    broken = list(_surrogates(data, ()))
    if broken:
        raise DefinitionInvalid(
            [Problem(source, lines.of(path), field_name(path), "not valid Unicode text") for path in broken]
        )
    checker = _Checker(source, lines)
    checker.check(data)
    if checker.problems:
        raise DefinitionInvalid(checker.problems)
    return _spec(data, source, lines)
