"""Serving bench: wrk against ``/users/{id}/recommendations`` (ALS and SASRec on the MovieLens-1M part, ~3.7k items)
next to a bare FastAPI JSON endpoint of the same shape, served the same way (uvicorn, one worker, loopback) in the
same run.

For each target: saturation throughput and latency (wrk, closed loop, -c16), then latency at half of that
throughput (wrk with a per-connection delay so the offered rate is about half of saturation).
Model quality does not matter here (short training); the request path and the model sizes do.

    .venv/bin/python bench/serve.py [--duration 8] [--sasrec-epochs 1] [--tag NAME]
Writes bench/results/serve[-TAG].json and .md and prints one JSON line. Needs `wrk` (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from machine import cpu_model  # bench/machine.py (scripts run from bench/)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RECSYS_DATA_DIR", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
log = logging.getLogger("bench.serve")

BARE_APP = '''
from fastapi import FastAPI

app = FastAPI()
ITEMS = [{"item_id": str(i), "score": 1.0 / (i + 1)} for i in range(10)]


@app.get("/users/{user_id}/recommendations")
def recs(user_id: str, k: int = 10, model: str = "als"):
    return {"user_id": user_id, "items": ITEMS[:k], "model": model, "version": "1", "fallback": False}
'''

LUA = '''
math.randomseed(%(seed)d)
local users = {%(users)s}
local delay_ms = %(delay)d
request = function()
  return wrk.format("GET", "/users/" .. users[math.random(#users)] .. "/recommendations?k=10&model=%(model)s")
end
%(delay_fn)s
'''


def load_sequences() -> dict[str, list[str]]:
    import numpy as np
    import pandas as pd

    path = DATA / "movielens-1m-partial" / "ratings_users1-2999.dat.gz"
    if not path.exists():
        raise SystemExit(f"{path} is absent (set RECSYS_DATA_DIR to the shared data folder)")
    df = pd.read_csv(path, sep="::", engine="python", names=["user", "item", "rating", "ts"], dtype=str)
    df["ts"] = df["ts"].astype(np.int64)
    df = df.sort_values(["user", "ts"], kind="stable")
    return {u: g.tolist() for u, g in df.groupby("user", sort=False)["item"]}


def build_registry(root: Path, sasrec_epochs: int) -> dict[str, Any]:
    """Fit ALS and SASRec on the ML-1M part and promote both (what `recsys train --promote` leaves behind)."""
    from recsys.data import Interactions
    from recsys.models import create_model
    from recsys.registry import Registry

    data = Interactions.from_sequences(load_sequences())
    reg = Registry(root)
    info: dict[str, Any] = {"users": data.n_users, "items": data.n_items, "interactions": int(data.matrix.nnz)}
    models = {"als": create_model("als", factors=64, iterations=10, device="cpu"),
              "sasrec": create_model("sasrec", hidden=64, layers=2, max_len=200, epochs=sasrec_epochs, patience=100,
                                     device="cpu")}
    for name, model in models.items():
        t = time.perf_counter()
        model.fit(data)
        info[f"{name}_fit_seconds"] = round(time.perf_counter() - t, 1)
        reg.promote(name, reg.register(name, model, metrics={}, params={"bench": "serve"}).version)
    return info


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], url: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    stop(proc)
    raise SystemExit(f"server at {url} not ready in 120 s")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def wrk(base: str, script: Path, duration: float, connections: int) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "-s", str(script), base]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        if m is None:
            raise RuntimeError(f"no {label} in wrk output:\n{out}")
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": ms("50%"), "p90_ms": ms("90%"), "p99_ms": ms("99%"),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
            "non_2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(0) if errors else ""}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_request(pid: int, base: str, script_path: Path, duration: float, connections: int) -> float:
    """Server CPU microseconds per request at saturation: steadier than req/s on a machine others share."""
    before = _cpu_seconds(pid)
    res = wrk(base, script_path, duration, connections)
    return (_cpu_seconds(pid) - before) / max(res["requests"], 1) * 1e6


def script(tmp: Path, name: str, users: list[str], model: str, delay_ms: int) -> Path:
    path = tmp / f"{name}-{delay_ms}.lua"
    delay_fn = "delay = function() return delay_ms end" if delay_ms > 0 else ""
    path.write_text(LUA % {"seed": 7, "users": ",".join(f'"{u}"' for u in users), "model": model,
                           "delay": delay_ms, "delay_fn": delay_fn})
    return path


def measure(name: str, base: str, tmp: Path, users: list[str], model: str, duration: float,
            connections: int) -> dict[str, Any]:
    # warm-up (first requests load lazy code paths), then saturation, then about half of it
    wrk(base, script(tmp, name, users, model, 0), 2, connections)
    sat = wrk(base, script(tmp, name, users, model, 0), duration, connections)
    target = sat["rps"] / 2
    delay = 5  # ms between a response and the next request on one connection
    conns = max(1, math.ceil(target * (delay + sat["p50_ms"] / max(connections, 1)) / 1000))
    half = wrk(base, script(tmp, name, users, model, delay), duration, conns)
    # one correction step: wrk's delay is whole milliseconds, so scale the connection count to the target
    if half["rps"] > 0 and abs(half["rps"] - target) / target > 0.15:
        conns = max(1, round(conns * target / half["rps"]))
        half = wrk(base, script(tmp, name, users, model, delay), duration, conns)
    half.update({"target_rps": round(target, 1), "connections": conns, "delay_ms": delay})
    log.info("%s: %.0f req/s saturated (p99 %.2f ms); at %.0f req/s p99 %.2f ms", name, sat["rps"], sat["p99_ms"],
             half["rps"], half["p99_ms"])
    return {"saturation": sat, "half_load": half}


def machine() -> dict[str, Any]:
    cpu = cpu_model()
    import fastapi
    import uvicorn

    return {"cpu": cpu or platform.processor(), "cores": os.cpu_count(), "load_avg_at_start": os.getloadavg(),
            "os": platform.platform(), "python": platform.python_version(), "fastapi": fastapi.__version__,
            "uvicorn": uvicorn.__version__}


def _verdict(cost: dict[str, Any]) -> str:
    if cost["goal_met"] is None:
        return (f"not resolved on this machine (runs of one configuration differ by up to {cost['run_spread']:.0%}, "
                "more than the effect to be measured)")
    return "met" if cost["goal_met"] else "missed"


def _cost_lines(cost: dict[str, Any] | None) -> list[str]:
    if not cost:
        return []
    runs_with = ", ".join(f"{r:.0f}" for r in cost["runs_with"])
    runs_without = ", ".join(f"{r:.0f}" for r in cost["runs_without"])
    return [f"Impression logging (one write per answer, fsync at most once a second): ALS "
            f"{cost['rps_with_log']:.0f} req/s with it, {cost['rps_without_log']:.0f} without (medians of "
            f"{len(cost['runs_with'])} alternating runs each: {runs_with} vs {runs_without}), "
            f"{cost['cost']:+.1%} throughput lost. Server CPU per request (medians): "
            f"{cost['cpu_us_per_request_with']:.0f} µs with the log, {cost['cpu_us_per_request_without']:.0f} µs "
            f"without ({cost['cpu_cost']:+.1%} with the log). Goal <= 10 %: **{_verdict(cost)}**. In process, "
            f"stamping and logging one answer costs {cost['per_answer_us']:.0f} µs, {cost['per_answer_share']:.1%} "
            "of a request at the unlogged rate (measured apart from the service, in one process).", ""]


def write_markdown(path: Path, res: dict[str, Any]) -> None:
    m = res["machine"]
    rows = ["| endpoint | req/s (saturated, c=16) | p50 ms | p99 ms | x bare | half-load req/s | p50 ms | p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in res["targets"].items():
        s, h = r["saturation"], r["half_load"]
        rows.append(f"| {name} | {s['rps']:.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
                    f"{r['ratio_to_bare']:.2f} | {h['rps']:.0f} | {h['p50_ms']:.2f} | {h['p99_ms']:.2f} |")
    text = [
        "# Serving bench", "",
        f"`GET /users/{{id}}/recommendations?k=10` on the ML-1M part ({res['data']['users']} users, "
        f"{res['data']['items']} items, {res['data']['interactions']} interactions), random known users, "
        "vs a bare FastAPI endpoint returning a constant answer of the same shape. One uvicorn worker each, "
        f"loopback, wrk -t1, {res['duration_s']} s per measurement; half load = wrk with a per-connection delay "
        "so the offered rate is about half of that endpoint's saturated rate.", "",
        *rows, "",
        f"Goals: ALS >= 0.7x bare throughput: **{'met' if res['goals']['als_throughput'] else 'missed'}**; "
        f"ALS p99 <= 10 ms at half load: **{'met' if res['goals']['als_p99_half'] else 'missed'}**.", "",
        *_cost_lines(res.get("impression_log_cost")),
        f"Machine: {m['cpu']}, {m['cores']} cores (shared: load average {m['load_avg_at_start'][0]:.1f} at start), "
        f"{m['os']}, Python {m['python']}, FastAPI {m['fastapi']}, uvicorn {m['uvicorn']}.", "",
        f"Command: `{res['command']}`", ""]
    path.write_text("\n".join(text))


def _impression_cost(targets: dict[str, Any]) -> dict[str, Any] | None:
    """Throughput lost to impression logging: ALS with the log on vs off (goal: at most 10 %)."""
    off = [t["saturation"]["rps"] for k, t in targets.items() if k.startswith("recsys als (no impression log")]
    if not off:
        return None
    on = [t["saturation"]["rps"] for k, t in targets.items()
          if k == "recsys als" or k.startswith("recsys als (impression log")]
    on_rps, off_rps = statistics.median(on), statistics.median(off)
    cost = 1 - on_rps / off_rps
    cpu_on = statistics.median(t["cpu_us_per_request"] for k, t in targets.items()
                               if k == "recsys als" or k.startswith("recsys als (impression log"))
    cpu_off = statistics.median(t["cpu_us_per_request"] for k, t in targets.items()
                                if k.startswith("recsys als (no impression log"))
    cpu_cost = 1 - cpu_off / cpu_on  # throughput lost by a CPU-bound worker
    # how far runs of one configuration differ: above 10 % the machine cannot resolve a 10 % cost
    spread = max((max(r) - min(r)) / statistics.median(r) for r in (on, off))
    per_answer_us = _logging_us()
    share = per_answer_us * 1e-6 * off_rps  # of one request's time at the unlogged rate
    return {"rps_with_log": on_rps, "rps_without_log": off_rps, "runs_with": on, "runs_without": off,
            "cost": round(cost, 4), "cpu_us_per_request_with": round(cpu_on, 1),
            "cpu_us_per_request_without": round(cpu_off, 1), "cpu_cost": round(cpu_cost, 4),
            "per_answer_us": round(per_answer_us, 1), "per_answer_share": round(share, 4),
            "run_spread": round(spread, 3),
            "goal_met": (cost <= 0.10 and cpu_cost <= 0.10) if spread <= 0.10 else None}


def _logging_us(n: int = 20_000) -> float:
    """In-process cost of stamping and logging one 10-item answer (request id, JSON line, write), in microseconds:
    steadier than two wrk runs on a shared machine."""
    sys.path.insert(0, str(ROOT))
    from serving.experiments import OnlineEval
    from serving.impressions import ImpressionLog

    with tempfile.TemporaryDirectory() as tmp:
        log_ = ImpressionLog(Path(tmp))
        online = OnlineEval(None, log_)  # type: ignore[arg-type]  # no experiments: logging only
        answers = [{"user_id": f"u{i}", "items": [{"item_id": f"i{j}", "score": 0.5} for j in range(10)],
                    "model": "als", "version": 1, "fallback": False} for i in range(n)]
        t = time.perf_counter()
        for a in answers:
            online.logged(a, "user")
        seconds = time.perf_counter() - t
        log_.close()
    return seconds / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=8.0, help="Seconds per wrk measurement.")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections at saturation.")
    ap.add_argument("--sasrec-epochs", type=int, default=1)
    ap.add_argument("--tag", default="", help="Suffix of the result files.")
    ap.add_argument("--registry", type=Path, help="Registry folder to (re)use: trained into when it has no models.")
    ap.add_argument("--models", default="als,sasrec", help="Served models to measure (comma-separated).")
    ap.add_argument("--impression-cost", type=int, default=0, metavar="N",
                    help="Also measure ALS N times with impression logging off (RECSYS_LOG_IMPRESSIONS=false), "
                         "alternating with N runs with it on; the cost compares the medians.")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    mach = machine()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        registry = args.registry or tmp / "registry"
        info_file = registry / "_bench_data.json"
        if info_file.exists():
            data = json.loads(info_file.read_text())
        else:
            log.info("training ALS and SASRec on the ML-1M part ...")
            data = build_registry(registry, args.sasrec_epochs)
            info_file.write_text(json.dumps(data))
        users = [str(u) for u in range(1, 3000, 7)]
        (tmp / "bare_app.py").write_text(BARE_APP)
        targets: dict[str, Any] = {}

        port = free_port()
        proc = start([str(VENV_BIN / "uvicorn"), "--app-dir", str(tmp), "bare_app:app", "--host", "127.0.0.1",
                      "--port", str(port), "--log-level", "warning", "--no-access-log"],
                     f"http://127.0.0.1:{port}/users/1/recommendations")
        try:
            targets["bare FastAPI"] = measure("bare", f"http://127.0.0.1:{port}", tmp, users, "als",
                                              args.duration, args.connections)
        finally:
            stop(proc)

        variants = [("", "true")]  # then off/on alternately: a shared machine's drift hits both alike
        for r in range(args.impression_cost):
            variants += [(f" (no impression log #{r + 1})", "false")]
            variants += [(f" (impression log #{r + 2})", "true")] if r + 1 < args.impression_cost else []
        for suffix, log_impressions in variants:
            port = free_port()
            proc = start([str(VENV_BIN / "recsys"), "serve", "--registry", str(registry), "--host", "127.0.0.1",
                          "--port", str(port), "--landing", str(tmp / "landing")],
                         f"http://127.0.0.1:{port}/ready",
                         env={"OMP_NUM_THREADS": "1", "RECSYS_LOG_IMPRESSIONS": log_impressions})
            try:
                for model in [m for m in args.models.split(",") if m] if not suffix else ["als"]:
                    base = f"http://127.0.0.1:{port}"
                    targets[f"recsys {model}{suffix}"] = measure(model, base, tmp, users, model, args.duration,
                                                                 args.connections)
                    if args.impression_cost and model == "als":
                        targets[f"recsys {model}{suffix}"]["cpu_us_per_request"] = cpu_per_request(
                            proc.pid, base, script(tmp, model, users, model, 0), args.duration, args.connections)
            finally:
                stop(proc)

    bare = targets["bare FastAPI"]["saturation"]["rps"]
    for r in targets.values():
        r["ratio_to_bare"] = round(r["saturation"]["rps"] / bare, 3)
    als = targets["recsys als"]
    res = {"bench": "serve", "machine": mach, "data": data, "duration_s": args.duration, "targets": targets,
           "goals": {"als_throughput": als["ratio_to_bare"] >= 0.7, "als_p99_half": als["half_load"]["p99_ms"] <= 10},
           "impression_log_cost": _impression_cost(targets),
           "command": "python bench/serve.py " + " ".join(sys.argv[1:])}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "serve" + (f"-{args.tag}" if args.tag else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(res, indent=2) + "\n")
    write_markdown(RESULTS / f"{stem}.md", res)
    print(json.dumps({k: {"rps": v["saturation"]["rps"], "ratio": v["ratio_to_bare"],
                          "p99_half_ms": v["half_load"]["p99_ms"]} for k, v in targets.items()}))


if __name__ == "__main__":
    main()
