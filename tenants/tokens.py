"""Secrets we hand out once (API keys, invitation tokens) and keep only as SHA-256 digests.

These are long random tokens, not passwords: a fast hash is enough because guessing is hopeless,
and it lets us find a key by its digest on every request.
"""

import hashlib
import hmac
import secrets
import string

API_KEY_PREFIX = "aip"
_ALPHABET = string.ascii_letters + string.digits


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_key() -> tuple[str, str]:
    """Returns (full key, visible prefix). Format: aip_<8 visible>_<40 secret>."""
    visible = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(40))
    prefix = f"{API_KEY_PREFIX}_{visible}"
    return f"{prefix}_{secret}", prefix


def split_api_key(raw: str) -> str | None:
    """Returns the visible prefix of a well-formed key, or None."""
    parts = raw.split("_")
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 8 or len(parts[2]) != 40:
        return None
    return f"{parts[0]}_{parts[1]}"


def matches(token: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(token), stored_digest)


def new_invitation_token() -> str:
    return secrets.token_urlsafe(32)
