"""The local secret store: values encrypted at rest in the tenant's own schema.

Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`, with every key in SITES_SECRET_KEYS able
to decrypt and the first one encrypting: rotating means putting a new key first, running
`rotate` over the stored references, then dropping the old key. A reference is the ciphertext
itself, which only this store reads.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sites.spec import Done, SiteSpec, StepError, StepResult


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("SITES_SECRET_KEYS is empty: `make run` writes one to var/env.")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.SITES_SECRET_KEYS))


class LocalSecretStore:
    name = "local"

    def store(self, *, owner: str, name: str, value: str) -> str:
        return _current().encrypt(value.encode()).decode()

    def reveal(self, reference: str) -> str:
        try:
            return _current().decrypt(reference.encode()).decode()
        except InvalidToken as exc:
            raise ImproperlyConfigured("A site secret cannot be decrypted with any key in SITES_SECRET_KEYS.") from exc

    def forget(self, reference: str) -> None:
        return None  # the reference is the only copy: the row that holds it goes with the site

    def rotate(self, reference: str) -> str:
        """Re-encrypt with the first key (after a new key was put first)."""
        return _current().rotate(reference.encode()).decode()

    # The `secrets` step: the local runtime reads revealed values from the spec, so there is
    # nothing to hand over; the step proves every secret of the site can still be read.
    def ensure(self, step: str, spec: SiteSpec, handle: str | None) -> StepResult:
        missing = [name for name in ("DB_PASSWORD",) if not spec.secrets.get(name)]
        if missing:
            raise StepError(f"The site's secrets {', '.join(missing)} are missing.")
        return Done(f"{len(spec.secrets)} secrets kept encrypted at rest")

    def remove(self, step: str, spec: SiteSpec, handle: str | None) -> None:
        return None

    def status(self, step: str, spec: SiteSpec) -> bool:
        return bool(spec.secrets.get("DB_PASSWORD"))

    def check(self) -> str:
        keys = len(settings.SITES_SECRET_KEYS)
        if self.reveal(self.store(owner="check", name="check", value="ok")) != "ok":
            raise ImproperlyConfigured("The secret keys do not decrypt what they encrypt.")
        return f"encrypted at rest, {keys} key{'s' if keys != 1 else ''}"
