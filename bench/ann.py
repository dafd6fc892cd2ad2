"""ANN bench: top-10 by inner product over 1M items x 128 dims, faiss IVF-Flat (recsys's default) next to
faiss HNSW and usearch HNSW (those two on a 200k-item subset: their builds take too long on two shared
cores); then `/users/{id}/recommendations` end to end on a 1M-item ALS model (with the
index, and without it) next to a bare FastAPI endpoint of the same shape.

Vectors are generated, not learnt (no public data set here has a million items): items are drawn around 4096
Gaussian cluster centres with as much noise as signal and log-normal norms (popular items have longer factors,
as ALS's do); queries are drawn the same way. Per-query latency is one query at a time on one thread (how the
service calls it); recall@10 is against exact scoring of the same vectors.

    .venv/bin/python bench/ann.py [--items 1000000] [--dim 128] [--methods ivf,hnsw,usearch] [--no-serve]
Writes bench/results/ann.json and .md (`--out NAME`: NAME.json and .md) and prints one JSON line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import cpu_model  # bench/machine.py (scripts run from bench/)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
log = logging.getLogger("bench.ann")
K = 10


def vectors(n: int, dim: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 100_000):
        m = min(100_000, n - lo)
        x = centres[rng.integers(0, len(centres), m)] + rng.standard_normal((m, dim), dtype=np.float32)
        out[lo:lo + m] = x * rng.lognormal(0.0, 0.3, (m, 1)).astype(np.float32) / np.sqrt(dim)
    return out


def exact_top(items: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    best = np.zeros((len(queries), 0), np.int64)
    best_s = np.zeros((len(queries), 0), np.float32)
    for lo in range(0, len(items), 200_000):
        s = queries @ items[lo:lo + 200_000].T
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        best = np.hstack([best, part + lo])
        best_s = np.hstack([best_s, np.take_along_axis(s, part, axis=1)])
    order = np.argsort(-best_s, axis=1)[:, :k]
    return np.take_along_axis(best, order, axis=1)


def timed_queries(search: Any, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    import faiss

    faiss.omp_set_num_threads(1)  # one query at a time on one thread, as the service calls it
    times, cpu, hits = [], [], 0
    for q, t in zip(queries, truth, strict=True):
        start, start_cpu = time.perf_counter(), time.thread_time()
        got = search(q[None, :])
        times.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
        hits += len(set(np.asarray(got).ravel().tolist()) & set(t.tolist()))
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    ms, cpu_ms = np.array(times) * 1e3, np.array(cpu) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4), "p99_ms": round(float(np.percentile(ms, 99)), 4),
            "cpu_p99_ms": round(float(np.percentile(cpu_ms, 99)), 4), "recall@10": round(hits / truth.size, 4)}


SWEEPS = {"hnsw": ("ef_search", (32, 64, 128)), "ivf": ("nprobe", (16, 32, 64, 128)),
          "ivfpq": ("nprobe", (16, 32, 64))}


_KIND_NAMES = {"ivf": "faiss IVF-Flat, recsys's default", "ivfpq": "faiss IVF-PQ fast-scan, re-scored exactly"}


def search(index: Any, items: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The top-K item indices as the service gets them: compressed codes are re-scored from the vectors."""
    if not index.approximate_scores:
        return index.search(q, K)[0]
    from recsys.models.ann import filtered_top_k

    return filtered_top_k(index, q, K, [np.zeros(0, np.int64)], None, items)[0]


def bench_recsys(kind: str, items: np.ndarray, queries: np.ndarray, truth: np.ndarray,
                 cache: Path | None) -> tuple[dict[str, Any], Any]:
    """recsys.models.ann's index of `kind`, built once, searched at each setting of its sweep."""
    from dataclasses import replace

    from recsys.models.ann import AnnConfig, AnnIndex

    folder = cache / f"{kind}-{len(items)}x{items.shape[1]}" if cache else None
    if folder is not None and (folder / "build.json").exists():  # an index this bench built before, same vectors
        index, build_s = AnnIndex.load(folder), json.loads((folder / "build.json").read_text())["build_s"]
        index.config = AnnConfig(kind=kind)  # today's defaults, whatever the cached run searched with
        index._tune()
    else:
        start = time.perf_counter()
        index = AnnIndex.build(items, AnnConfig(kind=kind))
        build_s = round(time.perf_counter() - start, 1)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            index.save(folder)
            (folder / "build.json").write_text(json.dumps({"build_s": build_s}))
    out: dict[str, Any] = {"library": f"faiss {type(index.index).__name__} (recsys.models.ann, kind={kind})",
                           "items": len(items), "build_s": build_s,
                           "index_mb": _faiss_mb(index.index), "settings": {}}
    field, values = SWEEPS[kind]
    default = index.config
    for value in values:
        index.config = replace(default, **{field: value})
        index._tune()
        out["settings"][f"{field}={value}"] = timed_queries(lambda q: search(index, items, q), queries, truth)
        log.info("%s %s=%d: %s", kind, field, value, out["settings"][f"{field}={value}"])
    index.config = default
    index._tune()
    return out, index


def bench_usearch(items: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    from usearch.index import Index

    start = time.perf_counter()
    index = Index(ndim=items.shape[1], metric="ip", dtype="f32", connectivity=16, expansion_add=80)
    index.add(np.arange(len(items)), items, threads=os.cpu_count() or 1)
    out: dict[str, Any] = {"library": "usearch HNSW (connectivity=16, expansion_add=80)", "items": len(items),
                           "build_s": round(time.perf_counter() - start, 1),
                           "index_mb": round(index.memory_usage / 2**20, 1), "settings": {}}
    for ef in (32, 64, 128):
        index.expansion_search = ef
        out["settings"][f"expansion_search={ef}"] = timed_queries(lambda q: index.search(q[0], K, threads=1).keys,
                                                                  queries, truth)
        log.info("usearch ef %d: %s", ef, out["settings"][f"expansion_search={ef}"])
    return out


def _faiss_mb(index: Any) -> float:
    import faiss

    with tempfile.NamedTemporaryFile() as fh:
        faiss.write_index(index, fh.name)
        return round(os.path.getsize(fh.name) / 2**20, 1)


def synthetic_als(items: np.ndarray, users: np.ndarray, rng: np.random.Generator) -> Any:
    """An ALS model over `items` whose factors are the generated vectors (not fitted: serving cost does not depend
    on how factors were learnt), with 20 seen items per user."""
    from recsys.data import Interactions
    from recsys.models.implicit_mf import ALS

    ids = [str(i) for i in range(len(items))]
    seqs = {f"u{u}": [ids[j] for j in rng.choice(len(items), 20, replace=False)] for u in range(len(users))}
    data = Interactions.from_sequences(seqs, items=ids)
    model = ALS(factors=items.shape[1], device="cpu")
    # The state `fit` would leave, with the generated factors in place of learnt ones.
    model.users_, model.items_ = data.users, data.items
    model.seen_ = data.matrix.tocsr()
    model.item_popularity_ = np.asarray(model.seen_.sum(axis=0), dtype=np.float32).ravel()
    model.sequences_ = list(data.sequences)
    model.user_factors_, model.item_factors_ = users, items
    model.user_weights_ = model.seen_.data.astype(np.float32)
    model.ann_ = None
    return model


def bench_serve(items: np.ndarray, queries: np.ndarray, index: Any, duration: float, tmp: Path) -> dict[str, Any]:
    import serve as sb  # bench/serve.py: the same wrk runner and bare app

    from recsys.models.ann import MIN_ITEMS_ENV
    from recsys.registry import Registry

    model = synthetic_als(items, queries, np.random.default_rng(1))
    users = [f"u{u}" for u in range(0, len(queries), 3)]
    out: dict[str, Any] = {}
    (tmp / "bare_app.py").write_text(sb.BARE_APP)
    bare_runs = []
    targets = (("recsys als, ANN index", index, duration), ("recsys als, exact scoring", None, 3.0))
    for label, ann, secs in targets:
        bare_runs.append(_measure_bare(sb, tmp, users, duration))  # before each: the machine is shared
        reg = Registry(tmp / label.replace(" ", "_").replace(",", ""))
        start = time.perf_counter()
        model.ann_ = ann  # the index measured above; None and a threshold above the catalogue: exact scoring
        os.environ[MIN_ITEMS_ENV] = str(ann.config.min_items if ann is not None else len(items) + 1)
        version = reg.register("als", model, metrics={}, params={"bench": "ann"})
        reg.promote("als", version.version)
        log.info("%s: registered in %.1fs", label, time.perf_counter() - start)
        port = sb.free_port()
        proc = sb.start([str(VENV_BIN / "recsys"), "serve", "--registry", str(reg.root), "--host", "127.0.0.1",
                         "--port", str(port), "--landing", str(tmp / "landing"), "--reload-interval", "0"],
                        f"http://127.0.0.1:{port}/ready", env={"OMP_NUM_THREADS": "1"})
        try:
            out[label] = sb.measure(label, f"http://127.0.0.1:{port}", tmp, users, "als", secs, 16)
        finally:
            sb.stop(proc)
    out["bare FastAPI"] = max(bare_runs, key=lambda r: r["saturation"]["rps"])
    out["bare FastAPI"]["runs_rps"] = [r["saturation"]["rps"] for r in bare_runs]
    bare = out["bare FastAPI"]["saturation"]["rps"]
    for r in out.values():
        r["ratio_to_bare"] = round(r["saturation"]["rps"] / bare, 3)
    return out


def _measure_bare(sb: Any, tmp: Path, users: list[str], duration: float) -> dict[str, Any]:
    port = sb.free_port()
    proc = sb.start([str(VENV_BIN / "uvicorn"), "--app-dir", str(tmp), "bare_app:app", "--host", "127.0.0.1",
                     "--port", str(port), "--log-level", "warning", "--no-access-log"],
                    f"http://127.0.0.1:{port}/users/1/recommendations")
    try:
        return sb.measure("bare", f"http://127.0.0.1:{port}", tmp, users, "als", duration, 16)
    finally:
        sb.stop(proc)


def write_markdown(path: Path, res: dict[str, Any]) -> None:
    rows = ["| index | items | setting | build s | index MB | p50 ms | p99 ms | CPU p99 ms | recall@10 |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for m in res["methods"].values():
        for setting, r in m["settings"].items():
            rows.append(f"| {m['library']} | {m['items']:,} | {setting} | {m['build_s']} | {m['index_mb']} | "
                        f"{r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['cpu_p99_ms']:.3f} | {r['recall@10']:.4f} |")
    g = res["goals"]
    text = ["# ANN retrieval bench", "",
            f"Top-{K} by inner product over {res['items']:,} items x {res['dim']} dims, {res['queries']} queries, one "
            "query at a time on one thread; p50/p99 are wall-clock, CPU p99 is the searching thread's CPU time "
            "(wall-clock tails include waits for a core on this shared machine). Vectors are generated (4096 Gaussian "
            "clusters, noise as large as the centres, log-normal norms), not learnt; recall@10 is against exact "
            "scoring.", "", *rows, "",
            f"The served index ({_KIND_NAMES[res['chosen'].get('kind', 'ivf')]}, "
            f"nprobe={res['chosen']['nprobe']}): p99 "
            f"{res['chosen']['p99_ms']:.3f} ms wall-clock ({res['chosen']['cpu_p99_ms']:.3f} ms CPU) at recall@10 "
            f"{res['chosen']['recall@10']:.4f}. Goal p99 <= 2 ms at recall@10 >= 0.95: wall-clock "
            f"**{'met' if g['ann_latency_recall'] else 'missed'}**, CPU time "
            f"**{'met' if g['ann_cpu_latency_recall'] else 'missed'}**.", ""]
    if res.get("serve"):
        text += [f"## End to end: `GET /users/{{id}}/recommendations?k=10` on a {res['items']:,}-item ALS model", "",
                 "| endpoint | req/s (saturated, c=16) | p50 ms | p99 ms | x bare |", "|---|---:|---:|---:|---:|"]
        for name, r in res["serve"].items():
            s = r["saturation"]
            text.append(f"| {name} | {s['rps']:.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
                        f"{r['ratio_to_bare']:.2f} |")
        text += ["", "One uvicorn worker each, loopback, wrk -t1 (bench/serve.py's runner); bare FastAPI was measured "
                 "before each recsys run and the best of those runs is the reference; the ALS factors are the "
                 f"generated vectors above, 20 seen items per user. Goal >= 0.5x bare: "
                 f"**{'met' if g['serve_ratio'] else 'missed'}**.", ""]
    text += ["## Why faiss, and IVF-Flat by default", "", res["why"], "", f"Machine: {res['machine']}.", "",
             f"Command: `{res['command']}`", ""]
    path.write_text("\n".join(text))


WHY = ("faiss (Meta; releases every few months) and usearch (Unum; frequent releases) are both well kept; "
       "hnswlib's last release is from 2023, so it was not considered. recsys uses faiss: one library for the "
       "inverted file, the HNSW graph and the exhaustive index the tests compare against (IndexFlatIP), in its own "
       "binary format (faiss.write_index, no pickle). The inverted file (IVF-Flat) is the default: at a million "
       "items it meets the recall goal at a fraction of a millisecond of CPU per query and builds in about two "
       "minutes on two shared cores, where faiss's HNSW graph of the same million items did not finish building "
       "in the half hour one run could give it (it is built once per registered version, every night; see the "
       "build seconds of the graph rows above). In a development run on 30k items the inverted file needed "
       "nprobe=256 for recall 0.91 where faiss's HNSW reached 0.95 at ef_search=64 (small clusters), so "
       "`AnnConfig(kind=\"hnsw\")` is "
       "there for catalogues near the 100k threshold (not re-measured here). usearch's graph reached lower recall "
       "than faiss's at the same beam and built slower.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--methods", default="ivf,hnsw,usearch")
    ap.add_argument("--graph-items", type=int, default=200_000,
                    help="HNSW graphs (faiss, usearch) build slowly on two shared cores: measured on the first N "
                         "items only.")
    ap.add_argument("--duration", type=float, default=8.0, help="Seconds per wrk measurement.")
    ap.add_argument("--no-serve", action="store_true", help="Skip the end-to-end service measurement.")
    ap.add_argument("--cache", type=Path, help="Folder keeping built indexes between runs (same seed, same vectors).")
    ap.add_argument("--serve-kind", default="ivf", choices=["ivf", "ivfpq"],
                    help="The inverted file measured first and served end to end (its nprobe default is 'chosen').")
    ap.add_argument("--out", default="ann", help="Result file name under bench/results (no suffix).")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import faiss

    load = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4096, args.dim), dtype=np.float32)
    items = vectors(args.items, args.dim, rng, centres)
    queries = vectors(args.queries, args.dim, rng, centres)
    truth = exact_top(items, queries, K)
    from recsys.models.ann import AnnConfig

    default = AnnConfig()
    res: dict[str, Any] = {"bench": "ann", "out": args.out, "items": args.items, "dim": args.dim,
                           "queries": args.queries,
                           "methods": {}, "chosen": {}, "why": WHY,
                           "machine": f"{cpu_model()}, {os.cpu_count()} cores shared with other work (load average "
                                      f"{load:.1f} at start), faiss {faiss.__version__}",
                           "command": "python bench/ann.py " + " ".join(sys.argv[1:])}
    names = args.methods.split(",")
    served = args.serve_kind
    if served in names:  # the served index first, then the service on it, then the others: each result is
        res["methods"][served], index = bench_recsys(served, items, queries, truth, args.cache)  # written at once
        res["chosen"] = {"kind": served, "nprobe": default.nprobe,
                         **res["methods"][served]["settings"][f"nprobe={default.nprobe}"]}
        _finish(res)
        if not args.no_serve:
            with tempfile.TemporaryDirectory(prefix="bench-ann-") as tmp:
                res["serve"] = bench_serve(items, vectors(3000, args.dim, rng, centres), index, args.duration,
                                           Path(tmp))
            _finish(res)
    for name in names:
        if name == served:
            continue
        if name == "usearch" and importlib.util.find_spec("usearch") is None:
            log.warning("usearch is not installed (pip install usearch): its rows are skipped")
            continue
        n = args.items if name.startswith("ivf") else min(args.graph_items, args.items)
        sub_truth = truth if n == args.items else exact_top(items[:n], queries, K)
        res["methods"][name] = bench_usearch(items[:n], queries, sub_truth) if name == "usearch" else \
            bench_recsys(name, items[:n], queries, sub_truth, args.cache)[0]
        _finish(res)
    print(json.dumps({"chosen": res["chosen"], "goals": res["goals"]}))


def _finish(res: dict[str, Any]) -> None:
    """Goals from what has been measured so far, then the result files (rewritten after every stage)."""
    chosen = res["chosen"]
    serve = res.get("serve", {}).get("recsys als, ANN index")
    res["goals"] = {"ann_latency_recall": bool(chosen) and chosen["p99_ms"] <= 2 and chosen["recall@10"] >= 0.95,
                    "ann_cpu_latency_recall": bool(chosen) and chosen["cpu_p99_ms"] <= 2
                    and chosen["recall@10"] >= 0.95,
                    "serve_ratio": serve is not None and serve["ratio_to_bare"] >= 0.5}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{res['out']}.json").write_text(json.dumps(res, indent=2) + "\n")
    write_markdown(RESULTS / f"{res['out']}.md", res)


if __name__ == "__main__":
    main()
