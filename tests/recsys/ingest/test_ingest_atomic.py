"""A writer killed in the middle of a partition file leaves nothing half-written visible; a re-run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq

from recsys.generate import generate_events
from recsys.ingest import ingest

NOW = datetime(2026, 3, 10, tzinfo=UTC)

# The child ingests normally, except that Parquet files are written a few rows at a time and the writer stalls
# (after real bytes hit the disk) so that the parent can SIGKILL it mid-file.
CHILD = textwrap.dedent("""
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    import pyarrow.parquet as pq
    from recsys.ingest import ingest

    marker = Path(sys.argv[3])

    def stalling_write_table(table, where, **kw):
        with pq.ParquetWriter(where, table.schema, **kw) as w:
            for i, batch in enumerate(table.to_batches(max_chunksize=20)):
                w.write_batch(batch)
                if i == 2:
                    marker.touch()
                    time.sleep(120)

    pq.write_table = stalling_write_table
    ingest(sorted(Path(sys.argv[1]).glob("*.jsonl")), Path(sys.argv[2]), now=datetime(2026, 3, 10, tzinfo=UTC))
""")


def _visible_rows(lake: Path) -> int:
    root = lake / "events"
    if not root.exists():
        return 0
    for f in ds.dataset(root, format="parquet", partitioning="hive").files:
        pq.read_table(f)  # every visible file is complete and readable
    return ds.dataset(root, format="parquet", partitioning="hive").count_rows()


def test_killed_writer_leaves_no_partial_partition(tmp_path: Path) -> None:
    src, lake, marker = tmp_path / "src", tmp_path / "lake", tmp_path / "stalled"
    report = generate_events(src, users=60, items=40, days=3, seed=9)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(src), str(lake), str(marker)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the child never started writing"
            time.sleep(0.05)
        temps = list(lake.glob("events/dt=*/.*.tmp"))
        assert temps and all(t.stat().st_size > 0 for t in temps)  # half-written bytes exist on disk ...
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert _visible_rows(lake) == 0  # ... but no reader sees them
    assert not list(lake.glob("events/dt=*/part-*.parquet"))

    rerun = ingest(sorted(src.glob("*.jsonl")), lake, now=NOW)
    assert (rerun.rows_written, rerun.duplicates) == (report.events, 0)
    assert _visible_rows(lake) == report.events
    assert not list(lake.rglob("*.tmp")) and not (lake / "_staging").exists()


def test_interrupted_run_after_some_partitions_completes_without_duplicates(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    report = generate_events(src, users=40, items=30, days=4, seed=3)
    files = sorted(src.glob("*.jsonl"))
    ingest(files[:2], lake, now=NOW)  # as if a crash happened after the first days were committed
    rerun = ingest(files, lake, now=NOW)
    assert rerun.rows_written + rerun.duplicates == report.events
    assert _visible_rows(lake) == report.events
