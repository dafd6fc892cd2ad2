"""Impression logging: every answered list is appended to ``landing/impressions-YYYY-MM-DDTHH-<pid>.jsonl``.

Durability: each impression is written to the file (the operating system's page cache) before its answer is
returned, so it survives the service process being killed (even ``kill -9``); a background thread fsyncs the file
at most `flush_interval_s` after a write, so a machine crash or power loss loses at most that much. Answers never
wait for a disk flush: the cost on the request path is one `write` system call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from serving.schemas import JSON_OPTIONS

log = logging.getLogger(__name__)


class ImpressionLog:
    """Appends impressions to an hourly file per process and fsyncs them in batches within a bounded delay."""

    def __init__(self, folder: Path, flush_interval_s: float = 1.0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.flush_interval_s = flush_interval_s
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._dirty = False
        self._wake = threading.Event()
        self._closed = False
        self.written = 0
        self._hour: tuple[datetime, datetime, int, Path] | None = None  # [start, end), pid, file
        self._thread = threading.Thread(target=self._flusher, name="impression-fsync", daemon=True)
        self._thread.start()

    def path_for(self, now: datetime) -> Path:
        """The file of `now`'s hour for this process (one name per hour, not one string per answer)."""
        pid = os.getpid()
        cached = self._hour
        if cached is None or not cached[0] <= now < cached[1] or cached[2] != pid:
            start = now.replace(minute=0, second=0, microsecond=0)
            path = self.folder / f"impressions-{now:%Y-%m-%dT%H}-{pid}.jsonl"
            self._hour = cached = (start, start + timedelta(hours=1), pid, path)
        return cached[3]

    def append(self, record: dict[str, Any], now: datetime | None = None) -> None:
        """Write one impression (a JSON line); durable against a process crash on return."""
        data = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE | JSON_OPTIONS)
        now = now or datetime.now(UTC)
        with self._lock:
            if self._closed:
                raise RuntimeError("the impression log is closed")
            fd = self._file(now)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            self.written += 1
            if not self._dirty:
                self._dirty = True
                self._wake.set()

    def _file(self, now: datetime) -> int:
        path = self.path_for(now)
        if path != self._path or self._fd is None:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._path = path
        return self._fd

    def flush(self) -> None:
        """fsync what was written so far (on a duplicate descriptor, so appends never wait for the disk)."""
        with self._lock:
            self._dirty = False
            fd = os.dup(self._fd) if self._fd is not None else None
        if fd is not None:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _flusher(self) -> None:
        while True:
            self._wake.wait()
            if self._closed:
                return
            self._wake.clear()
            # batch: writes arriving during the wait share one fsync, bounded by the interval
            time.sleep(self.flush_interval_s)
            try:
                self.flush()
            except OSError as err:  # a full or failing disk: keep serving, say so
                log.error("impression log fsync failed: %s", err)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
        self._wake.set()
        self._thread.join(timeout=2)
