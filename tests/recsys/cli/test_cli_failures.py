"""Every CLI failure ends in one line on stderr: known failure classes named, unexpected ones with a hint to rerun
with --debug (which shows the traceback instead)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recsys.generate import generate_events
from recsys.ingest import ingest

ROOT = Path(__file__).resolve().parents[3]

# The real application with two extra commands that fail in ways no shipped command should: one inside the
# shared error handling, one outside it (the entry point still catches it).
FAILING_APP = textwrap.dedent("""
    import sys
    from recsys.cli import app, main
    from recsys.cli.app import user_errors

    @app.command("explode")
    def explode() -> None:
        with user_errors():
            raise RuntimeError("the flux capacitor\\nis out of flux")

    @app.command("explode-outside")
    def explode_outside() -> None:
        {}["missing"] = [][1]

    main()
""")


def _run(*args: str, script: str = "from recsys.cli import main; main()") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def _error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def damaged_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("damaged")
    generate_events(root / "raw", users=40, items=20, days=3, seed=1)
    ingest(sorted((root / "raw").glob("*.jsonl")), root / "lake")
    victim = sorted((root / "lake").glob("events/dt=*/part-*.parquet"))[1]
    victim.write_bytes(victim.read_bytes()[:300])  # a truncated Parquet file
    return root / "lake"


def test_analytics_on_a_truncated_parquet_file_is_one_clear_line(damaged_lake: Path, tmp_path: Path) -> None:
    res = _run("analytics", "--lake", str(damaged_lake), "--out", str(tmp_path / "a.html"))
    assert res.returncode == 2
    lines = _error_lines(res.stderr)
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in res.stderr
    assert "DuckDB" in lines[0] and "damaged" in lines[0] and ".parquet" in lines[0]


def test_train_on_the_same_lake_is_one_clear_line(damaged_lake: Path, tmp_path: Path) -> None:
    res = _run("train", "--lake", str(damaged_lake), "--registry", str(tmp_path / "reg"), "--models", "popularity")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    last = _error_lines(res.stderr)[-1]
    assert last.startswith("error:") and ".parquet" in last


@pytest.mark.parametrize("command", ["explode", "explode-outside"])
def test_an_unexpected_error_is_one_line_with_a_debug_hint(command: str) -> None:
    res = _run(command, script=FAILING_APP)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    lines = _error_lines(res.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: unexpected") and "--debug" in lines[0]


def test_debug_shows_the_traceback() -> None:
    res = _run("--debug", "explode", script=FAILING_APP)
    assert res.returncode == 1
    assert "Traceback" in res.stderr and "RuntimeError: the flux capacitor" in res.stderr


def test_unknown_options_stay_usage_errors() -> None:
    res = _run("ingest", "--no-such-option")
    assert res.returncode == 2 and "Traceback" not in res.stderr and "unexpected" not in res.stderr
