"""Item titles for the report, read from the catalogue files the data sets ship with.

Recommendations are only judged by people when they can read them: an item id like ``1193`` means nothing,
"One Flew Over the Cuckoo's Nest (1975)" does. Three layouts are understood:

- MovieLens 1M/10M ``movies.dat``: ``MovieID::Title::Genres`` (latin-1)
- MovieLens 100k ``u.item``: ``id|title|release date|...`` (latin-1)
- the generator's ``items.csv``: a CSV with a header holding ``item_id`` and ``title`` (and maybe ``category``)
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from recsys.errors import InputError


def load_titles(path: str | Path) -> dict[str, str]:
    """``{item_id: title}`` from a catalogue file; the layout is detected from its content."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"titles file {path} does not exist (give movies.dat, u.item or items.csv)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # the MovieLens files are latin-1
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "::" in first:
        titles = _split_lines(text, "::")
    elif "|" in first and "," not in first.split("|", 1)[0]:
        titles = _split_lines(text, "|")
    else:
        titles = _read_csv(text, path)
    if not titles:
        raise InputError(f"no item titles found in {path}: expected movies.dat, u.item or a CSV with item_id,title")
    return titles


def _split_lines(text: str, sep: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(sep)
        if len(parts) >= 2 and parts[0].strip():
            out[parts[0].strip()] = parts[1].strip()
    return out


def _read_csv(text: str, path: Path) -> dict[str, str]:
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    id_col = fields.get("item_id") or fields.get("itemid") or fields.get("id")
    title_col = fields.get("title") or fields.get("name")
    if id_col is None or title_col is None:
        raise InputError(f"{path} has no item_id/title header (found {list(fields)}); "
                         "give movies.dat, u.item or a CSV with columns item_id,title")
    category_col = fields.get("category")
    out: dict[str, str] = {}
    for row in reader:
        item = (row.get(id_col) or "").strip()
        title = (row.get(title_col) or "").strip()
        if item and title:
            category = (row.get(category_col) or "").strip() if category_col else ""
            out[item] = f"{title} [{category}]" if category and category not in title else title
    return out
