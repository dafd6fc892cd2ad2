"""Our ALS training step vs a bare `implicit` fit on the same matrix, in the same run (target: <= 1.15x).

"Ours" is `recsys.models.implicit_mf.ALS(...).fit(interactions)`: the Recommender bookkeeping (id maps, seen
matrix, popularity, sequences, event weights) plus implicit's fit. "Bare" is
`implicit.cpu.als.AlternatingLeastSquares(...).fit(csr)` with the same hyper-parameters on the same CSR matrix,
also under `threadpool_limits(1, "blas")` (implicit's own advice). Runs alternate, best of N each.

    .venv/bin/python bench/train_overhead.py [--repeats 5] [--data PATH] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from machine import cpu_model  # bench/machine.py (scripts run from bench/)
from threadpoolctl import threadpool_info, threadpool_limits

from recsys.data import IdMap, Interactions
from recsys.models.implicit_mf import ALS
from recsys.models.popularity import Popularity

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RECSYS_DATA_DIR", ROOT.parent / "shared" / "data"))
ML1M = DATA / "movielens-1m-partial" / "ratings_users1-2999.dat.gz"
PARAMS = {"factors": 128, "regularization": 0.05, "alpha": 5.0, "iterations": 15, "random_state": 0}
TARGET = 1.15


def movielens_interactions(path: Path) -> tuple[Interactions, str]:
    """ML-1M part: every rating is an interaction of weight 1, sequences in time order."""
    df = pd.read_csv(path, sep="::", engine="python", names=["user", "item", "rating", "ts"])
    data = _interactions(df["user"].to_numpy(), df["item"].to_numpy(), df["ts"].to_numpy())
    return data, f"MovieLens-1M part ({path.name})"


def generated_interactions(users: int = 3000, items: int = 3500, per_user: int = 160, seed: int = 0) -> tuple[
        Interactions, str]:
    """Zipf-like item popularity, the size of the ML-1M part, for machines without the real data."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, items + 1) ** 0.8
    p /= p.sum()
    user = np.repeat(np.arange(users), per_user)
    item = rng.choice(items, size=len(user), p=p)
    return _interactions(user, item, np.arange(len(user))), f"generated ({users} users, {items} items, seed {seed})"


def _interactions(user: np.ndarray, item: np.ndarray, ts: np.ndarray) -> Interactions:
    order = np.lexsort((ts, user))
    user, item = user[order], item[order]
    user_ids, u = np.unique(user, return_inverse=True)
    item_ids, i = np.unique(item, return_inverse=True)
    matrix = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(len(user_ids), len(item_ids)))
    matrix.sum_duplicates()
    bounds = np.flatnonzero(np.diff(u)) + 1
    sequences = [s.astype(np.int64) for s in np.split(i, bounds)]
    return Interactions(users=IdMap(map(str, user_ids)), items=IdMap(map(str, item_ids)), matrix=matrix,
                        sequences=sequences)


def time_ours(data: Interactions) -> tuple[float, float]:
    """(wall, process CPU) seconds of our fit."""
    wall, cpu = time.perf_counter(), time.process_time()
    ALS(**PARAMS, device="cpu").fit(data)
    return time.perf_counter() - wall, time.process_time() - cpu


def time_bare(matrix: sp.csr_matrix) -> tuple[float, float]:
    from implicit.cpu.als import AlternatingLeastSquares

    wall, cpu = time.perf_counter(), time.process_time()
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(**PARAMS)
        model.fit(matrix, show_progress=False)
    return time.perf_counter() - wall, time.process_time() - cpu


def time_bookkeeping(data: Interactions) -> float:
    """Wall seconds of the Recommender bookkeeping alone (a popularity fit is that plus one column sum)."""
    start = time.perf_counter()
    Popularity().fit(data)
    return time.perf_counter() - start


def machine() -> dict[str, object]:
    import implicit

    cpu = cpu_model(platform.processor() or "")
    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)" for i in threadpool_info()]
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "implicit": implicit.__version__, "blas": blas,
            "load_average_at_start": list(os.getloadavg())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--data", type=Path, default=ML1M, help="MovieLens ratings file (:: separated)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    data, source = movielens_interactions(args.data) if args.data.exists() else generated_interactions()
    matrix = data.matrix.tocsr().astype(np.float32)
    info = machine()
    time_bare(matrix)  # warm-up: imports, page cache, thread pools
    ours, bare = [], []
    for r in range(args.repeats):  # interleaved, alternating which goes first, so load drifts hit both alike
        if r % 2:
            bare.append(time_bare(matrix))
            ours.append(time_ours(data))
        else:
            ours.append(time_ours(data))
            bare.append(time_bare(matrix))
    bookkeeping = min(time_bookkeeping(data) for _ in range(args.repeats))
    ours_wall, ours_cpu = (list(x) for x in zip(*ours, strict=True))
    bare_wall, bare_cpu = (list(x) for x in zip(*bare, strict=True))
    ratio = min(ours_wall) / min(bare_wall)
    result = {
        "benchmark": "ALS training step: recsys ALS.fit(Interactions) vs bare implicit ALS fit(csr)",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {"source": source, "users": data.n_users, "items": data.n_items, "interactions": int(matrix.nnz)},
        "params": {**PARAMS, "device": "cpu", "num_threads": 0},
        "repeats": args.repeats,
        "ours_seconds": ours_wall, "bare_seconds": bare_wall,
        "ours_cpu_seconds": ours_cpu, "bare_cpu_seconds": bare_cpu,
        "ours_best_s": min(ours_wall), "bare_best_s": min(bare_wall),
        "ratio_best": ratio, "ratio_median": float(np.median(ours_wall) / np.median(bare_wall)),
        "ratio_best_cpu": min(ours_cpu) / min(bare_cpu),
        "bookkeeping_best_s": bookkeeping,
        "target": TARGET, "meets_target": ratio <= TARGET,
        "machine": info,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "train_overhead.md").write_text(markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    m, d = r["machine"], r["data"]
    rows = ["| step | best wall (s) | median wall (s) | best CPU (s) | runs |", "|---|---:|---:|---:|---:|"]
    for label, key in (("ours: ALS.fit(Interactions)", "ours"), ("bare implicit ALS.fit(csr)", "bare")):
        rows.append(f"| {label} | {r[key + '_best_s']:.3f} | {np.median(r[key + '_seconds']):.3f} "
                    f"| {min(r[key + '_cpu_seconds']):.3f} | {r['repeats']} |")
    rows.append(f"| (of ours) Recommender bookkeeping alone | {r['bookkeeping_best_s']:.3f} | | | {r['repeats']} |")
    verdict = "meets" if r["meets_target"] else "MISSES"
    return "\n".join([
        "# ALS training overhead",
        "",
        f"Data: {d['source']}: {d['users']} users, {d['items']} items, {d['interactions']} interactions.  ",
        f"Params: {json.dumps(r['params'])}.  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, Python {m['python']}, numpy {m['numpy']}, "
        f"implicit {m['implicit']}, BLAS {'; '.join(m['blas'])}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in m['load_average_at_start'])}.  ",
        f"Date: {r['date']}.",
        "",
        *rows,
        "",
        f"**Ratio (best ours / best bare, wall): {r['ratio_best']:.3f}x**, target <= {r['target']}x: {verdict}. "
        f"Median ratio {r['ratio_median']:.3f}x; best CPU-time ratio {r['ratio_best_cpu']:.3f}x.",
        "",
    ])


if __name__ == "__main__":
    main()
