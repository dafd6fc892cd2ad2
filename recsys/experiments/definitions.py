"""Experiment definitions, stored with the registry: ``REGISTRY/_experiments/<name>.json``, replaced atomically.

An experiment splits users between arms; an arm is a registered model, either its ``production`` alias (``als``,
it follows promotions) or a pinned version (``als@3``). Starting one checks that every arm exists and loads.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys.errors import ArtifactError, InputError
from recsys.registry import PRODUCTION, Registry, validate_name

log = logging.getLogger(__name__)

EXPERIMENTS_DIR = "_experiments"
MODES = ("ab", "interleaving")
RUNNING, STOPPED = "running", "stopped"
DEFAULT_WINDOW_H = 24.0


@dataclass(frozen=True)
class Arm:
    """One arm: a model name and a pinned version (None: whatever its production alias points at)."""

    model: str
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> Arm:
        name, sep, ver = text.strip().partition("@")
        try:
            validate_name(name)
        except ValueError as err:
            raise InputError(f"arm model {text!r}: {err}") from None
        if not sep:
            return cls(name)
        if not ver.isdecimal() or int(ver) < 1:
            raise InputError(f"arm {text!r}: the version after '@' must be a positive integer")
        return cls(name, int(ver))

    def __str__(self) -> str:
        return self.model if self.version is None else f"{self.model}@{self.version}"


@dataclass(frozen=True)
class Experiment:
    """A named split of users between arms (weights in percent), in A/B or team-draft interleaving mode."""

    name: str
    arms: dict[str, Arm]
    weights: dict[str, float]
    mode: str = "ab"
    salt: str = ""
    status: str = RUNNING
    started: str = ""
    stopped: str | None = None
    window_hours: float = DEFAULT_WINDOW_H
    versions: dict[str, int] = field(default_factory=dict)
    """The version each arm resolved to at start (for the report's offline metrics)."""

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arms"] = {k: str(v) for k, v in self.arms.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Experiment:
        try:
            arms = {str(k): Arm.parse(str(v)) for k, v in d["arms"].items()}
            weights = {str(k): float(v) for k, v in d["weights"].items()}
            return cls(name=str(d["name"]), arms=arms, weights=weights, mode=str(d.get("mode", "ab")),
                       salt=str(d.get("salt", "")), status=str(d.get("status", RUNNING)),
                       started=str(d.get("started", "")), stopped=d.get("stopped"),
                       window_hours=float(d.get("window_hours", DEFAULT_WINDOW_H)),
                       versions={str(k): int(v) for k, v in (d.get("versions") or {}).items()})
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ArtifactError(f"experiment definition is malformed ({err!r}); fix or remove the file") from None


def validate(exp: Experiment) -> None:
    """The rules every definition obeys (without touching the registry)."""
    validate_name(exp.name, "experiment name")
    if exp.mode not in MODES:
        raise InputError(f"--mode must be one of {', '.join(MODES)}, got {exp.mode!r}")
    if len(exp.arms) < 2:
        raise InputError(f"experiment {exp.name!r} needs at least two arms (--arm control=MODEL --arm treatment=MODEL)")
    if exp.mode == "interleaving" and len(exp.arms) != 2:
        raise InputError("interleaving compares exactly two arms")
    for arm in exp.arms:
        validate_name(arm, "arm name")
    if set(exp.weights) != set(exp.arms):
        raise InputError(f"weights name arms {sorted(exp.weights)} but the arms are {sorted(exp.arms)}")
    if any(w < 0 for w in exp.weights.values()) or sum(exp.weights.values()) <= 0:
        raise InputError(f"weights must be >= 0 with a positive sum, got {exp.weights}")
    if exp.window_hours <= 0:
        raise InputError(f"the attribution window must be positive, got {exp.window_hours} h")


class ExperimentStore:
    """Experiment definitions of one registry."""

    def __init__(self, registry: str | Path) -> None:
        self.registry = Registry(registry)
        self.folder = Path(registry) / EXPERIMENTS_DIR

    def _path(self, name: str) -> Path:
        return self.folder / f"{validate_name(name, 'experiment name')}.json"

    def fingerprint(self) -> tuple[int, int]:
        """Changes whenever a definition is written (the folder's mtime and entry count): a cheap poll."""
        try:
            st = self.folder.stat()
        except FileNotFoundError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_nlink)

    def list(self) -> list[Experiment]:
        """Every readable definition, by name; unreadable ones are logged and skipped."""
        if not self.folder.is_dir():
            return []
        out = []
        for p in sorted(self.folder.glob("*.json")):
            try:
                out.append(self.get(p.stem))
            except (ArtifactError, InputError, ValueError) as err:
                log.error("skipping experiment file %s: %s", p, err)
        return out

    def get(self, name: str) -> Experiment:
        path = self._path(name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            known = ", ".join(p.stem for p in sorted(self.folder.glob("*.json"))) if self.folder.is_dir() else ""
            raise InputError(f"no experiment {name!r} in registry {self.registry.root} (known: {known or 'none'})") \
                from None
        except (OSError, ValueError) as err:
            raise ArtifactError(f"experiment file {path} is unreadable: {err}") from err
        exp = Experiment.from_dict(data)
        validate(exp)
        return exp

    def start(self, exp: Experiment, *, check_load: bool = True) -> Experiment:
        """Validate `exp`, check its arms exist (and load), and save it as running. Refuses a running duplicate."""
        validate(exp)
        path = self._path(exp.name)
        if path.exists() and self.get(exp.name).running:
            raise InputError(f"experiment {exp.name!r} is already running; stop it first")
        versions = {arm: self._check_arm(arm, spec, check_load) for arm, spec in exp.arms.items()}
        started = datetime.now(UTC).isoformat(timespec="seconds")
        salt = exp.salt or secrets.token_hex(8)
        fresh = Experiment(exp.name, exp.arms, exp.weights, exp.mode, salt, RUNNING, started, None,
                           exp.window_hours, versions)
        self._write(fresh)
        log.info("experiment %s started: %s", exp.name, ", ".join(f"{a}={s}" for a, s in exp.arms.items()))
        return fresh

    def stop(self, name: str) -> Experiment:
        exp = self.get(name)
        if not exp.running:
            raise InputError(f"experiment {name!r} is not running (stopped {exp.stopped})")
        stopped = Experiment(**{**exp.__dict__, "status": STOPPED,
                                "stopped": datetime.now(UTC).isoformat(timespec="seconds")})
        self._write(stopped)
        return stopped

    def _check_arm(self, arm: str, spec: Arm, check_load: bool) -> int:
        ref = spec.version if spec.version is not None else PRODUCTION
        try:
            version = self.registry.resolve(spec.model, ref)
            if check_load:
                self.registry.load(spec.model, version)
        except (ArtifactError, InputError, OSError, ValueError) as err:
            raise InputError(f"arm {arm}={spec} cannot be served: {err}") from None
        return version

    def _write(self, exp: Experiment) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(exp.name)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(exp.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
