"""Every kind of invalid definition gets an error that names the file, the line and the field."""

import pytest
from jsonschema import Draft202012Validator

from definitions.parsing import DefinitionInvalid, parse_definition
from definitions.schema import tenant_schema

GOOD = """apiVersion: aipress.io/v1alpha1
kind: Tenant
metadata:
  name: acme
  displayName: "Acme Ltd"
spec:
  owners: [ops@acme.example]
  budget: {monthly: 200, currency: USD}
  sites:
    - name: blog
      title: "Acme blog"
      scaling: {maxWorkers: 4}
      env: {ANALYTICS_ID: "G-123"}
      secretEnv: {STRIPE_KEY: {fromSecret: stripe-live}}
      domains: [blog.acme.example]
"""


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(text, source="tenants/acme.yaml")
    assert all(p.source == "tenants/acme.yaml" for p in caught.value.problems)
    return [(p.line, p.field, p.message) for p in caught.value.problems]


def test_the_issue_example_reads_with_defaults_filled_in(settings):
    spec = parse_definition(GOOD, source="acme.yaml")
    assert (spec.name, spec.display_name, spec.owners) == ("acme", "Acme Ltd", ("ops@acme.example",))
    blog = spec.site("blog")
    assert blog is not None
    assert (blog.max_workers, blog.env) == (4, {"ANALYTICS_ID": "G-123"})
    assert blog.secret_env == {"STRIPE_KEY": "stripe-live"}
    assert spec.budget is not None and str(spec.budget.monthly) == "200.00"
    without = GOOD.split("  budget:", maxsplit=1)[0].replace('  displayName: "Acme Ltd"\n', "")
    bare = parse_definition(without, source="x")
    assert (bare.display_name, bare.budget, bare.sites) == ("acme", None, ())


def test_json_is_read_as_well():
    text = (
        '{"apiVersion": "aipress.io/v1alpha1", "kind": "Tenant", "metadata": {"name": "acme"},\n'
        ' "spec": {"owners": ["a@b.example"], "sites": [{"name": "blog", "colour": 1}]}}'
    )
    assert problems(text)[0][:2] == (2, "spec.sites[0].colour")


@pytest.mark.parametrize(
    ("change", "line", "field", "message"),
    [
        (("kind: Tenant", "kind: Tenant\nlabels: {}"), 3, "labels", "unknown field “labels”"),
        (("      title:", "      titel:"), 11, "spec.sites[0].titel", "unknown field “titel”; allowed here: budget"),
        (("maxWorkers: 4", "maxWorkers: four"), 12, "spec.sites[0].scaling.maxWorkers", "must be a whole number"),
        (("maxWorkers: 4", "maxWorkers: 99"), 12, "spec.sites[0].scaling.maxWorkers", "99 is greater than the maximum"),
        (('"G-123"', "yes"), 13, "spec.sites[0].env.ANALYTICS_ID", "must be a string, not true (YAML reads yes"),
        (("name: acme", "name: Acme_Ltd"), 4, "metadata.name", "bad value 'Acme_Ltd': use 3 to 40 characters"),
        (("- name: blog", "- name: -blog"), 10, "spec.sites[0].name", "bad value '-blog'"),
        (("ANALYTICS_ID", "analytics"), 13, "spec.sites[0].env.analytics", "bad env var name 'analytics'"),
        (("fromSecret: stripe-live", "fromSecret: Stripe Live"), 14, "spec.sites[0].secretEnv.STRIPE_KEY.fromSecret",
         "bad value: a secret's name"),
        (("{fromSecret: stripe-live}", "sk_live_abc"), 14, "spec.sites[0].secretEnv.STRIPE_KEY",
         "must be {fromSecret: NAME}, a reference to a tenant secret: a value never goes in a definition"),
        (("monthly: 200", "monthly: .nan"), 8, "spec.budget.monthly", "must be a number of money"),
        (("monthly: 200", "monthly: 0.001"), 8, "spec.budget.monthly", "at most two decimals"),
        (("[blog.acme.example]", "[blog.acme.example, Blog.Acme.Example]"), 15, "spec.sites[0].domains[1]",
         "blog.acme.example is also given to this site"),
        (("fromSecret: stripe-live", "value: sk_live"), 14, "spec.sites[0].secretEnv.STRIPE_KEY.value",
         "unknown field “value”"),
        (("aipress.io/v1alpha1", "aipress.io/v2"), 1, "apiVersion", "unsupported apiVersion 'aipress.io/v2': use "),
        (("kind: Tenant", "kind: Site"), 2, "kind", "unsupported kind 'Site'"),
        (("  owners: [ops@acme.example]\n", ""), 6, "spec.owners", "missing: this field is required"),
        (("[ops@acme.example]", "[]"), 7, "spec.owners", "should be non-empty"),
        (("[ops@acme.example]", "[not-an-email]"), 7, "spec.owners[0]", "“not-an-email” is not a valid email"),
        (("currency: USD", "currency: usd"), 8, "spec.budget.currency", "a three-letter currency code"),
        (("monthly: 200", "monthly: -5"), 8, "spec.budget.monthly", "less than or equal to the minimum"),
        (("monthly: 200, ", "monthly: 200, action: suspend, "), 8, "spec.budget.action", "unknown field “action”"),
        (("ANALYTICS_ID", "LD_PRELOAD"), 13, "spec.sites[0].env.LD_PRELOAD", "changes how programs are loaded"),
        (("ANALYTICS_ID", "DB_PASSWORD"), 13, "spec.sites[0].env.DB_PASSWORD", "is set by the platform"),
        (("STRIPE_KEY", "ANALYTICS_ID"), 14, "spec.sites[0].secretEnv.ANALYTICS_ID", "set in env too"),
        (("[blog.acme.example]", "[blog.acme.example, 10.0.0.1]"), 15, "spec.sites[0].domains[1]", "not an IP address"),
        (("[blog.acme.example]", "[blog.acme.example, blog.acme.example]"), 15, "spec.sites[0].domains",
         "lists the same value twice"),
        (("name: acme", "name: ac--me"), 4, "metadata.name", "double hyphens are reserved"),
        (('title: "Acme blog"', 'title: "Acme\\nblog"'), 11, "spec.sites[0].title", "one line of text"),
    ],
)  # fmt: skip
def test_each_kind_of_invalid_definition_names_its_line_and_field(change, line, field, message):
    old, new = change
    assert old in GOOD
    found = problems(GOOD.replace(old, new, 1))
    assert any((got_line, got_field) == (line, field) and message in text for got_line, got_field, text in found), found


def test_a_site_defined_twice_and_a_domain_given_to_two_sites():
    text = GOOD + "    - name: blog\n    - name: shop\n      domains: [blog.acme.example]\n"
    found = problems(text)
    assert (16, "spec.sites[1].name") in [(line, field) for line, field, _ in found]
    assert any(field == "spec.sites[2].domains[0]" and "also given to “blog”" in text for _, field, text in found)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", None, "the definition is empty"),
        ("- just\n- a list\n", 1, "a definition is a mapping"),
        ("apiVersion: [unclosed\n", 2, "not valid YAML or JSON"),
        ("a: &anchor [1, 2]\nb: *anchor\n", 2, "anchors and aliases are not supported"),
        ("kind: Tenant\nkind: Tenant\n", 2, "given twice"),
        ("---\na: 1\n---\nb: 2\n", 3, "a file holds one definition"),
    ],
)
def test_documents_that_are_not_one_definition(text, line, message):
    found = problems(text)
    assert found[0][0] == line and message in found[0][2], found


def test_every_problem_is_reported_at_once_in_line_order():
    text = GOOD.replace("maxWorkers: 4", "maxWorkers: 0").replace("kind: Tenant", "kind: Tenant\nextra: 1")
    found = [(line, field) for line, field, _ in problems(text)]
    assert found == [(3, "extra"), (13, "spec.sites[0].scaling.maxWorkers")]


def test_the_published_schema_is_a_valid_json_schema():
    Draft202012Validator.check_schema(tenant_schema())


def test_control_characters_and_lone_surrogates_never_reach_a_message_or_the_database():
    text = GOOD.replace('title: "Acme blog"', 'title: "Acme \\ud800 blog"')
    text = text.replace("kind: Tenant", 'kind: Tenant\n"\\x1b[2J": 1')
    found = problems(text)
    assert (3, "\\x1b[2J") in [(line, field) for line, field, _ in found]
    assert all("\x1b" not in message for _, _, message in found)
    title_only = GOOD.replace('title: "Acme blog"', 'title: "Acme \\ud800 blog"')
    assert problems(title_only) == [(11, "spec.sites[0].title", "not valid Unicode text")]


def test_hostile_documents_are_refused_quickly_and_clearly():
    deep = "spec: " + "[" * 5000 + "]" * 5000 + "\n"
    assert problems(deep)[0][2].startswith("nested more than 32 levels deep")
    indented = "".join(f"{' ' * level}k{level}:\n" for level in range(300))
    assert "nested more than" in problems(indented)[0][2]
    assert "larger than 256000 bytes" in problems("a: " + "x" * 300_000)[0][2]
    mixed = GOOD.replace("kind: Tenant", "kind: Tenant\n1: one\nfoo: two")
    assert {field for _, field, _ in problems(mixed)} >= {"1", "foo"}


def test_blank_titles_and_names_fall_back_to_their_defaults():
    spec = parse_definition(GOOD.replace('"Acme blog"', '"  "').replace('"Acme Ltd"', '" "'), source="x")
    assert spec.display_name == "acme"
    assert spec.site("blog").title == "blog"
