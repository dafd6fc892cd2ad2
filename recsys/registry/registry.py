"""A model registry on the file system: immutable numbered versions, aliases as pointers, a promotion gate.

Layout::

    REGISTRY/<name>/<version>/{artifact/, manifest.json}   immutable, created by one atomic rename
    REGISTRY/<name>/aliases.json                           {"production": 3, ...}, replaced atomically
    REGISTRY/<name>/decisions.jsonl                        every promotion decision with its numbers
    REGISTRY/_runs/<run_id>.json                           training run records (`recsys.registry.runs`)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import math
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys.errors import ArtifactError, InputError
from recsys.jsonutil import to_jsonable
from recsys.registry.files import read_json as _read_json
from recsys.registry.files import write_json as _write_json
from recsys.registry.files import write_json_atomic as _write_json_atomic
from recsys.registry.gate import PromotionDecision, gate, paired_gate
from recsys.registry.litter import REGISTER_PREFIX, sweep_model_dir, sweep_work
from recsys.registry.manifest import (
    ARTIFACT_DIR,
    MANIFEST,
    MANIFEST_FORMAT,
    ModelVersion,
    checksums,
    library_versions,
    validate_name,
    validate_version,
    verify,
)
from recsys.workdirs import disown, owned_dir

if TYPE_CHECKING:
    from recsys.models.base import Recommender

log = logging.getLogger(__name__)

ALIASES = "aliases.json"
DECISIONS = "decisions.jsonl"
PRODUCTION = "production"
_LOCK = ".lock"


class Registry:
    """Models by name and version under one root folder (see the module docstring for the layout)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ---------------------------------------------------------------- paths
    @staticmethod
    def _check_alias(alias: str) -> str:
        validate_name(alias, "alias")
        if alias.isdecimal():
            raise ValueError(f"invalid alias {alias!r}: a number would be read as a version")
        return alias

    def _model_dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    def _version_dir(self, name: str, version: int) -> Path:
        return self._model_dir(name) / str(validate_version(version))

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[Path]:
        """Serialise read-modify-write of a model's alias file and decision log across processes."""
        model_dir = self._model_dir(name)
        model_dir.mkdir(parents=True, exist_ok=True)
        with (model_dir / _LOCK).open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield model_dir
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # ---------------------------------------------------------------- listing
    def names(self) -> list[str]:
        """Registered model names (folders holding at least one version)."""
        if not self.root.is_dir():
            return []
        out = []
        for p in sorted(self.root.iterdir()):
            if p.is_dir() and not p.name.startswith(("_", ".")) and any(_version_numbers(p)):
                out.append(p.name)
        return out

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of `name`, oldest first. A version whose manifest cannot be read has an empty manifest."""
        model_dir = self._model_dir(name)
        out = []
        for v in _version_numbers(model_dir):
            path = model_dir / str(v)
            try:
                manifest = _read_json(path / MANIFEST)
            except ArtifactError as err:
                log.warning("%s", err)
                manifest = {}
            out.append(ModelVersion(name, v, path, manifest))
        return out

    def version(self, name: str, ref: str | int = PRODUCTION) -> ModelVersion:
        """The version `ref` points at: a number, a decimal string, or an alias."""
        number = self.resolve(name, ref)
        path = self._version_dir(name, number)
        return ModelVersion(name, number, path, _read_json(path / MANIFEST))

    def resolve(self, name: str, ref: str | int = PRODUCTION) -> int:
        """The version number `ref` (number or alias) names; InputError when there is none."""
        model_dir = self._model_dir(name)
        if not model_dir.is_dir():
            known = ", ".join(self.names()) or "none"
            raise InputError(f"no model named {name!r} in registry {self.root} (known: {known})")
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdecimal()):
            number = validate_version(ref)
            if not (model_dir / str(number)).is_dir():
                raise InputError(f"model {name!r} has no version {number} (versions: {_version_numbers(model_dir)})")
            return number
        aliases = self.aliases(name)
        if ref not in aliases:
            raise InputError(f"model {name!r} has no alias {ref!r} (aliases: {aliases or 'none'}); promote a "
                             "version first")
        return aliases[ref]

    def aliases(self, name: str) -> dict[str, int]:
        path = self._model_dir(name) / ALIASES
        if not path.exists():
            return {}
        data = _read_json(path)
        return {str(k): int(v) for k, v in data.items()}

    def decisions(self, name: str) -> list[dict[str, Any]]:
        """Every promotion decision recorded for `name`, oldest first."""
        path = self._model_dir(name) / DECISIONS
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    # ---------------------------------------------------------------- register
    def register(
        self,
        name: str,
        model: Recommender,
        *,
        metrics: Mapping[str, float],
        data: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> ModelVersion:
        """Store `model` as the next version of `name` (see `register_artifact`)."""
        return self._store(name, model.save, model_name=model.name, params={**model.get_params(), **(params or {})},
                           metrics=metrics, data=data, run_id=run_id)

    def register_artifact(
        self,
        name: str,
        artifact: Path,
        *,
        metrics: Mapping[str, float],
        data: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> ModelVersion:
        """Store a saved model folder (`Recommender.save`) as the next version of `name`, by copying it.

        Idempotent per run: when a version of `name` registered by the same `run_id` holds the same files
        (sha256), that version is returned and nothing is written, so a retried registration step gives the same
        versions. Safe against concurrent registration: the version is written in a temporary folder and renamed
        onto its number in one step, so a reader never sees it half-written.
        """
        try:
            config = json.loads((Path(artifact) / "config.json").read_text())
            model_name, saved = str(config["model"]), dict(config.get("params") or {})
        except (OSError, KeyError, TypeError, json.JSONDecodeError) as err:
            raise ArtifactError(f"{artifact} is not a saved model folder (config.json: {err})") from err
        return self._store(name, lambda dest: shutil.copytree(artifact, dest), model_name=model_name,
                           params={**saved, **(params or {})}, metrics=metrics, data=data, run_id=run_id)

    def _store(self, name: str, write: Callable[[Path], Any], *, model_name: str, params: Mapping[str, Any],
               metrics: Mapping[str, float], data: Mapping[str, Any] | None, run_id: str | None) -> ModelVersion:
        model_dir = self._model_dir(name)
        model_dir.mkdir(parents=True, exist_ok=True)
        sweep_model_dir(model_dir)
        with owned_dir(model_dir, REGISTER_PREFIX) as tmp:
            write(tmp / ARTIFACT_DIR)
            manifest: dict[str, Any] = {
                "format": MANIFEST_FORMAT,
                "name": name,
                "version": None,
                "model": model_name,
                "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "run_id": run_id,
                "data": to_jsonable(dict(data or {})),
                "params": to_jsonable(dict(params)),
                "metrics": to_jsonable(dict(metrics)),
                "libraries": library_versions(),
                "files": {f"{ARTIFACT_DIR}/{k}": v for k, v in checksums(tmp / ARTIFACT_DIR).items()},
            }
            with self._locked(name):
                same = self._same_registration(name, run_id, manifest["files"])
                if same is not None:
                    log.info("%s version %d already holds run %s's model: not registered again", name,
                             same.version, run_id)
                    return same
                disown(tmp)
                return self._commit(name, tmp, manifest)

    def _same_registration(self, name: str, run_id: str | None, files: Mapping[str, str]) -> ModelVersion | None:
        if run_id is None:
            return None
        return next((v for v in self.versions(name)
                     if v.manifest.get("run_id") == run_id and v.manifest.get("files") == dict(files)), None)

    def _commit(self, name: str, tmp: Path, manifest: dict[str, Any]) -> ModelVersion:
        """Rename `tmp` onto the next free version number (two writers racing for one retry with the next)."""
        model_dir = self._model_dir(name)
        for _attempt in range(1000):
            number = max(_version_numbers(model_dir), default=0) + 1
            manifest["version"] = number
            _write_json(tmp / MANIFEST, manifest)
            try:
                os.rename(tmp, model_dir / str(number))
            except OSError as err:
                if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue  # another writer took this number: take the next
                raise
            log.info("registered %s version %d", name, number)
            return ModelVersion(name, number, model_dir / str(number), manifest)
        raise ArtifactError(f"could not find a free version number for {name!r}")  # pragma: no cover

    # ---------------------------------------------------------------- aliases and promotion
    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point `alias` at `version` (no gate). The alias file is replaced atomically."""
        self._check_alias(alias)
        number = self.resolve(name, validate_version(version))
        with self._locked(name) as model_dir:
            aliases = self.aliases(name)
            aliases[alias] = number
            _write_json_atomic(model_dir / ALIASES, aliases)

    def remove_alias(self, name: str, alias: str) -> None:
        with self._locked(name) as model_dir:
            aliases = self.aliases(name)
            if aliases.pop(alias, None) is not None:
                _write_json_atomic(model_dir / ALIASES, aliases)

    def promote(
        self,
        name: str,
        version: int,
        *,
        alias: str = PRODUCTION,
        metric: str = "ndcg@10",
        tolerance: float = 0.0,
        force: bool = False,
        reason: str | None = None,
        paired: Mapping[str, Any] | None = None,
    ) -> PromotionDecision:
        """Move `alias` to `version` if its `metric` is not worse than the current holder's by more than
        `tolerance` (absolute); `force` skips the gate. With `paired` (a paired comparison against the current
        holder on the same users, `recsys.training.compare`), the candidate must not be *significantly* worse by
        more than `tolerance`, and the decision says whether it is significantly better. Recorded either way. A
        version whose files fail their checksums is never promoted, forced or not (ArtifactError)."""
        self._check_alias(alias)
        if not math.isfinite(tolerance) or tolerance < 0:
            raise ValueError(f"tolerance must be a non-negative number, got {tolerance}")
        candidate = self._intact(name, validate_version(version), alias)
        with self._locked(name) as model_dir:
            aliases = self.aliases(name)
            current = aliases.get(alias)
            cand_value = _metric(candidate.manifest, metric)
            prod_value = None
            if current is not None and current != candidate.version:
                with contextlib.suppress(ArtifactError, InputError):
                    prod_value = _metric(self.version(name, current).manifest, metric)
            promoted, why = gate(alias=alias, metric=metric, candidate=candidate.version, current=current,
                                 candidate_value=cand_value, current_value=prod_value, tolerance=tolerance,
                                 force=force, reason=reason)
            improved = False
            usable = (paired is not None and not force and current is not None and current != candidate.version
                      and paired.get("production_version") == current and paired.get("metric") == metric)
            if usable:
                promoted, improved, why = paired_gate(paired, tolerance)  # type: ignore[arg-type]
            decision = PromotionDecision(name, candidate.version, alias, promoted, why, metric, cand_value,
                                         prod_value, current, improved, dict(paired) if usable else None)
            if promoted:
                aliases[alias] = candidate.version
                _write_json_atomic(model_dir / ALIASES, aliases)
            record = {"time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                      "tolerance": tolerance, "forced": force, **decision.to_dict()}
            with (model_dir / DECISIONS).open("a") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        log.info("promotion of %s v%d to %s: %s (%s)", name, candidate.version, alias,
                 "promoted" if promoted else "refused", why)
        return decision

    def _intact(self, name: str, version: int, alias: str) -> ModelVersion:
        """The version, after checking its files against their checksums (no alias ever points at damage)."""
        candidate = self.version(name, version)
        try:
            verify(candidate.path, candidate.manifest)
        except ArtifactError as err:
            raise ArtifactError(f"refusing to move {alias!r} of {name!r} to version {version}: {err}") from err
        return candidate

    def rollback(self, name: str, version: int | None = None, *, alias: str = PRODUCTION) -> PromotionDecision:
        """Point `alias` back at `version`, or at the version it held before the current one."""
        current = self.aliases(name).get(alias)
        if version is None:
            if current is None:
                raise InputError(f"model {name!r} has no {alias!r} version to roll back from")
            version = self._previous_holder(name, alias, current)
        return self.promote(name, version, alias=alias, force=True,
                            reason=f"rollback from version {current} to {version}")

    def _previous_holder(self, name: str, alias: str, current: int) -> int:
        existing = set(_version_numbers(self._model_dir(name)))
        for d in reversed(self.decisions(name)):
            prev = d.get("previous_version")
            if (d.get("alias") == alias and d.get("promoted") and d.get("version") == current
                    and prev is not None and prev != current and prev in existing):
                return int(prev)
        older = [v for v in existing if v < current]
        if not older:
            raise InputError(f"model {name!r}: no version before {current} to roll back to")
        return max(older)

    # ---------------------------------------------------------------- load
    def load(self, name: str, ref: str | int = PRODUCTION) -> tuple[Recommender, ModelVersion]:
        """Load version `ref` after checking every file against the manifest's sha256 (ArtifactError if not)."""
        from recsys.models.base import Recommender

        mv = self.version(name, ref)
        verify(mv.path, mv.manifest)
        return Recommender.load(mv.artifact), mv

    # ---------------------------------------------------------------- gc
    def gc(self, keep_last: int = 5, *, dry_run: bool = False) -> list[ModelVersion]:
        """Delete versions other than the newest `keep_last` and every aliased one. Returns what was removed."""
        if keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {keep_last}")
        removed = []
        for name in self.names():
            with self._locked(name) as model_dir:
                numbers = _version_numbers(model_dir)
                keep = set(numbers[-keep_last:]) | set(self.aliases(name).values())
                for v in numbers:
                    if v in keep:
                        continue
                    path = model_dir / str(v)
                    removed.append(ModelVersion(name, v, path, {}))
                    if not dry_run:
                        # Rename first so a half-deleted folder never looks like a version.
                        trash = model_dir / f".trash-{v}-{secrets.token_hex(4)}"
                        os.rename(path, trash)
                        shutil.rmtree(trash, ignore_errors=True)
                if not dry_run:
                    sweep_model_dir(model_dir, trash=True)
        if not dry_run:
            sweep_work(self.root)
        return removed


# -------------------------------------------------------------------- helpers
def _version_numbers(model_dir: Path) -> list[int]:
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.name.isdecimal() and p.is_dir())


def _metric(manifest: Mapping[str, Any], metric: str) -> float | None:
    raw = (manifest.get("metrics") or {}).get(metric)
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


