"""Committing an ingest run: its partition files become part of the lake together, when its manifest is written.

Before writing anything a run leaves the marker ``LAKE/_pending/<run id>``; readers (`recsys.lake`, DuckDB in
`feature_store.sql`) skip the files of marked runs without a manifest. On success the manifest is written, then
the marker removed. A run that fails removes its files; one that was killed is dealt with by the next run, under
the lake lock: without a manifest its files are removed, with one only the marker is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recsys.commits import PENDING_DIR, manifest_path, part_name
from recsys.events import EVENTS_DIR, PARTITION_KEY

log = logging.getLogger(__name__)


@contextmanager
def pending_run(lake: Path, run_id: str) -> Iterator[None]:
    """Files this run writes inside the block stay invisible until its manifest exists (written inside it too)."""
    marker = lake / PENDING_DIR / run_id
    marker.parent.mkdir(parents=True, exist_ok=True)
    with open(marker, "w") as f:
        f.write(f"{os.getpid()}\n")
        f.flush()
        os.fsync(f.fileno())
    try:
        yield
    except BaseException:
        _remove_files(lake, run_id)  # should this fail, the marker stays and the next run finishes the job
        marker.unlink(missing_ok=True)
        raise
    marker.unlink(missing_ok=True)


def recover_pending(lake: Path) -> int:
    """Settle runs that were killed (call under the lake lock): roll back those without a manifest, keep the rest.

    Returns how many runs were rolled back."""
    folder = lake / PENDING_DIR
    if not folder.is_dir():
        return 0
    rolled_back = 0
    for marker in sorted(folder.iterdir()):
        if not manifest_path(lake, marker.name).exists():
            removed = _remove_files(lake, marker.name)
            rolled_back += 1
            log.warning("ingest run %s was interrupted before its manifest: removed its %d file(s)", marker.name,
                        removed)
        marker.unlink(missing_ok=True)
    return rolled_back


def _files(lake: Path, run_id: str) -> list[Path]:
    return list((lake / EVENTS_DIR).glob(f"{PARTITION_KEY}=*/{part_name(run_id)}"))


def _remove_files(lake: Path, run_id: str) -> int:
    files = _files(lake, run_id)
    for path in files:
        path.unlink(missing_ok=True)
    return len(files)
