"""Point-in-time correct training frames: each row gets its features as they were at the row's own time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from feature_store.definitions import ENTITY_KEYS
from feature_store.offline import point_in_time_features
from feature_store.sql import DuckSettings
from recsys.errors import InputError


def training_frame(
    lake: str | Path,
    entity_rows: pd.DataFrame,
    *,
    entity: str = "user",
    features: Sequence[str] | None = None,
    timestamp_column: str = "ts",
    settings: DuckSettings | None = None,
) -> pd.DataFrame:
    """``entity_rows`` (a key column, ``user_id`` or ``item_id``, and ``timestamp_column``) with feature columns.

    A row at time ``t`` sees only events with ``ts < t``: the label event itself and anything later never leak
    into its features. Rows keep their order and their other columns (labels, for instance).
    """
    key = ENTITY_KEYS.get(entity)
    if key is None:
        raise InputError(f"unknown entity {entity!r}: expected one of {', '.join(ENTITY_KEYS)}")
    missing = [c for c in (key, timestamp_column) if c not in entity_rows.columns]
    if missing:
        raise InputError(f"entity rows lack column(s) {', '.join(missing)} (have {', '.join(entity_rows.columns)})")
    values = point_in_time_features(lake, entity, entity_rows[key].astype(str).tolist(),
                                    entity_rows[timestamp_column], features, settings)
    clash = [c for c in values.columns if c in entity_rows.columns]
    if clash:
        raise InputError(f"entity rows already have column(s) named like features: {', '.join(clash)}")
    values.index = entity_rows.index
    return pd.concat([entity_rows, values], axis=1)
