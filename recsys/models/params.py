"""Parameter resolution: a model's constructor arguments from user-given hyper-parameters and run-wide options."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from recsys.errors import InputError
from recsys.models import MODEL_CLASSES, get_model_class
from recsys.models.base import Recommender

log = logging.getLogger(__name__)


def model_class(model: str) -> type[Recommender]:
    """The class of `model`; InputError for an unknown or unavailable one."""
    if model not in MODEL_CLASSES:
        raise InputError(f"unknown model {model!r}; known models: {', '.join(MODEL_CLASSES)}")
    try:
        return get_model_class(model)
    except ImportError as err:
        raise InputError(f"model {model!r} is not available in this installation: {err}") from err


def model_params(
    model: str,
    params: Mapping[str, Any] | None = None,
    *,
    device: str = "auto",
    epochs: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Constructor arguments of `model`: `params` checked against its hyper-parameters, plus `device`, `epochs`
    (as its `length_param`: ``epochs`` or, for implicit's models, ``iterations``) and `seed` (``seed`` or
    ``random_state``) where the model takes them."""
    cls = model_class(model)
    names = cls._param_names()
    unknown = sorted(set(params or {}) - set(names))
    if unknown:
        raise InputError(f"model {model!r} has no parameter {', '.join(unknown)}; its parameters: "
                         f"{', '.join(names) or '(none)'}")
    out: dict[str, Any] = {}
    for key in ("seed", "random_state"):
        if key in names:
            out[key] = seed
            break
    if "device" in names:
        out["device"] = device
    if epochs is not None:
        if epochs < 1:
            raise InputError(f"epochs must be at least 1, got {epochs}")
        if cls.length_param is None:
            log.info("%s has no epochs: --epochs ignored for it", model)
        else:
            out[cls.length_param] = epochs
    out.update(params or {})
    return out


def epochs_for(model: str, epochs: int | Mapping[str, int] | None) -> int | None:
    """The epoch count of `model` from a run-wide `epochs`: a mapping sets it per model; an int applies to the
    models trained in epochs (neural ones), not to implicit's iterations."""
    if epochs is None:
        return None
    if isinstance(epochs, Mapping):
        return epochs.get(model)
    return epochs if model_class(model).length_param == "epochs" else None
