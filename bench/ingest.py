"""Ingestion benchmark: `recsys ingest` vs a bare pyarrow CSV -> Parquet conversion of the same rows, same run.

For each size, synthetic events are generated (`recsys.generate`), flattened to one CSV (properties as JSON text),
and then, each in its own process so that peak RSS is per job:

- bare-csv:  ``pq.write_table(pyarrow.csv.read_csv(csv))`` (no validation, no dedupe, no partitioning);
- ours-csv:  ``ingest([csv], lake, fmt="csv")`` (validation, dedupe, day partitions, quarantine, manifest);
- ours-jsonl (optional, --jsonl): ``ingest(daily jsonl files, lake)``, the generator's own output format;
- ours-nested (optional, --nested, implies --jsonl): the same events as session records, one JSON object per
  session holding an ``events`` array, through ``--explode events`` and dotted ``--map`` paths (goal: at least
  half the flat JSONL rate).

Usage: ``python bench/ingest.py [--sizes 1000000 10000000] [--jsonl] [--nested] [--workdir DIR]
[--out bench/results/ingest.json]``
Prints a table and writes JSON (and a Markdown table next to it) with the machine description.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from machine import cpu_model  # bench/machine.py (scripts run from bench/)

ROOT = Path(__file__).resolve().parents[1]

# peak RSS of this process: VmHWM (ru_maxrss would include the parent's, since it survives fork + exec)
PEAK = """
def PEAK():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

BARE = PEAK + """
import json, sys, time
import pyarrow.csv as c, pyarrow.parquet as q
t = time.perf_counter()
table = c.read_csv(sys.argv[1])
q.write_table(table, sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t, "rows": table.num_rows,
                  "peak_rss_mb": PEAK()}))
"""

OURS = PEAK + """
import json, sys, time
from pathlib import Path
from recsys.ingest import ingest
from recsys.ingest.arrowutil import prefer_jemalloc
prefer_jemalloc()  # as the CLI does
t = time.perf_counter()
fmt = sys.argv[1]
r = ingest([Path(p) for p in sys.argv[3:]], Path(sys.argv[2]), fmt=fmt)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": r.rows_written, "rows_read": r.rows_read,
                  "quarantined": r.rows_quarantined, "duplicates": r.duplicates,
                  "peak_rss_mb": PEAK()}))
"""


NESTED = PEAK + """
import json, sys, time
from pathlib import Path
from recsys.ingest import ingest
from recsys.ingest.arrowutil import prefer_jemalloc
from recsys.ingest.mapping import MapSpec
prefer_jemalloc()
spec = MapSpec({"user_id": "user_id", "session_id": "session_id", **{f: "events." + f for f in
               ("event_id", "item_id", "event_type", "ts", "value", "properties")}}, explode="events")
t = time.perf_counter()
r = ingest([Path(p) for p in sys.argv[2:]], Path(sys.argv[1]), spec=spec)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": r.rows_written, "rows_read": r.rows_read,
                  "records_read": r.records_read, "quarantined": r.rows_quarantined, "duplicates": r.duplicates,
                  "peak_rss_mb": PEAK()}))
"""


def make_sessions(files: list[Path], out: Path) -> int:
    """The generator's events as session records (one object per user session of a day, holding its events in
    order); returns the number of records."""
    records = 0
    with open(out, "w", encoding="utf-8") as dst:
        for f in files:
            sessions: dict[tuple[str, str], list[dict]] = {}
            with open(f, encoding="utf-8") as src:
                for line in src:
                    e = json.loads(line)
                    sessions.setdefault((e.pop("user_id"), e.pop("session_id")), []).append(e)
            for (user, session), events in sessions.items():
                dst.write(json.dumps({"user_id": user, "session_id": session, "events": events},
                                     separators=(",", ":")) + "\n")
            records += len(sessions)
    return records


def machine() -> dict:
    """Where the numbers come from: cores, memory, CPU model, load, Python and library versions."""
    import duckdb
    import numpy
    import psutil
    import pyarrow

    cpu = cpu_model("unknown")
    ram = round(psutil.virtual_memory().total / 2**30, 1)
    return {"cpu_model": cpu, "logical_cores": os.cpu_count(), "ram_gb": ram,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "platform": platform.platform(),
            "python": platform.python_version(), "pyarrow": pyarrow.__version__, "numpy": numpy.__version__,
            "duckdb": duckdb.__version__, "psutil": psutil.__version__}


def _events_per_user(days: int) -> float:
    from recsys.generate import generate_events

    with tempfile.TemporaryDirectory() as tmp:
        rep = generate_events(Path(tmp), users=2000, items=2000, days=days, seed=123)
    return rep.events / 2000


def make_data(n: int, work: Path, days: int = 14) -> tuple[list[Path], Path, int]:
    """About `n` generated events as daily JSONL files plus one flat CSV of the same rows."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson

    from recsys.generate import generate_events

    users = max(10, round(n / _events_per_user(days)))
    out = work / f"gen-{n}"
    report = generate_events(out, users=users, items=max(1000, n // 200), days=days, seed=7)
    files = sorted(out.glob("events-*.jsonl"))
    csv_path = work / f"events-{n}.csv"
    writer = None
    for f in files:
        t = pajson.read_json(f)
        props = pa.array([json.dumps(p, separators=(",", ":")) for p in t["properties"].to_pylist()], pa.string())
        t = t.set_column(t.schema.get_field_index("properties"), "properties", props)
        if writer is None:
            writer = pacsv.CSVWriter(csv_path, t.schema)
        writer.write_table(t)
    if writer is not None:
        writer.close()
    return files, csv_path, report.events


def run_job(code: str, args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark job failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall_seconds"] = wall
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--jsonl", action="store_true", help="also ingest the generator's JSONL files")
    ap.add_argument("--nested", action="store_true", help="also ingest the same events as nested session records")
    ap.add_argument("--repeat", type=int, default=1, help="runs per job; the best time is kept")
    ap.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temp dir, removed)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest.json")
    ap.add_argument("--note", default="", help="free text stored with the results (e.g. about CPU contention)")
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {"benchmark": "ingest", "started": datetime.now(UTC).isoformat(timespec="seconds"),
               "machine": machine(), "note": args.note, "runs": []}
    try:
        for n in args.sizes:
            t = time.perf_counter()
            files, csv_path, events = make_data(n, work)
            print(f"[{n:,}] generated {events:,} events in {time.perf_counter() - t:.1f} s "
                  f"({csv_path.stat().st_size / 2**20:.0f} MiB CSV)", file=sys.stderr)
            jobs = [("bare pyarrow csv->parquet", BARE, [str(csv_path), str(work / "bare.parquet")]),
                    ("recsys ingest csv", OURS, ["csv", str(work / "lake-csv"), str(csv_path)])]
            if args.jsonl or args.nested:
                jobs.append(("recsys ingest jsonl", OURS, ["jsonl", str(work / "lake-jsonl"), *map(str, files)]))
            row: dict = {"events": events, "csv_mib": round(csv_path.stat().st_size / 2**20, 1), "jobs": {}}
            if args.nested:
                sessions = work / f"sessions-{n}.jsonl"
                row["session_records"] = make_sessions(files, sessions)
                row["sessions_mib"] = round(sessions.stat().st_size / 2**20, 1)
                jobs.append(("recsys ingest nested sessions", NESTED, [str(work / "lake-nested"), str(sessions)]))
            for name, code, argv in jobs:
                best = None
                for _ in range(args.repeat):
                    shutil.rmtree(work / "lake-csv", ignore_errors=True)
                    shutil.rmtree(work / "lake-jsonl", ignore_errors=True)
                    shutil.rmtree(work / "lake-nested", ignore_errors=True)
                    res = run_job(code, argv)
                    if best is None or res["seconds"] < best["seconds"]:
                        best = res
                assert best is not None
                best["events_per_s"] = round(events / best["seconds"])
                row["jobs"][name] = best
                print(f"[{n:,}] {name:28s} {best['seconds']:8.2f} s {best['events_per_s']:>12,} ev/s "
                      f"peak RSS {best['peak_rss_mb']:8.0f} MiB", file=sys.stderr)
            bare = row["jobs"]["bare pyarrow csv->parquet"]["seconds"]
            row["ratio_ours_csv_vs_bare"] = round(bare / row["jobs"]["recsys ingest csv"]["seconds"], 3)
            if args.nested:
                flat = row["jobs"]["recsys ingest jsonl"]["seconds"]
                nested = row["jobs"]["recsys ingest nested sessions"]["seconds"]
                row["ratio_nested_vs_flat_jsonl"] = round(flat / nested, 3)
            results["runs"].append(row)
            for f in [*files, csv_path, work / f"sessions-{n}.jsonl"]:
                f.unlink(missing_ok=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    args.out.with_suffix(".md").write_text(table)
    print(table)


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [f"# Ingest benchmark ({results['started']})", "",
             f"{m['cpu_model']}, {m['logical_cores']} logical cores, {m['ram_gb']} GB RAM; Python {m['python']}, "
             f"pyarrow {m['pyarrow']}; load average {m['load_average_at_start']} at start, "
             f"{m.get('load_average_at_end')} at end.", ""]
    if results.get("note"):
        lines += [results["note"], ""]
    lines += ["| events | job | seconds | events/s | peak RSS MiB | ours/bare speed |",
              "|---:|---|---:|---:|---:|---:|"]
    for run in results["runs"]:
        for name, job in run["jobs"].items():
            ratio = f"{run['ratio_ours_csv_vs_bare']:.2f}x" if name == "recsys ingest csv" else ""
            if name == "recsys ingest nested sessions":
                ratio = f"{run['ratio_nested_vs_flat_jsonl']:.2f}x of flat jsonl"
            lines.append(f"| {run['events']:,} | {name} | {job['seconds']:.2f} | {job['events_per_s']:,} | "
                         f"{job['peak_rss_mb']:.0f} | {ratio} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
