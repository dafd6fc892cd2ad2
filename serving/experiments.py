"""Online evaluation on the request path: request ids, impression logging and experiment assignment.

While an experiment runs, a recommendation request that names no model is answered by the user's arm (A/B) or by
the team-draft interleaving of both arms; a request that names a model bypasses experiments. One experiment decides
at a time: the earliest started of the running ones. Definitions are re-read when their folder changes (polled at
most every `poll_s`), so `recsys experiment start|stop` takes effect without a restart.
"""

from __future__ import annotations

import collections
import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request

from recsys.errors import RecsysError
from recsys.experiments.assignment import assign
from recsys.experiments.definitions import Arm, Experiment, ExperimentStore
from recsys.experiments.interleaving import team_draft
from serving.holder import LoadedModel, ModelHolder
from serving.impressions import ImpressionLog

log = logging.getLogger(__name__)

Ranker = Callable[[LoadedModel], dict[str, Any]]
"""Ranks for the request's user with a given model; returns the answer dict of the route."""


class ExperimentRouter:
    """The running experiments of a registry and the models their arms name."""

    def __init__(self, registry: Path, holder: ModelHolder, poll_s: float = 1.0) -> None:
        self.store = ExperimentStore(registry)
        self.holder = holder
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._fingerprint: tuple[int, int] | None = None
        self._checked = -1e18
        self._current: Experiment | None = None
        self._pinned: dict[tuple[str, int], LoadedModel] = {}

    def current(self) -> Experiment | None:
        """The experiment that answers requests naming no model (None when none runs)."""
        now = time.monotonic()
        if now - self._checked >= self.poll_s:
            self._checked = now
            fingerprint = self.store.fingerprint()
            if fingerprint != self._fingerprint:
                self._reload(fingerprint)
        return self._current

    def _reload(self, fingerprint: tuple[int, int]) -> None:
        with self._lock:
            running = [e for e in self.store.list() if e.running]
            running.sort(key=lambda e: (e.started, e.name))
            self._current = running[0] if running else None
            self._fingerprint = fingerprint
        log.info("experiment answering requests: %s", self._current.name if self._current else "none")

    def model(self, arm: Arm) -> LoadedModel | None:
        """The served model of `arm`: its production version from the holder, or a pinned version loaded once."""
        served = self.holder.models.get(arm.model)
        if arm.version is None or (served is not None and served.version == arm.version):
            return served
        key = (arm.model, arm.version)
        if key not in self._pinned:
            try:
                model, mv = self.holder.registry.load(arm.model, arm.version)
            except (RecsysError, OSError, ValueError) as err:
                log.error("arm %s cannot be served: %s", arm, err)
                return None
            self._pinned[key] = LoadedModel(arm.model, mv.version, model, mv.manifest, time.time(),
                                            served.categories if served else {})
        return self._pinned[key]


class RequestIds:
    """Unique request ids: a random 64-bit prefix per process and a counter (cheaper than a uuid4 per answer)."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._count = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._count):012x}"


class OnlineEval:
    """What the recommendation routes call: experiment answers and impression logging."""

    def __init__(self, router: ExperimentRouter, impressions: ImpressionLog | None) -> None:
        self.router = router
        self.impressions = impressions
        self.ids = RequestIds()
        self.served: collections.Counter[tuple[str, str]] = collections.Counter()
        """Answers this process gave per (experiment, arm) since it started: the dashboard's live counts."""

    def logged(self, answer: dict[str, Any], surface: str, *, credit: list[str] | None = None,
               item_id: str | None = None) -> dict[str, Any]:
        """`answer` with a fresh ``request_id`` (and null experiment/arm when absent), logged as an impression."""
        request_id = answer.get("request_id") or self.ids.next()
        answer["request_id"] = request_id
        answer.setdefault("experiment", None)
        answer.setdefault("arm", None)
        if answer["experiment"] is not None:
            self.served[(answer["experiment"], str(answer["arm"]))] += 1
        if self.impressions is None:
            return answer
        now = datetime.now(UTC)
        try:
            self.impressions.append({
                "request_id": request_id, "ts": now.isoformat(timespec="microseconds"), "surface": surface,
                "user_id": answer.get("user_id"), "item_id": item_id, "model": answer["model"],
                "version": answer["version"], "experiment": answer["experiment"], "arm": answer["arm"],
                "items": [i["item_id"] for i in answer["items"]], "credit": credit}, now)
        except OSError as err:  # a full or missing landing folder: the answer still goes out, flagged
            log.error("impression %s not logged: %s", request_id, err)
            answer["degraded"] = sorted({*answer.get("degraded", []), "impressions"})
        return answer

    def in_experiment(self, user_id: str, k: int, rank: Ranker) -> dict[str, Any] | None:
        """The logged answer of the running experiment for `user_id`, or None (no experiment, or an arm's model is
        not served: the request then takes the default path)."""
        exp = self.router.current()
        if exp is None:
            return None
        if exp.mode == "interleaving":
            return self._interleaved(exp, k, rank)
        arm = assign(exp.salt, user_id, exp.weights)
        lm = self.router.model(exp.arms[arm])
        if lm is None:
            return None
        answer = rank(lm)
        answer["experiment"], answer["arm"] = exp.name, arm
        return self.logged(answer, "user")

    def _interleaved(self, exp: Experiment, k: int, rank: Ranker) -> dict[str, Any] | None:
        names = list(exp.arms)[:2]
        lm_a, lm_b = self.router.model(exp.arms[names[0]]), self.router.model(exp.arms[names[1]])
        if lm_a is None or lm_b is None:
            return None
        models = (lm_a, lm_b)
        first, second = rank(lm_a), rank(lm_b)
        request_id = self.ids.next()
        scores = {n: {i["item_id"]: i["score"] for i in a["items"]} for n, a in zip(names, (first, second),
                                                                                      strict=True)}
        items, credit = team_draft([i["item_id"] for i in first["items"]], [i["item_id"] for i in second["items"]],
                                   k, request_id, (names[0], names[1]))
        answer = {"user_id": first["user_id"], "request_id": request_id,
                  "items": [{"item_id": i, "score": scores[c][i], "arm": c} for i, c in zip(items, credit,
                                                                                            strict=True)],
                  "model": "+".join(m.name for m in models), "version": 0,
                  "fallback": bool(first["fallback"] and second["fallback"]), "experiment": exp.name,
                  "arm": "interleaved",
                  "arms": {n: {"model": m.name, "version": m.version} for n, m in zip(names, models, strict=True)}}
        return self.logged(answer, "user", credit=credit)

    def close(self) -> None:
        if self.impressions is not None:
            self.impressions.close()


async def get_online(request: Request) -> OnlineEval:
    return request.app.state.online


OnlineDep = Annotated[OnlineEval, Depends(get_online)]
