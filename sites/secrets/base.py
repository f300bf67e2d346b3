"""The protocol of secret stores. Nothing outside a store reads what it keeps: the rest of the
platform holds opaque references and asks the store to reveal a value when a site needs it."""

from typing import Protocol

from sites.spec import StepDriver


class SecretStore(StepDriver, Protocol):
    """Keeps secret values (database passwords, WordPress salts, sensitive env vars) and owns the
    pipeline's `secrets` step: making a site's secrets available to where it runs."""

    def store(self, *, owner: str, name: str, value: str) -> str:
        """Keep `value` for `owner` (a site's key) under `name`; returns the reference to keep."""
        ...

    def reveal(self, reference: str) -> str:
        """The value behind a reference."""
        ...

    def forget(self, reference: str) -> None:
        """Remove the value behind a reference (quiet when it is already gone)."""
        ...
