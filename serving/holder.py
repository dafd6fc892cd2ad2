"""The models being served, swapped atomically on reload so that requests in flight keep the model they started
with."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from recsys.errors import ArtifactError, InputError, RecsysError
from recsys.models.base import Recommender
from recsys.registry import Registry
from recsys.registry.history import alias_history
from serving.state_cache import ServedStates

log = logging.getLogger(__name__)

LOAD_ERRORS = (ArtifactError, InputError, OSError, ValueError)
CategoryLookup = Callable[[Recommender], dict[str, list[str]]]


@dataclass(frozen=True)
class LoadedModel:
    """One served model version; immutable, so a request can hold it while a reload replaces it."""

    name: str
    version: int
    model: Recommender
    manifest: Mapping[str, Any]
    loaded_at: float
    categories: Mapping[str, list[str]] = field(default_factory=dict)
    """category -> item ids of this model's catalogue (for the category filter)."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "model": self.manifest.get("model"),
                "created": self.manifest.get("created"), "metrics": self.manifest.get("metrics", {}),
                "supports_history": self.model.supports_history, "n_items": len(self.model.items_),
                "n_users": len(self.model.users_), "categories": len(self.categories), "loaded_at": self.loaded_at}


class ModelHolder:
    """Loads every model's alias from the registry and keeps them in one dict that is replaced, never mutated."""

    def __init__(self, registry: Registry, alias: str = "production", *, default_model: str | None = None,
                 categories: CategoryLookup | None = None) -> None:
        self.registry = registry
        self.alias = alias
        self.preferred_default = default_model
        self._categories = categories
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()
        self.errors: dict[str, str] = {}
        self.fallbacks: dict[str, dict[str, Any]] = {}
        """name -> {alias_version, serving, reason} for each model served from another version than its alias."""
        self._failed: dict[str, int] = {}
        self.on_change: Callable[[dict[str, LoadedModel]], None] | None = None
        self.states = ServedStates()

    @property
    def models(self) -> dict[str, LoadedModel]:
        return self._models

    @property
    def default_name(self) -> str | None:
        models = self._models
        if self.preferred_default and self.preferred_default in models:
            return self.preferred_default
        if "als" in models:
            return "als"
        return next(iter(sorted(models)), None)

    def get(self, name: str | None) -> LoadedModel:
        """The served model `name` (or the default); InputError naming the served models when absent."""
        models = self._models
        key = name or self.default_name
        if key is None:
            raise InputError("no model is loaded yet")
        try:
            return models[key]
        except KeyError:
            raise InputError(f"unknown model {key!r}; served models: {', '.join(sorted(models)) or 'none'}") from None

    def refresh(self, *, force: bool = False) -> dict[str, Any]:
        """Load every model whose alias moved (all of them when `force`), then swap the dict in one assignment.

        A version that fails to load (corrupt, half-written) is reported in `errors` and not retried until its
        alias moves (or `force`); the version already served keeps serving, and at start-up the most recent
        earlier holder of the alias that verifies serves instead (noted in `fallbacks`).
        """
        with self._lock:
            current = self._models
            new = dict(current)
            changed: dict[str, dict[str, int | None]] = {}
            errors: dict[str, str] = {}
            names = set(self.registry.names())
            for name in sorted(names):
                try:
                    version = self.registry.aliases(name).get(self.alias)
                except RecsysError as err:
                    errors[name] = str(err)
                    continue
                old = current.get(name)
                if version is None:
                    self.fallbacks.pop(name, None)
                    if name in new:
                        changed[name] = {"from": new.pop(name).version, "to": None}
                    continue
                if not force and ((old is not None and old.version == version and name not in self.fallbacks)
                                  or self._failed.get(name) == version):
                    if name in self.errors:
                        errors[name] = self.errors[name]
                    continue
                loaded = self._load_alias(name, version, old, errors)
                if loaded is not None and loaded is not old:
                    new[name] = loaded
                    changed[name] = {"from": old.version if old else None, "to": loaded.version}
            for name in set(new) - names:
                self.fallbacks.pop(name, None)
                changed[name] = {"from": new.pop(name).version, "to": None}
            self._models = new  # the atomic swap: readers see the old dict or the new one, never a mix
            self.errors = errors
        if changed and self.on_change is not None:
            self.on_change(new)
        return {"changed": changed, "errors": errors, "models": {n: m.version for n, m in new.items()},
                "fallbacks": dict(self.fallbacks)}

    def _load_alias(self, name: str, version: int, old: LoadedModel | None, errors: dict[str, str]
                    ) -> LoadedModel | None:
        """The model to serve for `name` whose alias points at `version`: that version, else the one already
        served, else the most recent earlier holder of the alias that verifies; None when none loads."""
        try:
            loaded = self._load(name, version)
        except LOAD_ERRORS as err:
            errors[name] = f"version {version}: {err}"
            self._failed[name] = version
            log.error("not serving %s version %s: %s", name, version, err)
        else:
            self._failed.pop(name, None)
            self.fallbacks.pop(name, None)
            return loaded
        candidates = [old] if old is not None else []
        if old is None:
            for earlier in alias_history(self.registry, name, self.alias)[1:]:
                try:
                    candidates.append(self._load(name, earlier))
                    break
                except LOAD_ERRORS as err:
                    log.error("not serving %s version %s either: %s", name, earlier, err)
        if not candidates:
            return None
        chosen = candidates[0]
        self.fallbacks[name] = {"alias_version": version, "serving": chosen.version, "reason": errors[name]}
        log.warning("serving %s version %d instead of %s version %d, which does not load: %s",
                    name, chosen.version, self.alias, version, errors[name])
        return chosen

    def _load(self, name: str, version: int) -> LoadedModel:
        model, mv = self.registry.load(name, version)
        model.state_cache = self.states.for_version(name, mv.version)
        cats = self._lookup_categories(name, model)
        log.info("loaded %s version %d", name, mv.version)
        return LoadedModel(name, mv.version, model, mv.manifest, time.time(), cats)

    def _lookup_categories(self, name: str, model: Recommender) -> dict[str, list[str]]:
        if self._categories is None:
            return {}
        try:
            return self._categories(model)
        except Exception as err:  # categories are an optional extra: never block a model on them
            log.warning("no item categories for %s: %s", name, err)
            return {}
