"""API keys resolved from Redis: the SHA-256 of a presented key → the key, its tenant, its creator and
the creator's role, for `CACHE_SECONDS`. Every API request resolves its key; the database lookup it
replaces was the largest part of a request (issue 14).

Invalidation is at once, not at expiry. Whatever can change what a key may do drops the entries it
affects: the key itself saved or deleted (revocation), its creator's membership saved or deleted (a
role change, a removal), its creator saved (deactivated, staff changed), its tenant saved or renamed
(suspended, deleted, limits). A dropped entry is replaced by a tombstone for `CACHE_SECONDS`, and
entries are only ever written with `add` (Redis SET NX): a request that read the database just before
a revocation committed cannot put the old key back. Tombstones are written when the change is made and
again when it commits, so a rolled-back test transaction still forgets, and a concurrent reader still
cannot refill the entry from the state before the commit.

What is cached holds no secret: the creator's password hash is deferred, and the key itself is only
ever known by its digest.
"""

import logging
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tenants.models import ApiKey, Membership, Tenant, User

logger = logging.getLogger(__name__)

CACHE_SECONDS = 30
TOMBSTONE = "revoked"
# Saving only these fields changes nothing a key may do (a sign-in, a password change).
_HARMLESS_USER_FIELDS = frozenset({"last_login", "password"})


def _name(digest: str) -> str:
    return f"apikey:{digest}"


def cached(digest: str) -> ApiKey | str | None:
    """The cached key for this digest, TOMBSTONE when it was just invalidated, or None."""
    try:
        entry = cache.get(_name(digest))
    except Exception:
        logger.warning("API key cache unreachable; resolving from the database", exc_info=True)
        return TOMBSTONE
    return entry if isinstance(entry, ApiKey | str) else None


def remember(digest: str, key: ApiKey) -> None:
    """Cache a key just read from the database, unless an invalidation is standing (SET NX)."""
    try:
        cache.add(_name(digest), key, CACHE_SECONDS)
    except Exception:
        logger.warning("API key cache unreachable; not cached", exc_info=True)


def forget(digests: Iterable[str]) -> None:
    """Drop these keys' entries now and again on commit, leaving tombstones (see the module's doc)."""
    names = [_name(digest) for digest in digests if digest]
    if not names:
        return

    def tombstones() -> None:
        try:
            cache.set_many(dict.fromkeys(names, TOMBSTONE), CACHE_SECONDS)
        except Exception:
            # The change itself must not fail for the cache: a key Redis still holds expires within
            # CACHE_SECONDS, and while Redis is unreachable no request reads it from there anyway.
            logger.exception("could not drop cached API keys; they expire within %s s", CACHE_SECONDS)

    tombstones()
    transaction.on_commit(tombstones, robust=True)


def forget_keys(condition: Q) -> None:
    """Forget every key matching `condition` (revoked ones too: cheap, and never wrong)."""
    forget(ApiKey.objects.filter(condition).values_list("key_hash", flat=True))


@receiver([post_save, post_delete], sender=ApiKey)
def _key_changed(*, instance: ApiKey, created: bool = False, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if created or (update_fields is not None and set(update_fields) <= {"last_used_at"}):
        return  # a new key was never cached
    forget([instance.key_hash])


@receiver([post_save, post_delete], sender=Membership)
def _membership_changed(*, instance: Membership, **kwargs: Any) -> None:
    forget_keys(Q(created_by_id=instance.user_id, tenant_id=instance.tenant_id))


@receiver([post_save, post_delete], sender=User)
def _user_changed(*, instance: User, created: bool = False, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if created or (update_fields is not None and set(update_fields) <= _HARMLESS_USER_FIELDS):
        return
    forget_keys(Q(created_by_id=instance.pk))


@receiver([post_save, post_delete], sender=Tenant)
def _tenant_changed(*, instance: Tenant, created: bool = False, **kwargs: Any) -> None:
    if not created:
        forget_keys(Q(tenant_id=instance.pk))
