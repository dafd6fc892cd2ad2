"""Erasure and identity in the online store.

An erased user's history and features are deleted (the registry's erasure markers, `recsys.forget`, are what
makes models trained before the erasure stop using the user's learned state). Identity links made by the service
are stored as the user feature ``identity`` of the alias, for a service that has no lake to keep them in, and
the alias's live history is copied to the user.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from feature_store.online.base import OnlineStore
from recsys.forget import ErasureReport, check_user_id, forget_user, mark_only
from recsys.identity import ids_of

IDENTITY = "identity"


def erase_online(store: OnlineStore, user_ids: Sequence[str]) -> int:
    """Delete the users' live histories and features; returns how many entries were deleted."""
    return store.forget_users(list(user_ids))


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
        erase_online(store, sorted(ids))
    return report
