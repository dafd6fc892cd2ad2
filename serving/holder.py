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
from serving.state_cache import ServedStates

log = logging.getLogger(__name__)

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

        A version that fails to load (corrupt, half-written) is reported in `errors` and the previous one keeps
        serving.
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
                if version is None:
                    if name in new:
                        changed[name] = {"from": new.pop(name).version, "to": None}
                    continue
                old = current.get(name)
                if old is not None and old.version == version and not force:
                    continue
                try:
                    model, mv = self.registry.load(name, version)
                except (ArtifactError, InputError, OSError, ValueError) as err:
                    errors[name] = f"version {version}: {err}"
                    log.error("not serving %s version %s: %s", name, version, err)
                    continue
                model.state_cache = self.states.for_version(name, mv.version)
                cats = self._lookup_categories(name, model)
                new[name] = LoadedModel(name, mv.version, model, mv.manifest, time.time(), cats)
                changed[name] = {"from": old.version if old else None, "to": mv.version}
                log.info("serving %s version %d", name, mv.version)
            for name in set(new) - names:
                changed[name] = {"from": new.pop(name).version, "to": None}
            self._models = new  # the atomic swap: readers see the old dict or the new one, never a mix
            self.errors = errors
        if changed and self.on_change is not None:
            self.on_change(new)
        return {"changed": changed, "errors": errors, "models": {n: m.version for n, m in new.items()}}

    def _lookup_categories(self, name: str, model: Recommender) -> dict[str, list[str]]:
        if self._categories is None:
            return {}
        try:
            return self._categories(model)
        except Exception as err:  # categories are an optional extra: never block a model on them
            log.warning("no item categories for %s: %s", name, err)
            return {}
