"""All recommenders, by name. Classes are imported lazily so `import recsys` stays light.

`base` holds the `Recommender` contract; one module per model (`popularity`, `itemknn`, `implicit_mf`, `ease`) and
the `sasrec` package; `params` resolves a model's constructor arguments, `device` picks its device, `history`
builds live-history rows.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recsys.models.base import Recommender

MODEL_CLASSES: dict[str, str] = {
    "popularity": "recsys.models.popularity:Popularity",
    "itemknn": "recsys.models.itemknn:ItemKNN",
    "als": "recsys.models.implicit_mf:ALS",
    "bpr": "recsys.models.implicit_mf:BPR",
    "ease": "recsys.models.ease:EASE",
    "sasrec": "recsys.models.sasrec:SASRec",
    "content": "recsys.models.content:Content",
}


def get_model_class(name: str) -> type[Recommender]:
    """The class registered under `name` (see MODEL_CLASSES)."""
    try:
        module, cls = MODEL_CLASSES[name].split(":")
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_CLASSES)}") from None
    return getattr(importlib.import_module(module), cls)


def create_model(name: str, **params: Any) -> Recommender:
    """A new, unfitted model `name` with hyper-parameters `params`."""
    return get_model_class(name)(**params)


def load_model(path: str | Path) -> Recommender:
    """Load any saved model from its artifact directory."""
    from recsys.models.base import Recommender

    return Recommender.load(path)
