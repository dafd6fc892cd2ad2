"""Push the latest offline feature values into the online store, under the same names, in batches."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from feature_store.definitions import ENTITY_KEYS
from feature_store.offline import as_utc, compute_features
from feature_store.online import OnlineStore
from feature_store.sql import DuckSettings

log = logging.getLogger(__name__)


@dataclass
class MaterializeReport:
    """What one run wrote: rows (entities) and batches per entity type."""

    as_of: str
    rows: dict[str, int] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    features: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _plain(value: Any) -> Any:
    """numpy scalars and NaN as JSON values the online store can hold."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def _batches(frame: pd.DataFrame, size: int) -> Iterator[dict[str, dict[str, Any]]]:
    names = list(frame.columns)
    for start in range(0, len(frame), size):
        chunk = frame.iloc[start:start + size]
        yield {str(key): {n: _plain(v) for n, v in zip(names, row, strict=True)}
               for key, row in zip(chunk.index, chunk.itertuples(index=False, name=None), strict=True)}


def materialize(
    lake: str | Path,
    store: OnlineStore,
    as_of: datetime,
    *,
    entities: Sequence[str] = ("user", "item"),
    names: Mapping[str, Sequence[str]] | None = None,
    batch_size: int = 1000,
    settings: DuckSettings | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> MaterializeReport:
    """Compute every entity's features as of ``as_of`` (events strictly before it) and upsert them online.

    Re-running for the same ``as_of`` writes the same values, so a retried task is harmless.
    ``progress(entity, rows_done, rows_total)`` is called after each batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    as_of = as_utc(as_of)
    report = MaterializeReport(as_of=as_of.isoformat())
    started = time.perf_counter()
    for entity in entities:
        if entity not in ENTITY_KEYS:
            raise ValueError(f"unknown entity {entity!r}: expected one of {', '.join(ENTITY_KEYS)}")
        frame = compute_features(lake, entity, as_of, (names or {}).get(entity), settings)
        done = batches = 0
        for batch in _batches(frame, batch_size):
            store.put_features(entity, batch)
            done += len(batch)
            batches += 1
            if progress:
                progress(entity, done, len(frame))
        report.rows[entity], report.batches[entity] = done, batches
        report.features[entity] = list(frame.columns)
        log.info("materialized %d %ss in %d batches as of %s", done, entity, batches, as_of)
    report.seconds = round(time.perf_counter() - started, 3)
    return report
