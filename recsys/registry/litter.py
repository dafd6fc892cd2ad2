"""Work folders inside a registry, and removing those that jobs killed mid-way left behind.

``REGISTRY/_work/train-*`` hold a training run's split and trained models; ``REGISTRY/<name>/.tmp-*`` a version
being registered; ``REGISTRY/<name>/.trash-*`` a version `gc` is deleting. The first two are owned folders (see
`recsys.workdirs`): the next training run, the next registration and `gc` remove them as soon as their owner is
dead, and never while it lives.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from recsys.workdirs import sweep

WORK_DIR = "_work"
TRAIN_PREFIX = "train-"
REGISTER_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"


def work_root(registry: Path) -> Path:
    """Where training runs keep their work folders."""
    return Path(registry) / WORK_DIR


def sweep_work(registry: Path) -> int:
    """Remove the work folders of training runs that died."""
    return sweep(work_root(registry), TRAIN_PREFIX)


def sweep_model_dir(model_dir: Path, *, trash: bool = False) -> int:
    """Remove the registrations that died in `model_dir`; with `trash` (the caller holds the model's lock), also
    the versions a killed `gc` had renamed aside but not yet deleted."""
    removed = sweep(model_dir, REGISTER_PREFIX)
    if trash and model_dir.is_dir():
        for path in model_dir.iterdir():
            if path.name.startswith(TRASH_PREFIX) and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
    return removed
