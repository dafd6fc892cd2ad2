"""CPU time per request of the service's request path, for two source trees of the project, alternated.

`bench/serve.py` measures wall-clock throughput over loopback, which on a shared machine moves with the other
processes' load more than with the code. This bench drives the app in-process (ASGI calls: the middlewares,
routing, the route and the model, no sockets, no uvicorn) and counts the process's CPU time per request with
`time.process_time`, which other processes do not inflate. The uvicorn share of a request is the same code in
both trees, so a change in this number bounds the change in `bench/serve.py` throughput from above.

    .venv/bin/python bench/serve.py --registry REG ...   # once, to train the registry it reuses
    .venv/bin/python bench/serve_cpu.py --registry REG --tree before=/path/a --tree after=. [--requests 3000]
Writes bench/results/serve-cpu[-TAG].json and .md and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from machine import cpu_model  # bench/machine.py (scripts run from bench/)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

WORKER = r'''
import asyncio, json, sys, time
from pathlib import Path
from serving.app import create_app
from serving.settings import Settings

registry, tmp, n, models = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(",")
app = create_app(Settings(registry=registry, landing_dir=tmp / "landing", online_store_path=tmp / "online.sqlite",
                          reload_interval_s=0))
users = [str(u) for u in range(1, 3000, 7)]

async def call(path, query):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
             "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
             "state": {}}
    status = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
    await app(scope, receive, send)
    assert status == [200], status

async def main():
    out = {}
    async with app.router.lifespan_context(app):
        for model in models:
            query = f"k=10&model={model}".encode()
            for i in range(200):  # warm-up
                await call(f"/users/{users[i % len(users)]}/recommendations", query)
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(n):
                await call(f"/users/{users[i % len(users)]}/recommendations", query)
            out[model] = {"cpu_us": (time.process_time() - cpu) / n * 1e6,
                          "wall_us": (time.perf_counter() - wall) / n * 1e6}
    print(json.dumps(out))

asyncio.run(main())
'''


def run_tree(tree: Path, registry: Path, n: int, models: list[str]) -> dict[str, dict[str, float]]:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory(prefix="bench-serve-cpu-") as tmp:
        proc = subprocess.run([sys.executable, "-c", WORKER, str(registry), tmp, str(n), ",".join(models)],
                              env=env, cwd=tmp, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the worker failed on {tree}: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--registry", type=Path, required=True, help="A registry with als and sasrec in production.")
    ap.add_argument("--tree", action="append", required=True, help="NAME=PATH of a source tree (twice).")
    ap.add_argument("--requests", type=int, default=3000, help="Measured requests per model and round.")
    ap.add_argument("--rounds", type=int, default=6, help="Alternated rounds per tree (the fastest is compared).")
    ap.add_argument("--models", default="als,sasrec")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree)
    models = args.models.split(",")
    samples: dict[str, dict[str, list[float]]] = {t: {m: [] for m in models} for t in trees}
    for _ in range(args.rounds):
        for name, path in trees.items():
            got = run_tree(Path(path).resolve(), args.registry, args.requests, models)
            for m in models:
                samples[name][m].append(got[m]["cpu_us"])
    # the fastest round is the best estimate of the code's own cost: contention only ever adds to it
    best = {t: {m: round(min(v), 1) for m, v in per.items()} for t, per in samples.items()}
    medians = {t: {m: round(statistics.median(v), 1) for m, v in per.items()} for t, per in samples.items()}
    names = list(trees)
    change = {m: round(best[names[1]][m] / best[names[0]][m] - 1, 4) for m in models} if len(names) > 1 else {}
    res = {"bench": "serve-cpu", "machine": {"cpu": cpu_model() or platform.processor(), "cores": os.cpu_count(),
                                             "load_avg_at_end": os.getloadavg(), "python": platform.python_version()},
           "requests": args.requests, "rounds": args.rounds, "cpu_us_per_request": best, "median_cpu_us": medians,
           "samples": samples,
           "cpu_change": change, "command": "python bench/serve_cpu.py " + " ".join(sys.argv[1:])}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "serve-cpu" + (f"-{args.tag}" if args.tag else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(res, indent=2) + "\n")
    write_markdown(RESULTS / f"{stem}.md", res, names, models)
    print(json.dumps({"cpu_us_per_request": best, "median_cpu_us": medians, "cpu_change": change}))


def write_markdown(path: Path, res: dict[str, Any], names: list[str], models: list[str]) -> None:
    rows = ["| model | " + " | ".join(f"{n} CPU µs/request (fastest; median)" for n in names) + " | change |",
            "|---|" + "---:|" * (len(names) + 1)]
    for m in models:
        cells = " | ".join(f"{res['cpu_us_per_request'][n][m]:.1f}; {res['median_cpu_us'][n][m]:.1f}"
                           for n in names)
        ch = res["cpu_change"].get(m)
        rows.append(f"| {m} | {cells} | {'' if ch is None else f'{ch:+.1%}'} |")
    mach = res["machine"]
    text = ["# Serving request path: CPU time per request", "",
            f"`GET /users/{{id}}/recommendations?k=10` driven in-process through the whole ASGI app "
            f"({res['requests']} requests per model and round, {res['rounds']} alternated rounds; the fastest round "
            "of each tree is compared, since contention only adds to it). "
            "CPU time of the process, which other processes' load inflates far less than wall-clock time; a "
            "change here bounds the change in `bench/serve.py` throughput from above (uvicorn's share is the same "
            "code in both).", "",
            *rows, "",
            f"Machine: {mach['cpu']}, {mach['cores']} cores (shared; load average {mach['load_avg_at_end'][0]:.1f} "
            f"at the end), Python {mach['python']}.", "", f"Command: `{res['command']}`", ""]
    path.write_text("\n".join(text))


if __name__ == "__main__":
    main()
