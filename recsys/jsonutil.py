"""The one conversion to plain JSON values (for files, XCom and run records)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """`obj` as plain JSON values: mappings and sequences recursively, numpy scalars and arrays as Python values,
    non-finite floats as None, paths as strings, dates and times in ISO 8601; anything else as its ``str``."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and callable(obj.tolist):
        return to_jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, date):
        return obj.isoformat()
    return str(obj)
