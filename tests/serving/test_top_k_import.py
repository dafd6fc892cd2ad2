"""A service whose models can rank batches big enough for torch's top-k imports torch when the model loads, not
in the first such request; a service of small catalogues never imports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from types import SimpleNamespace
from serving.app import prepare_top_k

def served(n_items):
    return {"m": SimpleNamespace(model=SimpleNamespace(items_=range(n_items)))}

prepare_top_k(served(3_000), 1000, 1)  # 3k items x 1000 users: below the torch block size
assert "torch" not in sys.modules, "torch was imported for a small catalogue"
prepare_top_k(served(5_000), 1000, 1)
assert "torch" in sys.modules, "torch was not imported for a large one"
assert sys.modules["torch"].get_num_threads() == 1, "torch's threads were not capped"
print("ok")
"""


def test_torch_is_imported_at_load_only_for_catalogues_that_need_it() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
