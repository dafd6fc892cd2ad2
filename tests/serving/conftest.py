"""Fixtures of the service tests: a small trained registry, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.service import sequences

from recsys.data import Interactions
from recsys.models import create_model
from recsys.registry import Registry


@pytest.fixture(scope="session")
def base_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """popularity, als and sasrec, each with a production version 1."""
    root = tmp_path_factory.mktemp("serving") / "registry"
    data = Interactions.from_sequences(sequences())
    reg = Registry(root)
    models = {
        "popularity": create_model("popularity"),
        "als": create_model("als", factors=8, iterations=5, device="cpu", num_threads=1),
        "sasrec": create_model("sasrec", hidden=16, layers=1, epochs=3, patience=100, max_len=20, dropout=0.0,
                               batch_size=32, device="cpu"),
    }
    for name, model in models.items():
        mv = reg.register(name, model.fit(data), metrics={"ndcg@10": 0.1}, data={"users": data.n_users})
        reg.promote(name, mv.version)
    return root


@pytest.fixture
def registry(base_registry: Path, tmp_path: Path) -> Registry:
    """A private copy of the trained registry that a test may change."""
    root = tmp_path / "registry"
    shutil.copytree(base_registry, root)
    return Registry(root)
