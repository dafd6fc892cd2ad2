"""An ingest run killed after some partitions were written: no reader sees any of its files (they have no
manifest), and the next run removes them and completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feature_store.sql import lake_connection
from recsys.commits import PENDING_DIR
from recsys.errors import InputError
from recsys.generate import generate_events
from recsys.ingest import ingest
from recsys.lake import read_events

NOW = datetime(2026, 3, 10, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]

# The child ingests normally, except that only the first partition file is written: every later one stalls, so
# that the parent can SIGKILL the run with one whole partition on disk and no manifest.
CHILD = textwrap.dedent("""
    import sys, threading, time
    from datetime import UTC, datetime
    from pathlib import Path
    import pyarrow.parquet as pq
    from recsys.ingest import ingest

    real, lock, calls = pq.write_table, threading.Lock(), []

    def first_only(table, where, **kw):
        with lock:
            calls.append(where)
            first = len(calls) == 1
        if not first:
            time.sleep(120)
        real(table, where, **kw)

    pq.write_table = first_only
    ingest(sorted(Path(sys.argv[1]).glob("*.jsonl")), Path(sys.argv[2]), now=datetime(2026, 3, 10, tzinfo=UTC))
""")


def _killed_run(src: Path, lake: Path) -> Path:
    before = set(lake.glob("events/dt=*/part-*.parquet"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(src), str(lake)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (written := sorted(set(lake.glob("events/dt=*/part-*.parquet")) - before)):
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "the child never wrote a partition"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert len(written) == 1
    return written[0]


def _duck_rows(lake: Path) -> int:
    con = lake_connection(lake)
    try:
        return int(con.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        con.close()


def test_files_of_a_killed_run_are_invisible_and_the_next_run_settles_them(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    made = generate_events(src, users=60, items=40, days=4, seed=4)
    files = sorted(src.glob("*.jsonl"))
    first = ingest(files[:1], lake, now=NOW)  # a committed run already in the lake
    (src / "later").mkdir()
    for f in files[1:]:
        f.rename(src / "later" / f.name)

    orphan = _killed_run(src / "later", lake)
    assert orphan.stat().st_size > 0 and len(list((lake / PENDING_DIR).iterdir())) == 1
    assert len(list(lake.glob("_manifests/ingest-*.json"))) == 1  # only the first run's
    # every reader sees the committed run only
    assert read_events(lake).num_rows == first.rows_written == _duck_rows(lake)

    rerun = ingest(sorted((src / "later").glob("*.jsonl")), lake, now=NOW)
    assert not orphan.exists() and list((lake / PENDING_DIR).iterdir()) == []
    assert rerun.duplicates == 0 and first.rows_written + rerun.rows_written == made.events
    assert read_events(lake).num_rows == made.events == _duck_rows(lake)


def test_a_lake_holding_only_a_killed_run_has_no_events(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    generate_events(src, users=30, items=20, days=3, seed=8)
    _killed_run(src, lake)
    assert read_events(lake).num_rows == 0
    with pytest.raises(InputError, match="holds no event files"):
        lake_connection(lake)
