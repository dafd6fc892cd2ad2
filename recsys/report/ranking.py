"""The report's two-stage ranking section: for each ranker of a run, its feature importances and how much each
retriever contributes (recall of its candidates, share of the final top-10 hits), read from ``ranker.json``."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from recsys.errors import RecsysError
from recsys.registry import Registry

log = logging.getLogger(__name__)

RANKER_META = "ranker.json"
TOP_FEATURES = 15


def ranking_section(reg: Registry, versions: Mapping[str, int | None]) -> list[dict[str, Any]]:
    """One entry per model of the run (name -> registered version) whose artifact has a ``ranker.json``:
    ``{name, importances, stats}``."""
    out = []
    for name, version in versions.items():
        if version is None:
            continue
        try:
            path = reg.version(name, int(version)).artifact / RANKER_META
        except (RecsysError, ValueError):
            continue
        if not path.is_file():
            continue
        try:
            meta = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            log.warning("cannot read %s: %s", path, err)
            continue
        stats = meta.get("stats", {})
        recall = next((v for k, v in stats.items() if k.startswith("recall@") and isinstance(v, dict)), {})
        shares: dict[str, float] = next((v for k, v in stats.items() if k.startswith("hit_share@")), {})
        out.append({"name": name, "retrievers": meta.get("retrievers", []),
                    "importances": list(meta.get("importances", {}).items())[:TOP_FEATURES],
                    "candidate_recall": recall, "hit_share": shares,
                    "recall_key": next((k for k, v in stats.items() if k.startswith("recall@") and
                                        isinstance(v, dict)), "recall"),
                    "users": stats.get("users"), "final_recall": stats.get("recall@10")})
    return out
