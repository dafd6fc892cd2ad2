"""Scale bench: N generated events through the whole offline pipeline, each stage its own `recsys` process with
its wall time and peak RSS: raw CSV -> `recsys ingest` -> `recsys features materialize` (SQLite online store)
-> `recsys analytics` (DuckDB, memory-bounded) -> `recsys train --models als` (temporal split, full-ranking
evaluation).

Events: users arriving over the month, long-tail (Zipf) items, a view/cart/favourite/purchase mix, categories
(bench/analytics.py's generator, written as one CSV like an export from an event store).

    .venv/bin/python bench/scale.py [--events 5000000] [--days 30] [--memory-limit 1GB]
Writes bench/results/scale.json and .md (`--out NAME`: NAME.json and .md; with the 1B-event plan, PLAN below)
and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from analytics import write_lake  # bench/analytics.py (scripts run from bench/)
from machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
RECSYS = Path(sys.executable).with_name("recsys")


def raw_csv(tmp: Path, events: int, days: int) -> tuple[Path, dict[str, Any]]:
    """The generated events as one CSV (the generator writes Parquet days; they are concatenated to CSV)."""
    staging = tmp / "staging"
    info = write_lake(staging, events, days=days)
    out = tmp / "events.csv"
    writer = None
    for part in sorted(staging.rglob("*.parquet")):
        table = pq.read_table(part)
        table = table.set_column(table.schema.get_field_index("ts"), "ts",
                                 pa.compute.cast(table["ts"], pa.string()))
        if writer is None:
            writer = pacsv.CSVWriter(out, table.schema)
        writer.write_table(table)
        part.unlink()
    if writer is not None:
        writer.close()
    return out, info


def stage(name: str, cmd: list[str], results: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Run one stage in a child process; wall time and the child's own peak RSS (wait4's rusage)."""
    out_file, err_file = tmp / f"{name}.out", tmp / f"{name}.err"
    start = time.perf_counter()
    with out_file.open("w") as out, err_file.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, rusage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name} failed: {err_file.read_text()[-2000:]}")
    result: dict[str, Any] = {"seconds": round(seconds, 1), "peak_rss_mib": round(rusage.ru_maxrss / 1024, 1),
                              "command": " ".join(cmd[1:])}
    lines = out_file.read_text().strip().splitlines()
    if lines and lines[-1].startswith("{"):
        result["summary"] = json.loads(lines[-1])
    results[name] = result
    print(f"{name}: {seconds:.1f} s, {result['peak_rss_mib']} MiB", flush=True)
    return result


def run(events: int, days: int, memory_limit: str, tmp: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    start = time.perf_counter()
    csv, info = raw_csv(tmp, events, days)
    results["generate (CSV, in the bench process)"] = {"seconds": round(time.perf_counter() - start, 1),
                                                       "csv_mib": round(csv.stat().st_size / 2**20, 1)}
    lake, reg = tmp / "lake", tmp / "registry"
    stage("ingest", [str(RECSYS), "ingest", str(csv), "--lake", str(lake), "--format", "csv", "--json"], results, tmp)
    stage("features", [str(RECSYS), "features", "materialize", "--lake", str(lake), "--as-of",
                       info["end_exclusive"] + "T00:00:00Z", "--path", str(tmp / "online.sqlite"), "--json"],
          results, tmp)
    stage("analytics", [str(RECSYS), "-q", "analytics", "--lake", str(lake), "--from", info["start"], "--to",
                        info["end_exclusive"], "--out", str(tmp / "report.html"), "--json", "--memory-limit",
                        memory_limit, "--threads", "2"], results, tmp)
    stage("train als", [str(RECSYS), "train", "--lake", str(lake), "--registry", str(reg), "--models", "als",
                        "--split", "temporal", "--param", "als.factors=64", "--param", "als.iterations=10",
                        "--device", "cpu", "--json"], results, tmp)
    for name in ("ingest", "features", "analytics", "train als"):  # headline numbers only, not whole reports
        summary = results[name].pop("summary", {}) or {}
        if name == "train als":
            results[name]["ndcg@10"] = summary.get("models", {}).get("als", {}).get("ndcg@10")
    results["lake_mib"] = round(sum(f.stat().st_size for f in lake.rglob("*.parquet")) / 2**20, 1)
    return {"data": info, "stages": results}


PLAN = """## On paper: 1B events

What runs where (the same code; the DAGs already route by queue and pool):

- **Lake on object storage.** Ingestion writes day partitions (`events/dt=YYYY-MM-DD/`) that are independent:
  one Celery worker per landing day, writing Parquet to S3/GCS through pyarrow's filesystem layer; the manifest
  and quarantine are per day, so days ingest in parallel and re-run idempotently. 1B events ~ 18 GiB of Parquet
  at this bench's bytes per event.
- **Features and analytics on DuckDB over the object-store lake**, memory-bounded (`--memory-limit`, spilling to
  local disk), one Celery worker with 8+ cores and 32 GiB per report; the daily report reads a 28-day window, not
  the whole lake. Sessions and funnels (the two heavy steps) partition by user, so they can also run as one task
  per user-hash bucket.
- **Training on the GPU queue.** SASRec tasks go to `gpu_queue` (CeleryExecutor queue `gpu`, pool of one task per
  GPU) with warm starts most nights; ALS/BPR on implicit's CUDA build on the same queue, or CPU workers with all
  cores. The training frame (users x items CSR) is built from a 28-day window, not 1B rows.
- **Serving**: `recsys serve --workers N` per host behind a load balancer, ANN (faiss HNSW) for embedding models
  above 100k items, models loaded from the registry on shared storage.
- **Redis sizing**: the online store keeps per-user recent items (`MAX_HISTORY`, 50 ids) and per-entity features.
  At ~60 bytes per history entry plus per-key overhead (~100 B), 100M users x 50 items ~ 320 GiB: shard across a
  Redis Cluster (user-id hash slots) or cap histories at 20 items (~130 GiB); item features (10M items x ~10
  features) ~ 15 GiB. The online store is written by `recsys features materialize` per day and by POST /events.

Which stage breaks first: **the training frame and evaluation on one machine**. Ingestion and analytics scale
by partition and spill to disk; the training step loads the window's interactions into memory (a CSR matrix and
per-user sequences: about 340 bytes per event in this bench's peak RSS, 927 MiB at 2M events less the ~250 MiB
baseline), so a 28-day window of ~1B events (~300 GB) does not fit one worker: it needs a sampled or shorter
window, a per-user cap on history length, or sharded training (implicit's GPU ALS, SASRec with sampled softmax
over a 1M+ catalogue). Next in line: EASE (dense n_items^2; refused above 20k items) and the full-ranking
evaluation (users x items scores; batched, but O(users x items) work).
"""


def markdown(res: dict[str, Any]) -> str:
    d, st = res["data"], res["stages"]
    rows = ["| stage | seconds | peak RSS MiB |", "|---|---:|---:|"]
    for name, r in st.items():
        if isinstance(r, dict):
            rows.append(f"| {name} | {r['seconds']} | {r.get('peak_rss_mib', '')} |")
    total = sum(r["seconds"] for r in st.values() if isinstance(r, dict))
    return "\n".join([
        "# Scale bench: the offline pipeline end to end", "",
        f"**{d['events']:,} events** ({d['users']:,} users, {d['items']:,} items, {d['categories']} categories, "
        f"{d['days']} days). The issue asks for 50M events; "
        f"{'**50M was not run** here' if d['events'] < 50_000_000 else 'this is that run'} (2 cores; load average "
        f"{res['load_avg_at_start']:.1f} at start, {res['load_avg_at_end']:.1f} at end). Each stage is its own "
        "process; peak RSS is that process's own (about 250 MiB of it is the interpreter and libraries).", "",
        *rows, "", f"Total: {total:.0f} s. Lake: {st['lake_mib']} MiB of Parquet. ALS (64 factors, 10 iterations, "
        f"temporal split) NDCG@10: {st['train als'].get('ndcg@10') or float('nan'):.4f}.", "",
        "Largest catalogue per model in 24 GiB (from the models' own memory, not run here): EASE stores a dense "
        "n_items^2 float32 matrix plus the Gram matrix while inverting (8 n^2 bytes): about 50k items (refused "
        "above 20k by default); item-kNN keeps K neighbours per item (sparse): tens of millions; ALS/BPR keep "
        "(users + items) x factors float32: ~40M rows at 128 factors; SASRec's full softmax needs batch positions "
        "x n_items logits (sampled softmax instead above ~1M items); the ANN index adds ~0.5 KiB per item "
        "(IVF-Flat, 128 float32 dims; HNSW another 0.25 KiB of graph).", "",
        PLAN, f"Machine: {res['machine']}.", "", f"Command: `{res['command']}`", ""])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--memory-limit", default="1GB")
    ap.add_argument("--out", default="scale", help="Result file name under bench/results (no suffix).")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        res = run(args.events, args.days, args.memory_limit, Path(tmp))
    res.update({"bench": "scale", "load_avg_at_start": load, "load_avg_at_end": os.getloadavg()[0],
                "machine": f"{cpu_model(platform.processor())}, {os.cpu_count()} cores shared with other jobs, "
                           f"{platform.platform()}, Python {platform.python_version()}",
                "command": "python bench/scale.py " + " ".join(sys.argv[1:])})
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(res, indent=2) + "\n")
    (RESULTS / f"{args.out}.md").write_text(markdown(res))
    print(json.dumps({k: v.get("seconds") for k, v in res["stages"].items() if isinstance(v, dict)}))


if __name__ == "__main__":
    main()
