"""Erasure and identity in the online store, shared by every service worker.

An erased user's history and features are deleted, and a tombstone per erased id (keyed by its hash, see
`recsys.forget.subject_hash`) records when: the service checks tombstones on every request, so a model trained
before the erasure stops using the user's learned state in every worker at once. Identity links are stored as
the user feature ``identity`` of the alias, so a link made by one worker is seen by all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from feature_store.online.base import OnlineStore
from recsys.forget import ErasureReport, check_user_id, forget_user, mark_only
from recsys.identity import ids_of

TOMBSTONE_PREFIX = "erased:"
ERASED_AT = "erased_at"
IDENTITY = "identity"


def tombstone_key(subject: str) -> str:
    return TOMBSTONE_PREFIX + subject


def erase_online(store: OnlineStore, user_ids: Sequence[str], subjects: Sequence[str], erased_at: str) -> int:
    """Delete the users' live state and write their tombstones; returns how many entries were deleted."""
    removed = store.forget_users(list(user_ids))
    store.put_features("user", {tombstone_key(s): {ERASED_AT: erased_at} for s in subjects})
    return removed


def put_tombstones(store: OnlineStore, erasures: Mapping[str, str]) -> None:
    """Tombstones for erasures marked in the registry (a fresh or flushed store learns them at start-up)."""
    if erasures:
        store.put_features("user", {tombstone_key(s): {ERASED_AT: at} for s, at in erasures.items()})


def link_online(store: OnlineStore, alias: str, user_id: str) -> None:
    """Serve `alias` as `user_id` from now on, and give the user the alias's live history."""
    history = store.recent_items([alias], store.max_history).get(alias, [])
    store.put_features("user", {alias: {IDENTITY: user_id}})
    if history:  # appended in their order, just before now (the store keeps item ids, not their times)
        base = int(datetime.now(UTC).timestamp() * 1_000_000) - len(history)
        store.append_events([{"user_id": user_id, "item_id": item, "ts": base + k} for k, item in enumerate(history)])


def forget_everywhere(user_id: str, lake: Path | None, registry: Path | None, store: OnlineStore | None,
                      landing: Path | None = None) -> ErasureReport:
    """The whole erasure: lake, landing, identity map and registry (`recsys.forget`), then the online store.
    Without a lake (a service that serves only) the registry and the online store are still erased."""
    user_id = check_user_id(user_id)
    if lake is not None and lake.is_dir():
        ids = ids_of(lake, user_id)
        report = forget_user(user_id, lake, registry, landing=landing)
    else:
        ids = {user_id}
        report = mark_only(user_id, registry)
    if store is not None:
        erase_online(store, sorted(ids), report.subjects, report.erased_at)
    return report
