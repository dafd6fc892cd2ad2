"""Alerts a team wants in its chat: the gate refused a model, a production metric dropped against recent runs, the
quarantine or fallback rate jumped, a nightly task failed.

Each check is a pure function returning an `Alert` or None, so the nightly DAG, the CLI and the service decide
from the same rules; `send_alert` posts Slack-compatible JSON (``{"text": ..., "blocks": [...]}``, which Slack,
Mattermost, Rocket.Chat and most chat webhooks accept) and never raises: a chat outage must not fail a pipeline.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One message: what happened (``kind``), a one-line title and the numbers behind it."""

    kind: str
    title: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """Slack-compatible webhook JSON: a plain ``text`` fallback plus a section block with the details."""
        lines = [f"*{self.title}*"] + [f"- {k}: {_fmt(v)}" for k, v in self.details.items()]
        return {"text": f"[recsys] {self.title}",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}],
                "recsys": {"kind": self.kind, **{k: v for k, v in self.details.items()}}}


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def send_alert(url: str | None, alert: Alert | None, *, timeout: float = 5.0) -> bool:
    """POST `alert` to the webhook `url`; True when it was delivered (2xx). No URL or no alert: nothing sent."""
    if not url or alert is None:
        return False
    body = json.dumps(alert.payload(), default=str).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            ok = 200 <= answer.status < 300
    except (urllib.error.URLError, OSError, ValueError) as err:
        log.warning("alert %r not delivered to the webhook: %s", alert.kind, err)
        return False
    if not ok:
        log.warning("alert %r: the webhook answered %s", alert.kind, answer.status)
    return ok


def gate_refused(model: str, decision: Mapping[str, Any]) -> Alert | None:
    """The promotion gate kept production: say which model, by how much and why."""
    if decision.get("promoted", True):
        return None
    return Alert("gate_refused", f"{model}: candidate not promoted",
                 {k: decision[k] for k in ("version", "metric", "candidate_value", "production_value", "reason")
                  if k in decision})


def metric_drop(model: str, metric: str, history: Sequence[float], current: float, *,
                tolerance: float = 0.05, window: int = 5) -> Alert | None:
    """The production model's `metric` fell more than `tolerance` (relative) below the mean of the last `window`
    runs (`history`, oldest first, without the current one)."""
    recent = [float(v) for v in history[-window:] if v is not None]
    if not recent:
        return None
    baseline = sum(recent) / len(recent)
    if baseline <= 0 or current >= baseline * (1 - tolerance):
        return None
    return Alert("metric_drop", f"{model}: {metric} dropped {1 - current / baseline:.1%} against the last "
                                f"{len(recent)} run(s)", {"metric": metric, "current": current, "baseline": baseline})


def rate_jump(name: str, current: float, previous: float | None, *, at_least: float = 0.02,
              factor: float = 2.0) -> Alert | None:
    """A rate (quarantined rows, fallback answers) is at least `at_least` and `factor` times its previous value
    (or, with no previous value, at least `at_least`)."""
    if current < at_least or (previous is not None and current < factor * previous):
        return None
    return Alert(f"{name}_rate_jump", f"{name} rate jumped to {current:.1%}"
                 + (f" (was {previous:.1%})" if previous is not None else ""),
                 {"rate": current, "previous": previous})


def task_failed(dag_id: str, task_id: str, error: BaseException | str | None, *, run_id: str | None = None,
                try_number: int | None = None) -> Alert:
    """A scheduled task failed for good (Airflow's ``on_failure_callback`` calls this after the last retry)."""
    details: dict[str, Any] = {"dag": dag_id, "task": task_id}
    if run_id:
        details["run"] = run_id
    if try_number is not None:
        details["try"] = try_number
    details["error"] = str(error)[:500] if error is not None else "unknown"
    return Alert("task_failed", f"nightly task {dag_id}.{task_id} failed", details)


def run_alerts(registry: str | Path, run_id: str, *, metric: str = "ndcg@10", drop: float = 0.05,
               window: int = 5) -> list[Alert]:
    """The alerts one training run raises: each refused gate, and each model whose `metric` fell more than `drop`
    against its last `window` runs (from the registry's run records)."""
    from recsys.registry import RunStore

    store = RunStore(registry)
    run = store.get(run_id)
    earlier = [r for r in store.list() if r.run_id != run_id and (r.recorded or "") <= (run.recorded or "~")]
    out: list[Alert] = []
    for name, entry in run.models.items():
        if entry.gate is not None:
            refused = gate_refused(name, entry.gate.to_dict())
            if refused is not None:
                out.append(refused)
        current = entry.metrics.get(metric)
        history = [r.models[name].metrics.get(metric) for r in earlier if name in r.models]
        if current is not None:
            dropped = metric_drop(name, metric, [h for h in history if h is not None], float(current),
                                  tolerance=drop, window=window)
            if dropped is not None:
                out.append(dropped)
    return out


def notify(url: str | None, alerts: Sequence[Alert]) -> int:
    """Send every alert to the webhook; how many were delivered."""
    return sum(send_alert(url, a) for a in alerts)
