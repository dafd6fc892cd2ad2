"""Damaged and hostile source files: a cut or corrupt gzip keeps the rows before the damage and names the byte,
a huge CSV header field is a clear error, a source quarantined whole exits with its own code."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recsys.errors import DamagedSourceError
from recsys.ingest import ingest
from recsys.ingest.readers.gzipped import GzipReader

NOW = datetime(2026, 3, 10, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def _lines(n: int) -> list[bytes]:
    return [json.dumps({"event_id": f"e{i}", "user_id": f"u{i % 13}", "item_id": f"i{i % 29}", "event_type": "view",
                        "ts": f"2026-03-0{1 + i % 5}T10:{i % 60:02d}:00Z", "pad": "x" * (i % 50)}).encode()
            for i in range(n)]


def _read_all(path: Path, size: int = 7919) -> tuple[bytes, DamagedSourceError | None]:
    out = bytearray()
    with GzipReader(path) as f:
        try:
            while chunk := f.read(size):
                out += chunk
        except DamagedSourceError as err:
            return bytes(out), err
    return bytes(out), None


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from recsys.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def _last_line(text: str) -> str:
    return [ln for ln in text.splitlines() if ln.strip()][-1]


@pytest.mark.parametrize("cut", [0.05, 0.5, 0.97])
def test_cut_gzip_returns_every_byte_before_the_damage_and_names_the_offset(tmp_path: Path, cut: float) -> None:
    data = b"\n".join(_lines(3000)) + b"\n"
    whole = gzip.compress(data)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: int(len(whole) * cut)])
    got, err = _read_all(path)
    assert err is not None and err.offset == path.stat().st_size and str(path) in str(err)
    assert data.startswith(got) and len(got) > 0
    # as much as zlib itself can recover from the same bytes
    expect = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(path.read_bytes())
    assert got == expect


def test_concatenated_members_and_zero_padding_read_like_gzip(tmp_path: Path) -> None:
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(b"a\nb\n") + gzip.compress(b"c\n" * 50_000) + b"\x00" * 64)
    got, err = _read_all(path, size=1000)
    assert err is None and got == gzip.decompress(path.read_bytes())
    with GzipReader(path) as f:
        assert [f.readline(), f.readline(), f.readline(1)] == [b"a\n", b"b\n", b"c"]


def test_corrupt_gzip_data_is_damage_not_a_crash(tmp_path: Path) -> None:
    data = b"\n".join(_lines(5000)) + b"\n"
    blob = bytearray(gzip.compress(data))
    rng = random.Random(5)
    middle = len(blob) // 2
    for k in range(64):
        blob[middle + k] = rng.randrange(256)
    path = tmp_path / "corrupt.jsonl.gz"
    path.write_bytes(bytes(blob))
    got, err = _read_all(path)
    assert err is not None and err.offset is not None and err.offset <= len(blob)
    assert data.startswith(got[: len(got) // 2])  # what came before the damage is the real data


def test_ingest_of_a_cut_gzip_keeps_the_rows_before_it_and_writes_the_manifest(tmp_path: Path) -> None:
    lines = _lines(4000)
    whole = gzip.compress(b"\n".join(lines) + b"\n")
    src = tmp_path / "events.jsonl.gz"
    src.write_bytes(whole[: len(whole) * 2 // 3])
    readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(src.read_bytes())
    complete = readable.count(b"\n")  # whole lines before the cut; the line after them was cut
    report = ingest([src], tmp_path / "lake", now=NOW)
    assert (report.rows_written, report.rows_quarantined, report.duplicates) == (complete, 1, 0)
    assert report.reasons == {"truncated_row": 1} and report.conserved
    assert len(report.errors) == 1 and str(src) in report.errors[0] and f"byte {src.stat().st_size}" in \
        report.errors[0]
    manifest = json.loads(Path(report.manifest).read_text())
    assert manifest["errors"] == report.errors and manifest["sources"][0]["error"] == report.errors[0]


def test_cli_cut_gzip_exits_3_with_one_line_naming_file_and_byte(tmp_path: Path) -> None:
    rows = [f"{u}\t{i}\t{1 + (u * i) % 5}\t{880000000 + u * 1000 + i}" for u in range(1, 200) for i in range(1, 60)]
    whole = gzip.compress(("\n".join(rows) + "\n").encode())
    src = tmp_path / "u.data.gz"
    src.write_bytes(whole[: len(whole) // 2])
    res = _cli("ingest", str(src), "--lake", str(tmp_path / "lake"), "--format", "movielens", "--json")
    assert res.returncode == 3, res.stderr
    assert "Traceback" not in res.stderr and "Aborted" not in res.stderr
    last = _last_line(res.stderr)
    assert last.startswith("error:") and str(src) in last and f"byte {src.stat().st_size}" in last
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["rows_written"] > 0 and summary["conserved"] and Path(summary["manifest"]).exists()


@pytest.mark.parametrize("fmt", ["csv", "auto"])
def test_csv_header_field_over_128_kib_is_a_clear_error(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "wide.csv"
    src.write_text("user_id,item_id,event_type,ts," + "h" * (200 << 10) + "\nu1,i1,view,2026-03-01T00:00:00Z,x\n")
    res = _cli("ingest", str(src), "--lake", str(tmp_path / "lake"), "--format", fmt)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "_csv.Error" not in res.stderr
    last = _last_line(res.stderr)
    assert last.startswith("error:") and str(src) in last


def test_every_row_quarantined_exits_4_loudly(tmp_path: Path) -> None:
    src = tmp_path / "u.data"
    src.write_text("".join(f"{u}\t{u + 7}\t4\t881250949\n" for u in range(1, 300)))
    res = _cli("ingest", str(src), "--lake", str(tmp_path / "lake"), "--format", "taobao", "--json")
    assert res.returncode == 4, res.stderr
    assert "Traceback" not in res.stderr
    last = _last_line(res.stderr)
    assert last.startswith("error:") and "every row" in last and str(src) in last
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert (summary["rows_read"], summary["rows_quarantined"], summary["rows_written"]) == (299, 299, 0)
    assert Path(summary["manifest"]).exists()
    # the same file with its right format is fine
    ok = _cli("ingest", str(src), "--lake", str(tmp_path / "lake2"), "--format", "movielens")
    assert ok.returncode == 0, ok.stderr
