"""Sources: choose a reader for each file (plain formats and the public data set adapters) and map its columns.

Adapters turn a data set as its publisher ships it into canonical columns:

- ``movielens``: ``ratings.dat`` (``::``), 100K ``u.data`` (tabs), ``ratings.csv`` (header ``userId,movieId,...``),
  gzipped or not; event_type ``rating``, value = the rating, ts in epoch seconds.
- ``taobao``: UserBehavior CSV ``user,item,category,behavior,ts``; pv/cart/fav/buy -> view/add_to_cart/favorite/
  purchase; the raw behaviour and the category go into properties.
- ``amazon-seq``: ``user item1 item2 ...`` per line (S3-Rec/SASRec Beauty.txt); there are no timestamps, so ts is
  synthetic (2000-01-01 + the position in seconds), which keeps each user's order; properties says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.errors import InputError
from recsys.ingest.jsontext import json_object_column
from recsys.ingest.readers import (
    BLOCK_BYTES,
    Chunk,
    DelimitedReader,
    DelimitedSpec,
    JsonlReader,
    ParquetReader,
    Reject,
    iter_lines,
    open_binary,
    raw_text,
)
from recsys.ingest.validate import FIELDS, REQUIRED_SOURCE_FIELDS

FORMATS = ("auto", "jsonl", "csv", "parquet", "movielens", "taobao", "amazon-seq",
           "segment", "mixpanel", "amplitude", "ga4")  # the last four: recsys.ingest.adapters
TAOBAO_BEHAVIORS = {"pv": "view", "cart": "add_to_cart", "fav": "favorite", "buy": "purchase"}
AMAZON_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_US = 1_000_000


@dataclass
class Source:
    """One input file with its resolved format; `read()` yields chunks with canonical columns."""

    path: Path
    fmt: str
    mapping: dict[str, str]
    ts_unit: str | None = None
    notes: list[str] = field(default_factory=list)
    synthetic_ts: bool = False
    fast: bool = True
    block_bytes: int = BLOCK_BYTES
    fixed: tuple[str, ...] = ()  # fields given a constant value (--set): the source need not hold them

    def read(self) -> Iterator[Chunk]:
        if self.fmt == "jsonl":
            yield from JsonlReader(self.mapping, fast=self.fast, block_bytes=self.block_bytes).read(self.path)
        elif self.fmt == "parquet":
            yield from ParquetReader(self.mapping).read(self.path)
        elif self.fmt == "csv":
            yield from self._csv()
        elif self.fmt == "movielens":
            yield from self._movielens()
        elif self.fmt == "taobao":
            yield from self._taobao()
        elif self.fmt == "amazon-seq":
            yield from self._amazon()
        else:  # pragma: no cover - resolve() only returns known formats
            raise InputError(f"unknown format {self.fmt!r}")

    def _csv(self) -> Iterator[Chunk]:
        reader = DelimitedReader(DelimitedSpec(",", None), self.block_bytes)
        header = reader.header(self.path)
        names = {f: self.mapping.get(f, f) for f in FIELDS}
        absent = [f for f in REQUIRED_SOURCE_FIELDS if names[f] not in header and f not in self.fixed]
        if absent and header:
            self.notes.append(f"CSV header has no column for {', '.join(absent)} (header: {', '.join(header)}); "
                              f"every row is quarantined: map them with --map FIELD=COLUMN")
        for cols, chunk in reader.read(self.path):
            chunk.columns = {f: cols[src] for f, src in names.items() if src in cols}
            yield chunk

    def _movielens(self) -> Iterator[Chunk]:
        variant = movielens_variant(self.path)
        if variant == "dat":
            spec = DelimitedSpec("\t", ["user", "item", "rating", "ts"], rewrite=(b"::", b"\t"))
        elif variant == "tsv":
            spec = DelimitedSpec("\t", ["user", "item", "rating", "ts"])
        else:
            spec = DelimitedSpec(",", None)
        self.notes.append(f"movielens {variant} file: event_type 'rating', value = the rating, ts in epoch seconds")
        src = {"user": "user", "item": "item", "rating": "rating", "ts": "ts"} if variant != "csv" else \
            {"user": "userId", "item": "movieId", "rating": "rating", "ts": "timestamp"}
        for cols, chunk in DelimitedReader(spec, self.block_bytes).read(self.path):
            n = chunk.n
            if n:
                chunk.columns = {"user_id": cols[src["user"]], "item_id": cols[src["item"]],
                                 "event_type": pa.repeat(pa.scalar("rating"), n), "value": cols[src["rating"]],
                                 "ts": cols[src["ts"]]}
            yield chunk

    def _taobao(self) -> Iterator[Chunk]:
        spec = DelimitedSpec(",", ["user", "item", "category", "behavior", "ts"])
        self.notes.append("taobao: behavior pv/cart/fav/buy -> view/add_to_cart/favorite/purchase; raw behavior "
                          "and category kept in properties; ts in epoch seconds")
        keys = pa.array(list(TAOBAO_BEHAVIORS))
        vals = pa.array(list(TAOBAO_BEHAVIORS.values()))
        for cols, chunk in DelimitedReader(spec, self.block_bytes).read(self.path):
            if chunk.n:
                behavior = pc.utf8_lower(pc.utf8_trim_whitespace(cols["behavior"]))
                pos = pc.index_in(behavior, value_set=keys)
                event_type = pc.if_else(pc.is_valid(pos), vals.take(pc.fill_null(pos, 0)), behavior)
                chunk.columns = {"user_id": cols["user"], "item_id": cols["item"], "event_type": event_type,
                                 "ts": cols["ts"],
                                 "properties": json_object_column({"behavior": cols["behavior"],
                                                                   "category": cols["category"]})}
            yield chunk

    def _amazon(self) -> Iterator[Chunk]:
        self.synthetic_ts = True
        self.notes.append("amazon-seq: the source has no timestamps; ts is synthetic (2000-01-01T00:00:00Z plus the "
                          "item's position in seconds) and only keeps each user's order; properties.synthetic_ts=true")
        row = 0
        base = int(AMAZON_EPOCH.timestamp()) * _US
        for lines, long in iter_lines(self.path, self.block_bytes):
            users: list[str] = []
            items: list[str] = []
            pos: list[int] = []
            rejects = [Reject(0, line.reason, raw_text(line.head)) for _, line in long]
            for line in lines:
                try:
                    tokens = line.decode("utf-8").split()
                except UnicodeDecodeError:
                    rejects.append(Reject(0, "non_utf8", raw_text(line)))
                    continue
                if len(tokens) < 2:
                    rejects.append(Reject(0, "amazon_seq_no_items", raw_text(line)))
                    continue
                users += [tokens[0]] * (len(tokens) - 1)
                items += tokens[1:]
                pos += range(len(tokens) - 1)
            n = len(users)
            rows = np.arange(row + 1, row + 1 + n, dtype=np.int64)
            for k, r in enumerate(rejects):
                r.row = row + n + k + 1
            row += n + len(rejects)
            position = np.asarray(pos, dtype=np.int64)
            user_arr, item_arr = pa.array(users, pa.string()), pa.array(items, pa.string())
            cols = {"user_id": user_arr, "item_id": item_arr,
                    "event_type": pa.repeat(pa.scalar("review"), n),
                    "ts": pa.array(base + position * _US, pa.timestamp("us", tz="UTC")),
                    "properties": pa.array([f'{{"position":{p},"synthetic_ts":true}}' for p in pos], pa.string())}

            def raw(positions: Sequence[int], u: pa.Array = user_arr, i: pa.Array = item_arr) -> list[str]:
                return [f"{u[p].as_py()} ... {i[p].as_py()}" for p in positions]

            yield Chunk(cols, rows, raw, rejects)


def _first_line(path: Path) -> str:
    try:
        with open_binary(path) as f:
            for _ in range(5):
                line = f.readline(1 << 16)
                if not line:
                    return ""
                if line.strip():
                    return line.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace").strip()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err}") from err
    return ""


def _bare_name(path: Path) -> str:
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def movielens_variant(path: Path) -> str:
    """'dat' (``::``), 'tsv' (u.data) or 'csv' (ratings.csv with a header), from the content."""
    line = _first_line(path)
    if "::" in line:
        return "dat"
    if "\t" in line:
        return "tsv"
    if line.lower().startswith("userid,"):
        return "csv"
    if not line:
        return "tsv" if _bare_name(path).endswith(".data") else "dat"
    raise InputError(f"{path} does not look like MovieLens ratings (first line {line[:80]!r}); "
                     "expected UserID::MovieID::Rating::Timestamp, tab-separated u.data, or ratings.csv")


_TAOBAO_LINE = re.compile(r"^\d+,\d+,\d+,(pv|cart|fav|buy),\d+$")
_MOVIELENS_LINE = re.compile(r"^\d+(::|\t)\d+(::|\t)[\d.]+(::|\t)\d+$")
_AMAZON_LINE = re.compile(r"^\S+( \S+)+$")


def detect_format(path: Path, mapping: dict[str, str]) -> str:
    """Guess a file's format from its name and first line; refuse when unsure."""
    name = _bare_name(path)
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    line = _first_line(path)
    if re.match(r"^ratings.*\.(dat|csv)$", name) or name == "u.data" or _MOVIELENS_LINE.match(line):
        return "movielens"
    if name.startswith("userbehavior") or _TAOBAO_LINE.match(line):
        return "taobao"
    if name.endswith(".csv"):
        header = {c.strip() for c in line.split(",")}
        if all(mapping.get(f, f) in header for f in REQUIRED_SOURCE_FIELDS):
            return "csv"
        if {"userId", "movieId", "rating"} <= header:
            return "movielens"
    if line.startswith("{"):
        return "jsonl"
    if name.endswith(".txt") and _AMAZON_LINE.match(line):
        return "amazon-seq"
    raise InputError(f"cannot tell the format of {path} from its name and first line ({line[:60]!r}); "
                     f"pass --format with one of {', '.join(FORMATS[1:])}")


def expand_sources(paths: Sequence[Path]) -> list[Path]:
    """Files as given; a folder stands for its event files (*.jsonl, *.jsonl.gz, *.ndjson, *.parquet), sorted."""
    out: list[Path] = []
    missing: list[str] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith((".", "_"))
                           and q.name.lower().endswith((".jsonl", ".jsonl.gz", ".ndjson", ".parquet")))
            if not found:
                raise InputError(f"folder {p} holds no event files (*.jsonl, *.jsonl.gz, *.ndjson, *.parquet)")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            missing.append(str(p))
    if missing:
        raise InputError(f"source file(s) not found: {', '.join(missing)}; nothing was ingested")
    return out


def resolve(paths: Sequence[Path], fmt: str, mapping: dict[str, str], ts_unit: str | None) -> list[Source]:
    """A `Source` per file, all checked before anything is written."""
    if fmt not in FORMATS:
        raise InputError(f"unknown --format {fmt!r}; use one of {', '.join(FORMATS)}")
    sources = []
    for path in expand_sources(paths):
        kind = detect_format(path, mapping) if fmt == "auto" else fmt
        if kind == "movielens":
            movielens_variant(path)  # refuse early when it is not MovieLens
        unit = "s" if kind in ("movielens", "taobao") else ts_unit
        sources.append(Source(path, kind, dict(mapping), unit))
    return sources
