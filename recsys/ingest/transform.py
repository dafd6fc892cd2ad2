"""The reading path with a `MapSpec`: picks the nested reader or a vendor adapter where the options call for one,
else the source's own reader, and applies constants and event names to every chunk.

`SourceReader` also gathers what a read learns beyond events: identity links stated by vendor records and the
count of identity-only calls, for the run's report.
"""

from __future__ import annotations

from collections.abc import Iterator

from recsys.errors import InputError
from recsys.ingest.adapters import ADAPTERS, AdapterReader
from recsys.ingest.mapping import MapSpec, finish
from recsys.ingest.nested import NestedReader
from recsys.ingest.readers import Chunk
from recsys.ingest.sources import Source


def prepare(src: Source, spec: MapSpec) -> None:
    """Check that `spec` suits the source's format and set what the format implies (a vendor's time unit)."""
    adapter = ADAPTERS.get(src.fmt)
    if adapter is not None:
        if spec.paths or spec.explode:
            raise InputError(f"--format {src.fmt} maps the vendor's fields itself: drop --map/--explode "
                             "(--set and --event-map still apply)")
        if src.ts_unit is None:
            src.ts_unit = adapter.ts_unit
        src.notes.append(adapter.note)
        return
    if spec.nested and src.fmt not in ("jsonl", "parquet"):
        raise InputError(f"{src.path}: --explode and dotted --map paths need JSON Lines or Parquet, "
                         f"not {src.fmt}")
    src.fixed = tuple(spec.constants)


class SourceReader:
    """One source's chunks through `spec`; `links` and `identity_records` fill as it is read."""

    def __init__(self, src: Source, spec: MapSpec) -> None:
        self.src = src
        self.spec = spec
        self.links: set[tuple[str, str]] = set()
        self.identity_records = 0

    def chunks(self) -> Iterator[Chunk]:
        src = self.src
        adapter = ADAPTERS.get(src.fmt)
        if adapter is not None:
            reader = AdapterReader(adapter, src.block_bytes)
            yield from (finish(c, self.spec) for c in reader.read(src.path))
            self.links = reader.links
            self.identity_records = reader.identity_records
            if reader.identity_records:
                src.notes.append(f"{reader.identity_records} identity call(s) linked ids and gave no events")
            return
        if self.spec.nested:
            nested = NestedReader(self.spec, fast=src.fast, block_bytes=src.block_bytes)
            yield from (finish(c, self.spec) for c in nested.read(src.path, parquet=src.fmt == "parquet"))
            return
        yield from (finish(c, self.spec) for c in src.read())
