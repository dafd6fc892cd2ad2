"""Shared fixtures: where the real public data sets live (never copied into the project)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("RECSYS_DATA_DIR", ROOT.parent / "shared" / "data"))


def shared_data_file(relative: str) -> Path:
    """Path of a file under the shared data folder; skips the test with a clear reason when absent."""
    path = DATA_DIR / relative
    if not path.exists():
        pytest.skip(f"real data set file {path} is absent (set RECSYS_DATA_DIR to the folder holding it)")
    return path


@pytest.fixture
def shared_data() -> object:
    """``shared_data("movielens-100k/u.data")`` -> Path, or skip."""
    return shared_data_file
