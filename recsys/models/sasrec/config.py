"""SASRec's hyper-parameters as one typed, validated record."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from recsys.models.device import DEVICES

LOSSES = ("ce", "sampled")
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class SASRecConfig:
    """What `SASRec` is built and trained with (see `SASRec` for each field's meaning)."""

    # the network
    hidden: int = 64
    """Width C of item embeddings and states."""
    layers: int = 2
    heads: int = 1
    dropout: float = 0.2
    max_len: int = 200
    """How many recent items the network reads (T)."""
    # the optimiser and the loss
    lr: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    loss: str = "ce"
    """"ce" (softmax over the whole catalog) or "sampled" (`n_negatives` uniform negatives per batch)."""
    n_negatives: int = 256
    # how long to train
    epochs: int = 200
    """The most epochs."""
    patience: int = 10
    eval_every: int = 1
    val_window: int = 1
    time_budget_s: float | None = None
    # where and how reproducibly
    random_state: int = 0
    device: str = "auto"
    precision: str = "auto"
    """"auto" (bf16 autocast on CUDA, float32 on CPU), "bf16" or "fp32"."""
    compile: bool = False
    """Train through `torch.compile` (dynamic shapes: batches are trimmed to their longest sequence)."""

    def validate(self) -> SASRecConfig:
        """Self, once every field is checked; ValueError naming the first bad one otherwise."""
        positive = {"hidden": self.hidden, "layers": self.layers, "heads": self.heads, "max_len": self.max_len,
                    "batch_size": self.batch_size, "epochs": self.epochs, "patience": self.patience,
                    "eval_every": self.eval_every, "val_window": self.val_window, "n_negatives": self.n_negatives}
        for key, value in positive.items():
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"SASRec {key} must be a positive integer, got {value!r}")
        if self.hidden % self.heads:
            raise ValueError(f"SASRec hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"SASRec dropout must be in [0, 1), got {self.dropout}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"SASRec needs lr > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")
        if self.loss not in LOSSES:
            raise ValueError(f"SASRec loss must be one of {LOSSES}, got {self.loss!r}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(f"SASRec time_budget_s must be positive or None, got {self.time_budget_s}")
        if self.device not in DEVICES:
            raise ValueError(f"SASRec device must be one of {DEVICES}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"SASRec precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not isinstance(self.compile, bool | np.bool_):
            raise ValueError(f"SASRec compile must be true or false, got {self.compile!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULTS = SASRecConfig()
