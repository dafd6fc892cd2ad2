"""Served users' model states, kept between requests (SASRec: the transformer's state after the newest item).

A state depends only on the model version and the user's history window, so one bounded LRU keyed by
``(model, version, window)`` serves every loaded version; entries of a replaced version age out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

STATE_CACHE_SIZE = 65_536
"""States kept (64 floats each at hidden 64: about 17 MB when full)."""


class ServedStates:
    """One LRU of states for every served model version."""

    def __init__(self, size: int = STATE_CACHE_SIZE) -> None:
        self.size = size
        self._states: OrderedDict[tuple[str, int, bytes], Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._states)

    def for_version(self, name: str, version: int) -> VersionStates:
        """The view a loaded model version reads and writes (a `recsys.models.base.StateCache`)."""
        return VersionStates(self, name, version)

    def get(self, key: tuple[str, int, bytes]) -> Any | None:
        with self._lock:
            state = self._states.get(key)
            if state is not None:
                self._states.move_to_end(key)
            return state

    def put(self, key: tuple[str, int, bytes], state: Any) -> None:
        with self._lock:
            self._states[key] = state
            self._states.move_to_end(key)
            while len(self._states) > self.size:
                self._states.popitem(last=False)


class VersionStates:
    """`ServedStates` seen by one model version: keys are history windows."""

    def __init__(self, states: ServedStates, name: str, version: int) -> None:
        self._states, self._prefix = states, (name, int(version))

    def get(self, window: bytes) -> Any | None:
        return self._states.get((*self._prefix, window))

    def put(self, window: bytes, state: Any) -> None:
        self._states.put((*self._prefix, window), state)
