"""`SASRec`, the `Recommender`: keyword hyper-parameters (`SASRecConfig`), fit through `Trainer`, scoring from the
state after a user's newest item, artifacts as ``.npz`` arrays.

Input and output item embeddings are tied. A served user's state depends only on their last `max_len` items, so a
server may attach a `state_cache` (see `recsys.models.base.StateCache`) that keeps single users' states until a
new event changes the window.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from recsys.data import Interactions
from recsys.models.base import Recommender
from recsys.models.device import resolve_device
from recsys.models.sasrec.config import DEFAULTS as D
from recsys.models.sasrec.config import SASRecConfig
from recsys.models.sasrec.network import SASRecNet, autocast, last_states
from recsys.models.sasrec.trainer import Trainer
from recsys.models.sasrec.warm import load_warm

logger = logging.getLogger(__name__)


class SASRec(Recommender):
    """Self-attentive sequential recommender (PyTorch).

    hidden, layers, heads, dropout, max_len: the transformer (max_len = how many recent items it reads).
    lr, weight_decay, batch_size: AdamW and users per step. epochs: the most epochs to train.
    patience: stop after this many validation checks without a better NDCG@10; eval_every: epochs between checks.
    val_window: early stopping follows the mean validation NDCG@10 of the last `val_window` checks (1: each check
        alone). On a small validation set single checks are noisy, and the best single one is often a lucky spike
        early in a plateau; the mean picks the epoch that ends the best stretch instead.
    loss: "ce" (softmax over the whole catalog) or "sampled" (softmax over the target and `n_negatives` uniformly
        sampled items shared by a batch: for catalogs too large for the full softmax).
    random_state: seeds torch, numpy and the batch order (bit-identical results on CPU).
    device: "auto" (cuda when available, else cpu), "cpu" or "cuda".
    precision: "auto" (bf16 autocast on cuda, float32 on cpu), "bf16" or "fp32".
    compile: train through `torch.compile` (pays a compilation at the start of each fit; for long GPU runs).
    time_budget_s: stop after the epoch that exhausts this many seconds of training (for jobs with a deadline;
        the best epoch so far is kept; results then depend on the machine's speed).
    """

    name = "sasrec"
    supports_history = True
    early_stopping = True
    length_param = "epochs"
    warm_startable = True

    def __init__(
        self,
        *,
        hidden: int = D.hidden,
        layers: int = D.layers,
        heads: int = D.heads,
        dropout: float = D.dropout,
        max_len: int = D.max_len,
        lr: float = D.lr,
        weight_decay: float = D.weight_decay,
        batch_size: int = D.batch_size,
        epochs: int = D.epochs,
        patience: int = D.patience,
        eval_every: int = D.eval_every,
        val_window: int = D.val_window,
        loss: str = D.loss,
        n_negatives: int = D.n_negatives,
        random_state: int = D.random_state,
        device: str = D.device,
        time_budget_s: float | None = D.time_budget_s,
        precision: str = D.precision,
        compile: bool = D.compile,
    ) -> None:
        self.hidden = hidden
        self.layers = layers
        self.heads = heads
        self.dropout = dropout
        self.max_len = max_len
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.eval_every = eval_every
        self.val_window = val_window
        self.loss = loss
        self.n_negatives = n_negatives
        self.random_state = random_state
        self.device = device
        self.time_budget_s = time_budget_s
        self.precision = precision
        self.compile = compile

    # ---------------------------------------------------------------- what a fit reports
    @property
    def config(self) -> SASRecConfig:
        """The hyper-parameters as a validated `SASRecConfig` (ValueError on a bad one)."""
        return SASRecConfig(**self.get_params()).validate()

    @property
    def best_length(self) -> int | None:
        return self.best_epoch_

    @property
    def fitted_device(self) -> str | None:
        return str(self.device_)

    def training_lengths(self) -> dict[str, int | float]:
        return {"epochs_trained": self.epochs_trained_, "best_epoch": self.best_epoch_, "epochs": self.epochs}

    def _torch_device(self, config: SASRecConfig) -> torch.device:
        return torch.device(resolve_device(config.device, gpu_available=torch.cuda.is_available, what="SASRec",
                                           missing="no CUDA GPU is available here"))

    # ---------------------------------------------------------------- training
    def _fit(self, data: Interactions, validation: Mapping[str, Sequence[str]] | None) -> None:
        config = self.config
        self.device_ = self._torch_device(config)
        with _seeded(config.random_state, self.device_):
            rng = np.random.default_rng(config.random_state)  # the batch order
            self.net_ = SASRecNet.of(config, data.n_items)
            previous = self._take_warm_start()
            if previous is not None:
                self.warm_started_ = load_warm(self.net_, previous.net_, self.items_, previous.items_)
            self.net_ = self.net_.to(self.device_)
            val_users, val_targets = self._validation_set(validation)
            if validation is not None and not len(val_users):
                logger.warning("SASRec: no validation user is known with a known target item; training %d epochs "
                               "without early stopping", config.epochs)
            trainer = Trainer(config, self.net_, self.sequences_, self.seen_, self.device_, self._progress)
            result = trainer.run(val_users, val_targets, rng)
        self.epochs_trained_ = result.epochs_trained
        self.best_epoch_ = result.best_epoch
        self.best_val_ndcg_ = result.best_val_ndcg
        self.net_.eval()

    def _validation_set(self, validation: Mapping[str, Sequence[str]] | None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Dense (users, target items) of the validation users known with training items and a known target."""
        if not validation:
            return np.zeros(0, np.int64), []
        users, targets = [], []
        uidx = self.users_.index(list(validation.keys()))
        for u, items in zip(uidx, validation.values(), strict=True):
            t = self.items_.index(list(items))
            t = t[t >= 0]
            if u >= 0 and len(t) and len(self.sequences_[u]):
                users.append(u)
                targets.append(t)
        return np.asarray(users, np.int64), targets

    # ---------------------------------------------------------------- scoring
    @torch.no_grad()
    def _score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        self.net_.eval()
        windows = [h[-self.max_len:] for h in histories]
        states = self._cached_states(windows)  # (B, C)
        with autocast(self.device_, self.precision):
            logits = states @ self.net_.item_weights().T  # (B, n_items)
        out = logits.float().cpu().numpy()
        empty = np.array([len(h) == 0 for h in histories], dtype=bool)
        out[empty] = self.item_popularity_  # nothing to read: fall back to popularity
        return out

    @torch.no_grad()
    def _query_vectors(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        self.net_.eval()
        return self._cached_states([h[-self.max_len:] for h in histories]).float().cpu().numpy()

    def _item_vectors(self) -> np.ndarray:
        return self.net_.item_weights().detach().float().cpu().numpy()  # a view on CPU, no copy

    def _cached_states(self, windows: Sequence[np.ndarray]) -> torch.Tensor:
        """The states of `windows`, through the attached `state_cache` for single users. Batches bypass it (a
        state's last bits depend on the batch's padding, and batch answers must not depend on earlier calls)."""
        cache = self.state_cache
        if cache is None or len(windows) != 1:
            return last_states(self.net_, windows, self.max_len, self.device_, self.precision)
        key = np.ascontiguousarray(windows[0], dtype=np.int64).tobytes()
        state = cache.get(key)
        if state is None:
            state = last_states(self.net_, windows, self.max_len, self.device_, self.precision)
            cache.put(key, state)
        return state

    @torch.no_grad()
    def _similar(self, items: np.ndarray) -> np.ndarray:
        w = F.normalize(self.net_.item_weights().float(), dim=1)  # (n_items, C)
        idx = torch.from_numpy(np.asarray(items, np.int64)).to(w.device)
        return (w[idx] @ w.T).cpu().numpy().astype(np.float32)

    # ---------------------------------------------------------------- artifacts
    def _state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v.detach().float().cpu().numpy() for k, v in self.net_.state_dict().items()}
        state["epochs_trained"] = np.asarray(self.epochs_trained_, np.int64)
        state["best_epoch"] = np.asarray(self.best_epoch_, np.int64)
        state["best_val_ndcg"] = np.asarray(self.best_val_ndcg_, np.float32)
        return state

    def _load_state(self, state: Mapping[str, np.ndarray]) -> None:
        config = self.config
        self.device_ = self._torch_device(config)
        net = SASRecNet.of(config, len(self.items_))
        net.load_state_dict({k[4:]: torch.from_numpy(np.asarray(v)) for k, v in state.items() if k.startswith("net.")})
        self.net_ = net.to(self.device_).eval()
        self.epochs_trained_ = int(state["epochs_trained"])
        self.best_epoch_ = int(state["best_epoch"])
        self.best_val_ndcg_ = float(state["best_val_ndcg"])


@contextmanager
def _seeded(seed: int, device: torch.device) -> Any:
    """Seed torch for a fit without disturbing the caller's random state; deterministic kernels on CPU (cheap
    there; on CUDA they would need CUBLAS_WORKSPACE_CONFIG and slower kernels). Restores everything afterwards."""
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        previous = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(previous or device.type == "cpu")
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous)
