"""Crash litter: work folders of jobs killed with SIGKILL are removed by the next run or `gc` at once, while the
folder of a live job is never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from recsys.data import Interactions
from recsys.generate import generate_events
from recsys.ingest import ingest
from recsys.models import create_model
from recsys.registry import Registry
from recsys.workdirs import OWNER, sweep

ROOT = Path(__file__).resolve().parents[3]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))

# A process that owns a work folder the way training and registration do, then waits to be killed.
OWNER_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from recsys.workdirs import owned_dir
    with owned_dir(Path(sys.argv[1]), sys.argv[2]) as path:
        (path / "half-written.bin").write_bytes(b"x" * 1000)
        Path(sys.argv[3]).write_text(str(path))
        time.sleep(120)
""")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from recsys.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, env=env or ENV)


def _wait_for(check, child: subprocess.Popen, what: str, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert child.poll() is None, f"the child ended before {what}: {child.stderr.read() if child.stderr else ''}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


def _owner(parent: Path, prefix: str, marker: Path) -> tuple[subprocess.Popen, Path]:
    child = subprocess.Popen([sys.executable, "-c", OWNER_CHILD, str(parent), prefix, str(marker)], env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: marker.exists() and marker.read_text(), child, "the child owned its folder")
    return child, Path(marker.read_text())


def _kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    generate_events(tmp_path / "raw", users=80, items=40, days=4, seed=2)
    ingest(sorted((tmp_path / "raw").glob("events-*.jsonl")), tmp_path / "lake")
    return tmp_path / "lake"


def test_killed_train_leaves_no_litter_after_the_next_run(lake: Path, tmp_path: Path) -> None:
    registry, tmp = tmp_path / "reg", tmp_path / "tmp"
    tmp.mkdir()
    env = dict(ENV, TMPDIR=str(tmp))
    child = subprocess.Popen([sys.executable, "-c", "from recsys.cli import main; main()", "train", "--lake",
                              str(lake), "--registry", str(registry), "--models", "sasrec", "--epochs", "400",
                              "--device", "cpu"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    try:
        work = _wait_for(lambda: list((registry / "_work").glob("train-*/split*")), child, "the split was written")
    finally:
        _kill(child)
    assert work and (registry / "_work").exists()  # the killed run's folder is there ...
    assert not list(tmp.iterdir())  # ... and nothing went to the system temp folder

    res = _cli("train", "--lake", str(lake), "--registry", str(registry), "--models", "popularity", env=env)
    assert res.returncode == 0, res.stderr
    assert list((registry / "_work").iterdir()) == []  # ... the next run removed it, and its own
    assert not list(registry.glob("*/.tmp-*")) and not list(tmp.iterdir())
    assert [v.version for v in Registry(registry).versions("popularity")] == [1]


def test_gc_and_register_remove_dead_registrations_and_keep_live_ones(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "reg")
    model = create_model("popularity").fit(Interactions.from_sequences({"a": ["x", "y"], "b": ["y", "z"]}))
    registry.register("pop", model, metrics={})
    model_dir = registry.root / "pop"
    dead, dead_dir = _owner(model_dir, ".tmp-", tmp_path / "dead")
    _kill(dead)
    live, live_dir = _owner(model_dir, ".tmp-", tmp_path / "live")
    try:
        assert dead_dir.is_dir() and (dead_dir / OWNER).exists()
        registry.gc(keep_last=5)
        assert not dead_dir.exists()  # removed at once, not an hour later
        assert live_dir.is_dir() and (live_dir / "half-written.bin").exists()  # a live job is never touched
        again, again_dir = _owner(model_dir, ".tmp-", tmp_path / "again")
        _kill(again)
        v2 = registry.register("pop", model, metrics={})  # the next registration cleans up too
        assert not again_dir.exists() and live_dir.is_dir()
        assert sorted(p.name for p in v2.path.iterdir()) == ["artifact", "manifest.json"]  # no lock file moved in
    finally:
        _kill(live)
    res = _cli("registry", "gc", "--registry", str(registry.root))
    assert res.returncode == 0, res.stderr
    assert not live_dir.exists() and sorted(p.name for p in model_dir.iterdir() if p.name.startswith(".t")) == []


def test_folders_without_an_owner_file_are_only_removed_when_old(tmp_path: Path) -> None:
    young, old = tmp_path / "train-young", tmp_path / "train-old"
    young.mkdir()
    old.mkdir()
    an_hour_ago = time.time() - 3700
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert sweep(tmp_path, "train-") == 1
    assert young.exists() and not old.exists()
