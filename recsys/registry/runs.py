"""The training-run store: `TrainingRun` records as ``REGISTRY/_runs/<run_id>.json``, one file per run."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from pathlib import Path

from recsys.errors import ArtifactError, InputError
from recsys.jsonutil import to_jsonable
from recsys.registry.files import read_json, write_json_atomic
from recsys.registry.manifest import validate_name
from recsys.registry.run_record import TrainingRun

log = logging.getLogger(__name__)

RUNS_DIR = "_runs"


def new_run_id(now: datetime | None = None) -> str:
    """The one run-id generator: UTC time to the second plus six random hex digits (``20260102T030405Z-a1b2c3``)."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class RunStore:
    """Training runs of the registry at `root`: `save`, `get`, `list` (oldest first) and `latest`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.folder = self.root / RUNS_DIR

    def path(self, run_id: str) -> Path:
        """Where run `run_id` is (or would be) recorded; ValueError for an id that is not a plain name."""
        return self.folder / f"{validate_name(run_id, 'run id')}.json"

    def save(self, run: TrainingRun) -> TrainingRun:
        """Write `run` atomically (replacing an earlier record of the same id); stamps ``recorded`` when unset."""
        if run.recorded is None:
            run.recorded = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        path = self.path(run.run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, to_jsonable(run.to_dict()))
        return run

    def get(self, run_id: str) -> TrainingRun:
        """Run `run_id`; InputError when it is not recorded, ArtifactError when its record cannot be read."""
        path = self.path(run_id)
        if not path.exists():
            raise InputError(f"no training run {run_id!r} in registry {self.root}")
        return TrainingRun.from_dict(read_json(path))

    def list(self) -> list[TrainingRun]:
        """Every readable run, oldest first: by the time it was recorded, then (runs recorded within the same
        second) by the record file's modification time, which has sub-second resolution. A record that cannot be
        read is skipped with a warning."""
        if not self.folder.is_dir():
            return []
        keyed = []
        for path in self.folder.glob("*.json"):
            try:
                run = TrainingRun.from_dict(read_json(path))
            except ArtifactError as err:
                log.warning("skipping run record %s: %s", path.name, err)
                continue
            keyed.append(((str(run.recorded or ""), path.stat().st_mtime_ns, run.run_id), run))
        return [run for _, run in sorted(keyed, key=lambda kv: kv[0])]

    def latest(self) -> TrainingRun | None:
        """The newest run, or None before any."""
        runs = self.list()
        return runs[-1] if runs else None
