"""Parquet sources: row batches whose columns keep their types (validate converts ids, times and values)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.errors import DamagedSourceError, InputError
from recsys.ingest.readers.blocks import Chunk, source_names


class ParquetReader:
    """Parquet files in row batches; columns keep their types (validate converts ids, times and values)."""

    def __init__(self, mapping: dict[str, str], batch_rows: int = 256_000) -> None:
        self.names = source_names(mapping)
        self.batch_rows = batch_rows

    def read(self, path: Path) -> Iterator[Chunk]:
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(f"{path} is not a readable Parquet file: {err}") from err
        wanted = {f: src for f, src in self.names.items() if src in pf.schema_arrow.names}
        row = 0
        batches = pf.iter_batches(batch_size=self.batch_rows, columns=sorted(set(wanted.values())))
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowInvalid, OSError) as err:
                raise DamagedSourceError(f"{path} is damaged after row {row:,}: {err}; the rows before it were "
                                         "read", path=str(path)) from err
            if batch is None:
                return
            cols = {f: batch.column(src) for f, src in wanted.items()}
            rows = np.arange(row + 1, row + 1 + batch.num_rows, dtype=np.int64)
            row += batch.num_rows

            def raw(positions: Sequence[int], batch: pa.RecordBatch = batch) -> list[str]:
                sub = batch.take(pa.array(np.asarray(positions, dtype=np.int64))).to_pylist()
                return [json.dumps(r, default=str, ensure_ascii=False) for r in sub]

            yield Chunk(cols, rows, raw)
