"""Catalogue sources -> records with canonical field names, one per source row.

Formats: ``csv`` (header row; the generator's ``items.csv`` is one), ``jsonl``, ``parquet``, ``movielens-items``
(MovieLens ``u.item``, ``movies.dat`` or ``movies.csv``, told apart by their content: genres -> categories, the
release date or the title's year -> created_at) and ``taobao`` (UserBehavior CSV: one record per row, the category
column -> categories; repeated items count as duplicates).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from recsys.errors import InputError

FORMATS = ("auto", "csv", "jsonl", "parquet", "movielens-items", "taobao")
Row = tuple[int, dict[str, Any] | None, str]
"""(1-based row number, the record or None when the line cannot be parsed, the raw text for the quarantine)."""

ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                 "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                 "War", "Western")
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def detect_format(path: Path) -> str:
    """The format of `path` from its name and first line."""
    name = path.name.lower()
    if name in ("u.item", "movies.dat", "movies.csv"):
        return "movielens-items"
    if name.startswith("userbehavior"):
        return "taobao"
    for suffix, fmt in ((".jsonl", "jsonl"), (".json", "jsonl"), (".parquet", "parquet"), (".csv", "csv")):
        if name.endswith(suffix):
            return fmt
    raise InputError(f"cannot tell the catalogue format of {path}: pass --format ({', '.join(FORMATS[1:])})")


def read_records(path: Path, fmt: str = "auto", mapping: dict[str, str] | None = None) -> Iterator[Row]:
    """Rows of `path` as canonical-named records; `mapping` is canonical field -> source column."""
    if not path.is_file():
        raise InputError(f"catalogue file {path} does not exist")
    fmt = detect_format(path) if fmt == "auto" else fmt
    readers = {"csv": _csv, "jsonl": _jsonl, "parquet": _parquet, "movielens-items": _movielens,
               "taobao": _taobao}
    if fmt not in readers:
        raise InputError(f"unknown catalogue format {fmt!r}; known: {', '.join(FORMATS)}")
    rename = {src: dst for dst, src in (mapping or {}).items()}
    for n, record, raw in readers[fmt](path):
        if record is not None and rename:
            record = {rename.get(k, k): v for k, v in record.items()}
        yield n, record, raw


def _csv(path: Path) -> Iterator[Row]:
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        for n, values in enumerate(reader, start=1):
            raw = ",".join(values)
            if len(values) != len(header):
                yield n, None, raw
            else:
                yield n, dict(zip(header, values, strict=True)), raw


def _jsonl(path: Path) -> Iterator[Row]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            yield n, record if isinstance(record, dict) else None, line.rstrip("\n")


def _parquet(path: Path) -> Iterator[Row]:
    try:
        table = pq.read_table(path)
    except OSError as err:
        raise InputError(f"cannot read {path} as Parquet: {err}") from err
    for n, record in enumerate(table.to_pylist(), start=1):
        yield n, record, json.dumps(record, default=str)[:2000]


def _year_start(title: str) -> datetime | None:
    match = _YEAR.search(title)
    return datetime(int(match.group(1)), 1, 1, tzinfo=UTC) if match else None


def _movielens(path: Path) -> Iterator[Row]:
    with open(path, encoding="latin-1") as f:
        first = f.readline()
    if "::" in first:
        yield from _movies_dat(path)
    elif first.lower().startswith("movieid,"):
        yield from _movies_csv(path)
    else:
        yield from _u_item(path)


def _u_item(path: Path) -> Iterator[Row]:
    genres = _u_genres(path.with_name("u.genre"))
    with open(path, encoding="latin-1") as f:
        for n, line in enumerate(f, start=1):
            parts = line.rstrip("\n").split("|")
            if len(parts) < 5 + len(genres):
                yield n, None, line.rstrip("\n")
                continue
            flags = parts[5:5 + len(genres)]
            record: dict[str, Any] = {"item_id": parts[0], "title": parts[1],
                                      "categories": [g for g, flag in zip(genres, flags, strict=True) if flag == "1"]}
            released = _release_date(parts[2]) or _year_start(parts[1])
            if released is not None:
                record["created_at"] = released
                record["properties"] = {"year": released.year}
            if parts[4]:
                record.setdefault("properties", {})["url"] = parts[4]
            yield n, record, line.rstrip("\n")


def _u_genres(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return ML100K_GENRES
    pairs = [line.strip().split("|") for line in path.read_text(encoding="latin-1").splitlines() if "|" in line]
    return tuple(name for name, _ in sorted(pairs, key=lambda p: int(p[1])))


def _release_date(text: str) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), "%d-%b-%Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def _movie(item: str, title: str, genres: str) -> dict[str, Any]:
    record: dict[str, Any] = {"item_id": item, "title": title,
                              "categories": [g for g in genres.split("|") if g and g != "(no genres listed)"]}
    year = _year_start(title)
    if year is not None:
        record["created_at"] = year
        record["properties"] = {"year": year.year}
    return record


def _movies_dat(path: Path) -> Iterator[Row]:
    with open(path, encoding="latin-1") as f:
        for n, line in enumerate(f, start=1):
            parts = line.rstrip("\n").split("::")
            yield n, _movie(*parts) if len(parts) == 3 else None, line.rstrip("\n")


def _movies_csv(path: Path) -> Iterator[Row]:
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        next(reader, None)
        for n, values in enumerate(reader, start=1):
            yield n, _movie(*values) if len(values) == 3 else None, ",".join(values)


def _taobao(path: Path) -> Iterator[Row]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            parts = line.rstrip("\n").split(",")
            record = {"item_id": parts[1], "categories": [parts[2]]} if len(parts) == 5 else None
            yield n, record, line.rstrip("\n")
