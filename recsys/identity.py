"""Identity stitching: which ids belong to one person, kept in the lake as ``LAKE/identities/part-*.parquet``.

A link says "alias belongs to user" (an anonymous or device id seen with the id the person signed in with). Links
come from vendor records at ingestion (Segment ``identify``, Mixpanel ``$identify``, GA4 ``user_id`` next to
``user_pseudo_id``) and from the service's ``POST /identify``. Each write adds one file named by the hash of its
links, so writing the same links again changes nothing; readers take the union of all files, so the order of
writes does not matter either.

Resolution follows links to the end of a chain (``a -> b -> c`` resolves ``a`` and ``b`` to ``c``). An alias
linked to two different users (a shared device) is ambiguous and stays itself: merging two people's histories
would be worse than not stitching. Training, features and analytics read events through `resolve_users`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys.errors import InputError

log = logging.getLogger(__name__)

IDENTITIES_DIR = "identities"
LINK_SCHEMA = pa.schema([pa.field("alias", pa.string(), nullable=False),
                         pa.field("user_id", pa.string(), nullable=False),
                         pa.field("source", pa.string(), nullable=True)])
MAX_ID_LENGTH = 256
_MAX_CHAIN = 32


def _folder(lake: str | Path) -> Path:
    return Path(lake) / IDENTITIES_DIR


def id_bytes(value: str) -> int:
    """The UTF-8 length of an id; InputError when it is not valid Unicode text (a lone surrogate)."""
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InputError(f"id {value!r} is not valid Unicode text") from None


def check_link(alias: str, user_id: str) -> tuple[str, str]:
    """A link's ids, trimmed; InputError when one is empty, too long, or both are the same."""
    a, u = alias.strip(), user_id.strip()
    if not a or not u:
        raise InputError("an identity link needs a non-empty alias and user id")
    if id_bytes(a) > MAX_ID_LENGTH or id_bytes(u) > MAX_ID_LENGTH:
        raise InputError(f"ids in identity links are at most {MAX_ID_LENGTH} bytes")
    if a == u:
        raise InputError(f"an id cannot be linked to itself ({a!r})")
    return a, u


def add_links(lake: str | Path, links: Iterable[tuple[str, str]], source: str = "ingest") -> int:
    """Add (alias, user id) links to the lake's identity map; returns how many distinct links were given."""
    pairs = sorted({check_link(a, u) for a, u in links})
    if not pairs:
        return 0
    table = pa.table({"alias": [a for a, _ in pairs], "user_id": [u for _, u in pairs],
                      "source": [source] * len(pairs)}, schema=LINK_SCHEMA)
    if _write(_folder(lake), table):
        log.info("identity map: %d link(s) from %s", len(pairs), source)
    return len(pairs)


def _write(folder: Path, table: pa.Table) -> bool:
    """Write links as the file named by their hash (False: that file is already there)."""
    digest = hashlib.blake2b(digest_size=12)
    for a, u in zip(table["alias"].to_pylist(), table["user_id"].to_pylist(), strict=True):
        digest.update(f"{a}\x1f{u}\x1e".encode())
    path = folder / f"part-{digest.hexdigest()}.parquet"
    if path.exists():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return True


def link_files(lake: str | Path) -> list[Path]:
    folder = _folder(lake)
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


def read_links(lake: str | Path) -> pa.Table:
    """Every distinct (alias, user_id) link of the lake (empty when it has none)."""
    files = link_files(lake)
    if not files:
        return LINK_SCHEMA.empty_table().select(["alias", "user_id"])
    tables = [pq.read_table(f, columns=["alias", "user_id"]) for f in files]
    return pa.concat_tables(tables).group_by(["alias", "user_id"]).aggregate([])


def resolution(links: pa.Table) -> dict[str, str]:
    """alias -> the user id it resolves to (see the module doc for chains and ambiguous aliases)."""
    targets: dict[str, set[str]] = {}
    for a, u in zip(links["alias"].to_pylist(), links["user_id"].to_pylist(), strict=True):
        targets.setdefault(a, set()).add(u)
    direct = {a: next(iter(us)) for a, us in targets.items() if len(us) == 1}
    ambiguous = len(targets) - len(direct)
    if ambiguous:
        log.info("identity map: %d alias(es) link to several users and are left unstitched", ambiguous)
    out: dict[str, str] = {}
    for alias in direct:
        seen = {alias}
        end = direct[alias]
        for _ in range(_MAX_CHAIN):
            nxt = direct.get(end)
            if nxt is None or nxt in seen:
                break
            seen.add(end)
            end = nxt
        if end != alias:
            out[alias] = end
    return out


def lake_resolution(lake: str | Path) -> dict[str, str]:
    """The lake's alias -> user id map."""
    return resolution(read_links(lake))


def resolution_table(lake: str | Path) -> pa.Table:
    """The lake's resolution as a table (alias, user_id), for joins in SQL."""
    mapping = lake_resolution(lake)
    return pa.table({"alias": pa.array(list(mapping), pa.string()),
                     "user_id": pa.array(list(mapping.values()), pa.string())})


def resolve_ids(col: pa.Array | pa.ChunkedArray, mapping: dict[str, str]) -> pa.Array:
    """User ids with every alias replaced by the user it resolves to (vectorised)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not mapping or not len(col):
        return col
    keys = pa.array(list(mapping), pa.string())
    vals = pa.array(list(mapping.values()), pa.string())
    pos = pc.index_in(col, value_set=keys)
    if pos.null_count == len(pos):
        return col
    return pc.if_else(pc.is_valid(pos), vals.take(pc.fill_null(pos, 0)), col)


def resolve_users(table: pa.Table, lake: str | Path) -> pa.Table:
    """`table` with its ``user_id`` column resolved through the lake's identity map (unchanged without one)."""
    if "user_id" not in table.column_names or not link_files(lake):
        return table
    mapping = lake_resolution(lake)
    if not mapping:
        return table
    i = table.column_names.index("user_id")
    return table.set_column(i, table.schema.field(i), resolve_ids(table["user_id"], mapping))


def ids_of(lake: str | Path, user_id: str) -> set[str]:
    """The user and every id that resolves to it, or that it resolves to (everything stitched to one person)."""
    mapping = lake_resolution(lake)
    root = mapping.get(user_id, user_id)
    return {user_id, root} | {a for a, u in mapping.items() if u == root}


def remove_ids(lake: str | Path, ids: set[str]) -> int:
    """Drop every link that names one of `ids`, rewriting the affected files atomically; returns links removed."""
    removed = 0
    value_set = pa.array(sorted(ids), pa.string())
    for path in link_files(lake):
        table = pq.read_table(path)
        hit = pc.or_(pc.is_in(table["alias"], value_set=value_set), pc.is_in(table["user_id"], value_set=value_set))
        n = pc.sum(hit).as_py() or 0
        if not n:
            continue
        removed += n
        keep = table.filter(pc.invert(hit))
        if keep.num_rows:
            _write(path.parent, keep)  # named by its new content, so re-adding the old links is not skipped
        path.unlink()
    return removed
