"""Live inputs of served two-stage rankers: each model that can read live events (``bind_online``) gets the online
store's recent events with their times, which ``POST /events`` keeps current."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from feature_store.online import OnlineStore
from serving.holder import LoadedModel

log = logging.getLogger(__name__)


def bind_live_events(models: Mapping[str, LoadedModel], store: OnlineStore, limit: int) -> None:
    """Point every served model that has ``bind_online`` at `store`'s recent events (at most `limit` per user)."""

    def read(users: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
        return store.recent_events(users, limit)

    for lm in models.values():
        bind = getattr(lm.model, "bind_online", None)
        if bind is not None:
            bind(read)
            log.info("%s v%d reads live events from %r", lm.name, lm.version, store)
