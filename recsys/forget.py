"""Erasure: remove one person's data from the lake, the landing folder and the identity map, and mark the erasure
in the registry so models trained before it stop using what they learned about the person.

The person is the given user id plus every id stitched to it (`recsys.identity.ids_of`). Each affected Parquet
file (``LAKE/events/dt=*/``, ``LAKE/impressions/dt=*/``) is rewritten through a temp file and one rename, so a
reader sees the old or the new file, never a mix; a file left empty is removed. A manifest
(``LAKE/_manifests/forget-*.json``) records, per dataset, the rows before, removed and after (the quarantine's
rejected rows go too where their raw text names one of the ids: `mentions`), and holds the
subject only as a keyed hash (`subject_hash`), as do the log lines and the registry's ``_erasures/`` markers.
Running it again finds nothing to remove and says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys.atomic import write_text_atomic
from recsys.errors import InputError
from recsys.events import EVENTS_DIR, MANIFESTS_DIR, PARTITION_KEY, QUARANTINE_DIR
from recsys.identity import MAX_ID_LENGTH, id_bytes, ids_of, remove_ids
from recsys.impressions import IMPRESSIONS_DIR
from recsys.ingest.writer import lake_lock

log = logging.getLogger(__name__)


ERASURES_DIR = "_erasures"
DATASETS = (EVENTS_DIR, IMPRESSIONS_DIR)


def subject_hash(user_id: str) -> str:
    """The id under which an erasure is recorded: a keyed hash, so logs and markers hold no personal data."""
    data = user_id.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16, person=b"recsys-erasure").hexdigest()


@dataclass
class DatasetErasure:
    """One dataset's erasure: rows counted before and after (conservation) and the partition files it touched."""

    rows_before: int = 0
    rows_removed: int = 0
    rows_after: int = 0
    files_rewritten: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    """Files left with no row, deleted (paths under the dataset's folder, as the other list)."""


@dataclass
class ErasureReport:
    """What one erasure removed; `subjects` are hashes of the ids (the user and the ids stitched to it)."""

    run_id: str
    subjects: list[str]
    erased_at: str
    datasets: dict[str, DatasetErasure] = field(default_factory=dict)
    identity_links_removed: int = 0
    landing_rows_removed: int = 0
    registry_marked: bool = False
    manifest: str = ""

    @property
    def rows_removed(self) -> int:
        return sum(d.rows_removed for d in self.datasets.values()) + self.landing_rows_removed

    @property
    def conserved(self) -> bool:
        return all(d.rows_before == d.rows_removed + d.rows_after for d in self.datasets.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rows_removed"] = self.rows_removed
        d["conserved"] = self.conserved
        return d


def check_user_id(user_id: str) -> str:
    """The id to erase, trimmed; InputError when it is blank or too long."""
    user_id = user_id.strip()
    if not user_id or id_bytes(user_id) > MAX_ID_LENGTH:
        raise InputError(f"the user id to erase must be 1 to {MAX_ID_LENGTH} bytes, got {user_id!r}")
    return user_id


def forget_user(user_id: str, lake: str | Path, registry: str | Path | None = None, *,
                landing: str | Path | None = None, now: datetime | None = None) -> ErasureReport:
    """Erase `user_id` (and the ids stitched to it) from `lake`, `landing` and the identity map; mark `registry`."""
    user_id = check_user_id(user_id)
    lake = Path(lake)
    if not lake.is_dir():
        raise InputError(f"lake {lake} does not exist")
    now = now or datetime.now(UTC)
    with lake_lock(lake):
        ids = ids_of(lake, user_id)
        report = ErasureReport(run_id=f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
                               subjects=sorted(subject_hash(i) for i in ids),
                               erased_at=now.isoformat(timespec="seconds").replace("+00:00", "Z"))
        for name in DATASETS:
            if (lake / name).is_dir():
                report.datasets[name] = erase_rows(lake / name, ids)
        if (lake / QUARANTINE_DIR).is_dir():
            report.datasets[QUARANTINE_DIR] = erase_rows(lake / QUARANTINE_DIR, ids, column="raw")
        report.identity_links_removed = remove_ids(lake, ids)
        if landing is not None and Path(landing).is_dir():
            report.landing_rows_removed = erase_landing(Path(landing), ids)
        if registry is not None:
            mark_registry(Path(registry), report.subjects, report.erased_at)
            report.registry_marked = True
        report.manifest = str(_write_manifest(lake, report))
    log.info("erased subject %s (%d id(s)): %d row(s) removed, %d identity link(s); manifest %s",
             subject_hash(user_id), len(ids), report.rows_removed, report.identity_links_removed, report.manifest)
    return report


def mark_only(user_id: str, registry: str | Path | None, now: datetime | None = None) -> ErasureReport:
    """An erasure with no lake at hand: only the registry marker (models stop using the user's state)."""
    now = now or datetime.now(UTC)
    report = ErasureReport(run_id=f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}", subjects=[subject_hash(user_id)],
                           erased_at=now.isoformat(timespec="seconds").replace("+00:00", "Z"))
    if registry is not None:
        mark_registry(Path(registry), report.subjects, report.erased_at)
        report.registry_marked = True
    log.info("erased subject %s in the registry and the online store only (no lake)", report.subjects[0])
    return report


def erase_rows(root: Path, ids: set[str], column: str = "user_id") -> DatasetErasure:
    """Remove rows whose ``user_id`` is one of `ids` from every ``dt=*`` Parquet file under `root`; with
    ``column="raw"`` (the quarantine), rows whose raw text holds one of `ids` as a field value."""
    out = DatasetErasure()
    value_set = pa.array(sorted(ids), pa.string())
    for path in sorted(root.glob(f"{PARTITION_KEY}=*/*.parquet")):
        pf = pq.ParquetFile(path)
        n = pf.metadata.num_rows
        out.rows_before += n
        if column not in pf.schema_arrow.names:
            out.rows_after += n
            continue
        values = pq.read_table(path, columns=[column])[column]
        if column == "raw":
            hit = pa.array([v is not None and mentions(v, ids) for v in values.to_pylist()], pa.bool_())
        else:
            hit = pc.is_in(values, value_set=value_set)
        removed = pc.sum(hit).as_py() or 0
        out.rows_after += n - removed
        if not removed:
            continue
        out.rows_removed += removed
        keep = pq.read_table(path).filter(pc.invert(hit))
        if keep.num_rows == 0:
            path.unlink()
            out.files_removed.append(str(path.relative_to(root)))
            continue
        tmp = path.with_name(f".{path.name}.forget.tmp")
        pq.write_table(keep, tmp)
        os.replace(tmp, path)
        out.files_rewritten.append(str(path.relative_to(root)))
    return out


def mentions(raw: str, ids: set[str]) -> bool:
    """Whether a rejected row's raw text holds one of `ids` as a value: any JSON string or integer for JSON rows,
    any field for delimited ones. Errs on the side of erasing (another user's row naming the id as an item goes
    too): quarantined rows are diagnostics, not data the pipeline uses."""
    try:
        obj = json.loads(raw)
    except ValueError:
        fields = re.split(r"::|[,\t;|]", raw)
        return any(f.strip().strip('"') in ids for f in fields)
    return _json_mentions(obj, ids)


def _json_mentions(obj: Any, ids: set[str]) -> bool:
    if isinstance(obj, dict):
        return any(_json_mentions(v, ids) for v in obj.values())
    if isinstance(obj, list):
        return any(_json_mentions(v, ids) for v in obj)
    if isinstance(obj, bool) or obj is None:
        return False
    return isinstance(obj, str | int) and str(obj).strip() in ids


def erase_landing(folder: Path, ids: set[str]) -> int:
    """Drop the person's events from the service's landing JSON Lines (they would come back at the next ingest)."""
    removed = 0
    for path in sorted(folder.glob("*.jsonl")):
        kept: list[bytes] = []
        dropped = 0
        with open(path, "rb") as f:
            for line in f:
                try:
                    obj = json.loads(line)
                except ValueError:
                    kept.append(line)
                    continue
                if isinstance(obj, dict) and str(obj.get("user_id")) in ids:
                    dropped += 1
                else:
                    kept.append(line)
        if dropped:
            tmp = path.with_name(f".{path.name}.forget.tmp")
            tmp.write_bytes(b"".join(kept))
            os.replace(tmp, path)
            removed += dropped
    return removed


def mark_registry(registry: Path, subjects: list[str], erased_at: str) -> None:
    """One marker per subject in ``REGISTRY/_erasures/``; the first erasure time of a subject is kept."""
    folder = registry / ERASURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for subject in subjects:
        path = folder / f"{subject}.json"
        if not path.exists():
            write_text_atomic(path, json.dumps({"subject": subject, "erased_at": erased_at}) + "\n")


def registry_erasures(registry: str | Path) -> dict[str, str]:
    """subject hash -> erasure time (ISO-8601) of every erasure marked in `registry`."""
    folder = Path(registry) / ERASURES_DIR
    out: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(obj, dict) and isinstance(obj.get("erased_at"), str):
            out[path.stem] = obj["erased_at"]
    return out


def trained_before(created: Any, erased_at: str) -> bool:
    """Whether a model created at `created` (ISO-8601; unknown counts as before) may hold an erased user's state."""
    try:
        c = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        e = datetime.fromisoformat(erased_at.replace("Z", "+00:00"))
    except ValueError:
        return True
    return c <= e


def _write_manifest(lake: Path, report: ErasureReport) -> Path:
    path = lake / MANIFESTS_DIR / f"forget-{report.run_id}.json"
    report.manifest = str(path)
    return write_text_atomic(path, json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n")
