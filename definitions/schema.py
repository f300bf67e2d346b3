"""The JSON Schema of a tenant definition: the contract integrators write against, published at
`/api/v1/schemas/tenant.json` and used to check every definition before anything is planned.

Patterns and limits come from the services that enforce them, so the schema can never accept what
a service would refuse (or the other way round)."""

from typing import Any

from sites.models import (
    MAX_PHP_WORKERS_LIMIT,
    SECRET_NAME_MAX_LENGTH,
    SECRET_NAME_PATTERN,
    SITE_NAME_PATTERN,
    SITE_TITLE_MAX_LENGTH,
)
from sites.rules import MAX_NAME_LENGTH as ENV_NAME_MAX_LENGTH
from sites.rules import MAX_VALUE_LENGTH as ENV_VALUE_MAX_LENGTH
from sites.rules import NAME_PATTERN as ENV_NAME_PATTERN
from tenants.services import SLUG_PATTERN

API_VERSION = "aipress.io/v1alpha1"
KIND = "Tenant"
SCHEMA_ID = "https://aipress.io/schemas/tenant.json"
BUDGET_ACTIONS = ("notify", "cap", "suspend")
MAX_SITES_PER_DEFINITION = 200
MAX_OWNERS = 20


def _budget(*, site: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "monthly": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 10_000_000,
            "description": "The monthly amount; owners and billing members are told at 80% and 100%.",
        },
        "currency": {
            "type": "string",
            "pattern": "^[A-Z]{3}$",
            "description": "ISO 4217 code. Left out: the platform's billing currency.",
        },
    }
    if site:
        properties["action"] = {
            "enum": list(BUDGET_ACTIONS),
            "description": "What happens at 100%: notify (the default), cap its PHP workers, or suspend the site.",
        }
    return {"type": "object", "additionalProperties": False, "required": ["monthly"], "properties": properties}


def tenant_schema() -> dict[str, Any]:
    env_name = {"type": "string", "pattern": ENV_NAME_PATTERN.pattern, "maxLength": ENV_NAME_MAX_LENGTH}
    site = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": SITE_NAME_PATTERN, "description": "Part of the site's hostname."},
            "title": {
                "type": "string",
                "minLength": 1,
                "maxLength": SITE_TITLE_MAX_LENGTH,
                "description": "Left out: the site's name.",
            },
            "scaling": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "maxWorkers": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_PHP_WORKERS_LIMIT,
                        "description": "PHP workers at most. Left out: 4.",
                    }
                },
            },
            "env": {
                "type": "object",
                "propertyNames": env_name,
                "additionalProperties": {"type": "string", "maxLength": ENV_VALUE_MAX_LENGTH},
                "description": "Plain values only; the site's env vars are exactly these and secretEnv.",
            },
            "secretEnv": {
                "type": "object",
                "propertyNames": env_name,
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["fromSecret"],
                    "properties": {
                        "fromSecret": {
                            "type": "string",
                            "pattern": SECRET_NAME_PATTERN,
                            "maxLength": SECRET_NAME_MAX_LENGTH,
                        }
                    },
                },
                "description": "References to tenant secrets (PUT /api/v1/secrets/{name}/), never values.",
            },
            "domains": {
                "type": "array",
                "uniqueItems": True,
                "items": {"type": "string", "minLength": 4, "maxLength": 253},
                "description": "Custom domains; each is verified by DNS before it serves the site.",
            },
            "budget": _budget(site=True),
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "AIPress tenant definition",
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": KIND},
            "metadata": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": SLUG_PATTERN.pattern, "description": "The tenant's slug."},
                    "displayName": {"type": "string", "minLength": 1, "maxLength": 120},
                },
            },
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["owners"],
                "properties": {
                    "owners": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_OWNERS,
                        "uniqueItems": True,
                        "items": {"type": "string", "format": "email", "maxLength": 254},
                        "description": "Exactly the tenant's owners; an owner not listed becomes an admin.",
                    },
                    "budget": _budget(site=False),
                    "sites": {"type": "array", "maxItems": MAX_SITES_PER_DEFINITION, "items": site},
                },
            },
            # What GET returns about the tenant as it is now: read-only, ignored when applied.
            "status": {"type": "object", "readOnly": True},
        },
    }
