"""Work folders that a crash cannot leave behind: each is locked by the process that owns it.

`owned_dir(parent, prefix)` creates ``parent/<prefix><pid>-<random>/`` and holds an exclusive `flock` on its
``.owner`` file while the block runs. The kernel drops the lock when the owner dies, however it dies (SIGKILL
included), so `sweep(parent, prefix)` — run by the next job and by ``gc`` — removes the folders whose owner is
gone, at once, and never the folder of a live job. A folder without a locked, written ``.owner`` (one made by an
older release, or one being created or renamed into place this instant) is only removed once it is older than
`LEGACY_AGE_S`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

log = logging.getLogger(__name__)

OWNER = ".owner"
LEGACY_AGE_S = 3600.0


@contextmanager
def owned_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A fresh folder under `parent`, owned (locked) while the block runs and removed after it.

    A caller that renames the folder into place calls `disown` first, so that the lock file does not travel.
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir()
    fd = os.open(path / OWNER, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{os.getpid()}\n".encode())  # written only once locked: sweep checks both
        yield path
    finally:
        os.close(fd)
        shutil.rmtree(path, ignore_errors=True)  # nothing left if the folder was renamed away


def disown(path: Path) -> None:
    """Drop the ``.owner`` file of an owned folder that is about to be renamed into place."""
    with suppress(FileNotFoundError):
        os.unlink(Path(path) / OWNER)


def sweep(parent: Path, prefix: str, *, legacy_age_s: float = LEGACY_AGE_S) -> int:
    """Remove the folders ``parent/<prefix>*`` whose owner is dead; returns how many."""
    parent = Path(parent)
    if not parent.is_dir():
        return 0
    removed = 0
    now = time.time()
    for path in sorted(parent.iterdir()):
        if path.name.startswith(prefix) and path.is_dir() and _remove_if_abandoned(path, now, legacy_age_s):
            removed += 1
    if removed:
        log.info("removed %d work folder(s) of jobs that died in %s", removed, parent)
    return removed


def _remove_if_abandoned(path: Path, now: float, legacy_age_s: float) -> bool:
    try:
        fd = os.open(path / OWNER, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return _remove_if_old(path, now, legacy_age_s)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its owner is alive
        if os.fstat(fd).st_size == 0:  # the owner died (or is) between creating and locking it
            return _remove_if_old(path, now, legacy_age_s)
        shutil.rmtree(path, ignore_errors=True)  # still holding the dead owner's lock
        return True
    finally:
        os.close(fd)


def _remove_if_old(path: Path, now: float, legacy_age_s: float) -> bool:
    try:
        age = now - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if age <= legacy_age_s:
        return False
    shutil.rmtree(path, ignore_errors=True)
    return True
