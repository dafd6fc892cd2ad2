"""Benchmark: the full analytics report (`recsys analytics --out --json`) on N generated events, memory-bounded.

    .venv/bin/python bench/analytics.py --events 10000000 [--memory-limit 1GB] [--threads 2] [--keep LAKE]

Writes the lake straight from numpy/pyarrow (fast, deterministic for a seed: long-tail items, users joining over
the month, a view/cart/favorite/purchase mix), then times the CLI in a child process and reads its peak RSS.
Results go to bench/results/<name>.json and .md with a description of the machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from machine import cpu_model  # bench/machine.py (scripts run from bench/)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys.events import EVENT_SCHEMA, EVENTS_DIR, PARTITION_KEY  # noqa: E402

log = logging.getLogger("bench.analytics")

TYPES = np.array(["view", "add_to_cart", "favorite", "purchase"])
TYPE_P = np.array([0.86, 0.07, 0.04, 0.03])


def _prefixed(prefix: str, values: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")


def write_lake(lake: Path, events: int, *, days: int = 30, seed: int = 0, start: date = date(2026, 1, 1)) -> dict:
    """``events`` events over ``days`` UTC days, one Parquet file per day, in the canonical schema."""
    rng = np.random.default_rng(seed)
    users, items, categories = max(100, events // 200), max(100, events // 100), 500
    per_day = np.full(days, events // days)
    per_day[: events - per_day.sum()] += 1
    written = 0
    for d in range(days):
        n = int(per_day[d])
        pool = max(1, int(users * (0.3 + 0.7 * (d + 1) / days)))  # new users keep arriving: cohorts
        user = rng.integers(0, pool, n)
        item = (rng.zipf(1.2, n) - 1) % items  # long tail
        etype = TYPES[rng.choice(len(TYPES), n, p=TYPE_P)]
        day0 = datetime.combine(start + timedelta(days=d), datetime.min.time(), tzinfo=UTC)
        micros = int(day0.timestamp() * 1e6) + np.sort(rng.integers(0, 86_400_000_000, n))
        cat = item % categories
        table = pa.table({
            "event_id": _prefixed(f"e{d}-", np.arange(n)),
            "user_id": _prefixed("u", user),
            "item_id": _prefixed("i", item),
            "event_type": pa.array(etype),
            "ts": pa.array(micros, type=pa.timestamp("us", tz="UTC")),
            "value": pa.array(np.where(etype == "purchase", rng.uniform(1, 200, n).round(2), np.nan),
                              from_pandas=True),
            "session_id": pa.nulls(n, pa.string()),
            "properties": pc.binary_join_element_wise('{"category": "c', pc.cast(pa.array(cat), pa.string()),
                                                      '"}', ""),
            "request_id": pa.nulls(n, pa.string()),
            "position": pa.nulls(n, pa.int32()),
        }).cast(EVENT_SCHEMA)
        out = lake / EVENTS_DIR / f"{PARTITION_KEY}={(start + timedelta(days=d)).isoformat()}"
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / "part-0.parquet")
        written += n
    return {"events": written, "users": users, "items": items, "categories": categories, "days": days,
            "start": start.isoformat(), "end_exclusive": (start + timedelta(days=days)).isoformat()}


def describe_machine() -> dict:
    cpu = cpu_model(platform.processor())
    mem = None
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024  # MemTotal, kB -> MiB
    except (OSError, ValueError, IndexError):
        pass
    import duckdb

    return {"cpu": cpu, "cpu_count": os.cpu_count(), "memory_mib": mem, "platform": platform.platform(),
            "python": platform.python_version(), "duckdb": duckdb.__version__,
            "load_average_at_start": os.getloadavg()}


def run_report(lake: Path, out_dir: Path, lake_info: dict, memory_limit: str, threads: int) -> dict:
    recsys = Path(sys.executable).with_name("recsys")
    cmd = [str(recsys), "-q", "analytics", "--lake", str(lake), "--from", lake_info["start"],
           "--to", lake_info["end_exclusive"], "--out", str(out_dir / "report.html"), "--json",
           "--memory-limit", memory_limit, "--threads", str(threads)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"recsys analytics failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(peak_kib / 1024, 1),
            "html_bytes": (out_dir / "report.html").stat().st_size, "step_seconds": report["timings_seconds"],
            "check": {"events": report["summary"]["events"], "funnel_users": report["funnel"]["users"],
                      "sessions": report["sessions"]["sessions"], "gini": round(report["long_tail"]["gini"], 4)}}


def write_results(result: dict, name: str) -> None:
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    r, m, lk = result["run"], result["machine"], result["lake"]
    steps = "\n".join(f"| {k} | {v:.2f} |" for k, v in r["step_seconds"].items())
    (out / f"{name}.md").write_text(
        f"""# Analytics report benchmark ({result['lake']['events']:,} events)

`{result['command']}`

| what | value |
|---|---|
| events / users / items / days | {lk['events']:,} / {lk['users']:,} / {lk['items']:,} / {lk['days']} |
| lake size on disk | {result['lake_mib']:.0f} MiB (Parquet) |
| lake generation | {result['generate_seconds']:.1f} s |
| full report, wall time (CLI, HTML + JSON) | **{r['seconds']:.1f} s** |
| peak RSS of the report process | **{r['peak_rss_mib']:.0f} MiB** |
| DuckDB memory limit / threads | {result['memory_limit']} / {result['threads']} |
| HTML report size | {r['html_bytes'] / 1024:.0f} KiB |

Per step (seconds, inside the report):

| step | seconds |
|---|---|
{steps}

Machine: {m['cpu']}, {m['cpu_count']} CPUs, {m['memory_mib']} MiB RAM, {m['platform']}, Python {m['python']},
DuckDB {m['duckdb']}; load average at start {tuple(round(x, 1) for x in m['load_average_at_start'])}
(the machine was shared with other jobs, so times are upper bounds). Run at {result['started']}.
"""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="analytics", help="Results file name under bench/results/.")
    parser.add_argument("--keep", type=Path, help="Write the lake here and keep it (default: a temp dir).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    work = Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    lake = args.keep or work / "lake"
    try:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        machine = describe_machine()
        t = time.perf_counter()
        info = write_lake(lake, args.events, days=args.days, seed=args.seed)
        gen = time.perf_counter() - t
        size = sum(p.stat().st_size for p in lake.rglob("*.parquet")) / 2**20
        log.info("lake: %s events in %.1f s (%.0f MiB); running the report", f"{info['events']:,}", gen, size)
        run = run_report(lake, work, info, args.memory_limit, args.threads)
        result = {"benchmark": "analytics", "started": started, "machine": machine, "lake": info,
                  "lake_mib": round(size, 1), "generate_seconds": round(gen, 2), "memory_limit": args.memory_limit,
                  "threads": args.threads, "run": run,
                  "command": f"bench/analytics.py --events {args.events} --memory-limit {args.memory_limit} "
                             f"--threads {args.threads}"}
        write_results(result, args.name)
        log.info("report in %.1f s, peak RSS %.0f MiB", run["seconds"], run["peak_rss_mib"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
