"""A version whose files fail their checksums never takes an alias: promote, forced promote and rollback refuse it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recsys.data import Interactions
from recsys.errors import ArtifactError
from recsys.models import create_model
from recsys.registry import Registry

ROOT = Path(__file__).resolve().parents[3]
DATA = Interactions.from_sequences({"a": ["x", "y", "z"], "b": ["y", "z"], "c": ["z", "w"]})


def _corrupt(version_dir: Path) -> None:
    weights = version_dir / "artifact" / "weights.npz"
    with weights.open("r+b") as f:
        f.seek(64)
        f.write(b"corrupt!")


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = Registry(tmp_path / "reg")
    model = create_model("popularity").fit(DATA)
    reg.register("pop", model, metrics={"ndcg@10": 0.2})
    reg.register("pop", model, metrics={"ndcg@10": 0.3})
    reg.promote("pop", 1)
    return reg


def test_promote_refuses_a_corrupt_version_and_keeps_the_alias(registry: Registry) -> None:
    _corrupt(registry.root / "pop" / "2")
    decisions = len(registry.decisions("pop"))
    for force in (False, True):
        with pytest.raises(ArtifactError, match="checksum mismatch"):
            registry.promote("pop", 2, tolerance=1, force=force)
    assert registry.aliases("pop") == {"production": 1} and len(registry.decisions("pop")) == decisions


def test_rollback_to_a_corrupt_version_is_refused(registry: Registry) -> None:
    registry.promote("pop", 2)
    _corrupt(registry.root / "pop" / "1")
    with pytest.raises(ArtifactError, match="refusing to move 'production'"):
        registry.rollback("pop")
    assert registry.aliases("pop") == {"production": 2}


def test_cli_promote_of_a_corrupt_version_exits_non_zero_with_one_line(registry: Registry) -> None:
    _corrupt(registry.root / "pop" / "2")
    res = subprocess.run([sys.executable, "-c", "from recsys.cli import main; main()", "registry", "promote", "pop",
                          "2", "--registry", str(registry.root), "--tolerance", "1"], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert res.returncode == 2 and res.stdout == ""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: refusing to move 'production'") and "checksum" in lines[0]
    assert json.loads((registry.root / "pop" / "aliases.json").read_text()) == {"production": 1}
