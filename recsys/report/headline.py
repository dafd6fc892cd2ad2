"""The report's verdict in plain words, its glossary, and CSV/JSON downloads of its tables.

`headline` says which version of each model serves after the run and whether the change is significant (from the
gate's paired comparison on the same test users), then what moved since the previous run. `downloads` turns every
table of the page into a ``data:`` link, so the page stays one self-contained file without scripts.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

LOWER_IS_BETTER = ("avg_popularity",)
"""Metrics where a smaller value is the better one (average popularity: less popularity bias)."""

GLOSSARY = (
    ("NDCG@K", "ranking quality of the top K: 1 when the held-out item is first, less the lower it is, 0 if absent"),
    ("HR@K", "hit rate: share of test users whose held-out item is in their top K"),
    ("recall@K / MRR@K", "share of a user's held-out items found in the top K / mean reciprocal rank of the first"),
    ("coverage@K", "share of the catalogue recommended to at least one test user"),
    ("novelty@K", "mean self-information of recommended items (higher: less popular items)"),
    ("avg_popularity@K", "mean training popularity of recommended items (lower: less popularity bias)"),
    ("95% CI", "bootstrap interval over test users: where the metric would land on another draw of users"),
    ("paired difference", "candidate minus production on the same test users, with its bootstrap interval: "
                          "significant (*) when the interval excludes zero"),
    ("gate", "production moves to the candidate unless it is significantly worse by more than the tolerance"),
)


def better(metric: str, delta: float | None) -> bool | None:
    """Whether `delta` (new - old) of `metric` is an improvement; None when there is no delta."""
    if delta is None or delta == 0:
        return None
    return (delta < 0) if metric.split("@", 1)[0] in LOWER_IS_BETTER else (delta > 0)


def _paired_words(p: Mapping[str, Any]) -> str:
    return (f"{p['metric']} {p['delta']:+.4f}, 95% CI {p['ci'][0]:+.4f} to {p['ci'][1]:+.4f}, "
            f"p={p['p_value']:.2g}, {p['n_users']} users")


def _model_line(g: Mapping[str, Any]) -> str:
    name, cand, prod = g["model"], g["candidate_version"], g["production_version"]
    p = g.get("paired")
    if not g.get("gated"):
        return f"{name} v{cand} was registered but not gated (trained without --promote)."
    if prod is None:
        return f"{name} v{cand} now serves: no version served before."
    if g.get("promoted"):
        if p is None:
            return f"{name} v{cand} replaces v{prod}: {g.get('reason', '')}."
        verdict = "significantly better" if g.get("improved") else "not significantly different"
        return f"{name} v{cand} replaces v{prod}: {verdict} ({_paired_words(p)})."
    why = f"significantly worse ({_paired_words(p)})" if p is not None else str(g.get("reason", "refused"))
    return f"{name} v{prod} keeps serving: candidate v{cand} was {why}."


def headline(report: Mapping[str, Any]) -> list[str]:
    """Sentences for the top of the page: the serving verdict per model, then the change since the last run."""
    lines = [_model_line(g) for g in report["gate"]]
    runs, current = report["history"]["runs"], report["history"]["current"]
    if current > 0:
        before, now = runs[current - 1], runs[current]
        moves = []
        for name, m in now["models"].items():
            old = before["models"].get(name, {}).get("ndcg@10")
            if old is not None and m.get("ndcg@10") is not None:
                moves.append(f"{name} {old:.4f} -> {m['ndcg@10']:.4f}")
        if moves:
            lines.append(f"Since the previous run ({before['run_id']}), ndcg@10: {'; '.join(moves)}.")
    else:
        lines.append("This is the first recorded run: no earlier run to compare with.")
    return lines


def _csv_link(name: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    data = base64.b64encode(buf.getvalue().encode()).decode()
    return {"name": name, "file": f"{name}.csv", "href": f"data:text/csv;base64,{data}"}


def downloads(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """``[{"name", "file", "href"}]``: each table of the page as CSV, and the whole report as JSON."""
    models = report["models"]
    keys = sorted({k for m in models.values() for k in m["metrics"]})
    metrics = [[n, m["version"], k, m["metrics"].get(k), *(m["ci"].get(k) or [None, None])]
               for n, m in models.items() for k in keys]
    gate = [[g["model"], g["candidate_version"], g["production_version"], g["promoted"], g.get("improved"),
             row["metric"], row["production"], row["candidate"], row["delta"]]
            for g in report["gate"] for row in g["comparison"]]
    history = [[p["run_id"], p["created_at"], n, m.get("version"), *(m.get(k) for k in report["history"]["metrics"])]
               for p in report["history"]["runs"] for n, m in p["models"].items()]
    segments = [[g["group"], s["segment"], s["users"], n, k, v]
                for g in report["segments"] for s in g["rows"] for n, vals in s["models"].items()
                for k, v in vals.items()]
    whole = base64.b64encode(json.dumps(report, default=str).encode()).decode()
    return [
        _csv_link("metrics", ["model", "version", "metric", "value", "ci_low", "ci_high"], metrics),
        _csv_link("gate", ["model", "candidate_version", "production_version", "promoted", "improved", "metric",
                           "production", "candidate", "delta"], gate),
        _csv_link("history", ["run_id", "created_at", "model", "version", *report["history"]["metrics"]], history),
        _csv_link("segments", ["group", "segment", "users", "model", "metric", "value"], segments),
        {"name": "report", "file": f"report-{report['run_id']}.json",
         "href": f"data:application/json;base64,{whole}"},
    ]
