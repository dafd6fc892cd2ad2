"""Properties as text: the one canonical JSON form of an object, vectorised for string columns and structs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.ingest.arrowutil import arrow_to_bool, bool_scalar, bool_to_arrow, str_scalar

_NEEDS_ESCAPE = r'["\\\x00-\x1f]'


def canonical_json(obj: Any) -> str:
    """The one text form of a properties object: sorted keys, compact, nulls dropped, UTF-8 kept."""
    return json.dumps(_drop_nulls(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _drop_nulls(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_nulls(v) for v in obj]
    return obj


def json_object_column(fields: dict[str, pa.Array]) -> pa.Array:
    """Per row, the canonical JSON object of string `fields` (vectorised; Python only for rows with nulls/escapes)."""
    names = sorted(fields)
    n = len(fields[names[0]]) if names else 0
    if not names:
        return pa.array(["{}"] * n, pa.string())
    slow = bool_to_arrow(np.zeros(n, dtype=bool))
    for name in names:
        col = fields[name]
        slow = pc.or_(slow, pc.or_(pc.is_null(col),
                                   pc.fill_null(pc.match_substring_regex(col, _NEEDS_ESCAPE), bool_scalar(False))))
    pieces: list[Any] = []
    for i, name in enumerate(names):
        pieces += [str_scalar(("{" if i == 0 else ",") + json.dumps(name) + ':"'),
                   pc.fill_null(fields[name], str_scalar("")), str_scalar('"')]
    pieces[-1] = str_scalar('"}')
    fast = pc.binary_join_element_wise(*pieces, str_scalar(""))
    if not slow.true_count:
        return fast
    idx = np.flatnonzero(arrow_to_bool(slow))
    cols = {name: fields[name].take(idx).to_pylist() for name in names}
    texts = [canonical_json({name: cols[name][j] for name in names}) for j in range(len(idx))]
    out = fast.to_pylist()
    for j, i in enumerate(idx.tolist()):
        out[i] = texts[j]
    return pa.array(out, pa.string())


def _plain_type(t: pa.DataType) -> bool:
    """Types whose Python values print as the JSON they came from (no floats: 1 vs 1.0 would depend on the block)."""
    if pa.types.is_struct(t):
        return all(_plain_type(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _plain_type(t.value_type)
    return pa.types.is_string(t) or pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_null(t)


def struct_to_json(col: pa.Array) -> pa.Array | None:
    """JSON text of a struct column as the slow path would write it, or None when that cannot be guaranteed."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not _plain_type(col.type):
        return None
    flat = [col.type.field(i) for i in range(col.type.num_fields)]
    if flat and all(pa.types.is_string(f.type) for f in flat) and col.null_count == 0:
        return json_object_column({f.name: col.field(f.name) for f in flat})
    return pa.array([None if v is None else canonical_json(v) for v in col.to_pylist()], pa.string())
