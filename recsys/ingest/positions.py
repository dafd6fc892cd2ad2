"""The optional `position` column of events: the item's place in the answer it was shown in (1 = top)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.ingest.arrowutil import bool_scalar, bool_to_arrow, int_to_arrow, null_scalar

NumberParser = Callable[[pa.Array], tuple[pa.Array, pa.Array]]


def parse_position(col: pa.Array | None, n: int, parse_numbers: NumberParser) -> tuple[pa.Array, pa.Array | None]:
    """int32 positions (1 = top of the list) and a mask of present values that are not whole numbers >= 1; text is
    read by `parse_numbers` (validate's number rules)."""
    if col is None:
        return pa.nulls(n, pa.int32()), None
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_null(t):
        return pa.nulls(n, pa.int32()), None
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        values, bad = parse_numbers(col.cast(pa.string()))
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        values, bad = col.cast(pa.float64()), bool_to_arrow(np.zeros(n, dtype=bool))
    else:
        return pa.nulls(n, pa.int32()), bool_to_arrow(np.ones(n, dtype=bool))
    v = pc.fill_null(values, 1.0).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        wrong = ~np.isfinite(v) | (v < 1) | (v > 2**31 - 1) | (v != np.floor(v))
    bad = pc.or_(pc.fill_null(bad, bool_scalar(False)), pc.and_(bool_to_arrow(wrong), pc.is_valid(values)))
    whole = int_to_arrow(np.where(wrong, 0, v).astype(np.int64))
    ints = pc.if_else(bool_to_arrow(wrong), null_scalar(pa.int64()), whole)
    return pc.if_else(pc.is_valid(values), ints, null_scalar(pa.int64())).cast(pa.int32()), bad
