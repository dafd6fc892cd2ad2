"""Which event files of the lake are committed: an ingest run's files become part of the lake together, when its
manifest is written.

A run first leaves a marker ``LAKE/_pending/<run id>``; readers skip the files of marked runs that have no manifest,
so a run that is still writing, or was killed, is never half visible; the next ingest removes a killed run's files
(`recsys.ingest.commit`). Only paths here: cheap to import for every reader.
"""

from __future__ import annotations

from pathlib import Path

from recsys.events import EVENTS_DIR, MANIFESTS_DIR, PARTITION_KEY

PENDING_DIR = "_pending"


def part_name(run_id: str) -> str:
    """The name of an ingest run's file in each partition it writes."""
    return f"part-{run_id}.parquet"


def manifest_path(lake: str | Path, run_id: str) -> Path:
    """Where an ingest run's manifest goes; writing it is what makes the run's files part of the lake."""
    return Path(lake) / MANIFESTS_DIR / f"ingest-{run_id}.json"


def pending_runs(lake: str | Path) -> set[str]:
    """Ingest runs that started but have no manifest (still running, or killed): their files are not read."""
    folder = Path(lake) / PENDING_DIR
    if not folder.is_dir():
        return set()
    return {p.name for p in folder.iterdir() if not p.name.startswith(".") and not manifest_path(lake, p.name).exists()}


def committed_files(lake: str | Path) -> list[Path] | None:
    """The event files readers may read, or None when that is every file (no run is pending, the common case)."""
    pending = pending_runs(lake)
    if not pending:
        return None
    hidden = {part_name(r) for r in pending}
    root = Path(lake) / EVENTS_DIR
    return sorted(p for p in root.glob(f"{PARTITION_KEY}=*/*.parquet")
                  if not p.name.startswith((".", "_")) and p.name not in hidden)
