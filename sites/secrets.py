"""Encryption at rest for site secrets (the local driver; Secret Manager replaces it in the cloud).

Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`, with every key in SITES_SECRET_KEYS able
to decrypt and the first one encrypting: rotating means putting a new key first, running
`rotate_ciphertext` over the stored values, then dropping the old key.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("SITES_SECRET_KEYS is empty: `make run` writes one to var/env.")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.SITES_SECRET_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _current().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("A site secret cannot be decrypted with any key in SITES_SECRET_KEYS.") from exc


def rotate_ciphertext(ciphertext: str) -> str:
    """Re-encrypt with the first key (after a new key was put first)."""
    return _current().rotate(ciphertext.encode()).decode()
