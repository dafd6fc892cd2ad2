"""JSON files of the registry: read with clear errors, written durably (fsync) and atomically (temp + rename)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from recsys.errors import ArtifactError


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ArtifactError(f"{path} is missing; the registry entry is incomplete") from err
    except (OSError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{path} is unreadable or not JSON: {err}") from err
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} should hold a JSON object")
    return data


def write_json(path: Path, obj: Any) -> None:
    with path.open("w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())


def write_json_atomic(path: Path, obj: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


