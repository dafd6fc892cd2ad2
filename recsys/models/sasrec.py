"""SASRec: a causal self-attention model over each user's recent items (Kang & McAuley 2018).

Trained as in "gSASRec" / "SASRec+" (Klenitskiy & Vasilev 2023): next-item prediction at every position with
full-catalog cross-entropy (or sampled softmax for large catalogs), early stopping on validation NDCG@10.
Item index 0 is padding inside the network, so dense item ``i`` is token ``i + 1``; input and output item
embeddings are tied. Positions count back from the newest item, so a left-padded window can be trimmed to the
longest sequence of a batch without changing the result.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recsys.data import Interactions
from recsys.models.base import Recommender

logger = logging.getLogger(__name__)

LOSSES = ("ce", "sampled")
DEVICES = ("auto", "cpu", "cuda")
STATE_CACHE_SIZE = 65_536
"""Users' transformer states kept for serving (64 floats each at hidden 64: about 17 MB when full)."""


class _Block(nn.Module):
    """Pre-norm transformer block: causal self-attention then a GELU MLP, each with a residual."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.ln2 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden),
                                 nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape  # (B, T, C)
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))  # (B, H, T, C/H)
        # No dropout on the attention weights: it forces the slow "math" kernel (5x slower on CPU).
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(b, t, c)))
        return x + self.mlp(self.ln2(x))


class _SASRecNet(nn.Module):
    def __init__(self, n_items: int, hidden: int, layers: int, heads: int, dropout: float, max_len: int) -> None:
        super().__init__()
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(hidden, heads, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(hidden)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            # std 1/sqrt(C): a layer-normed state times a tied item embedding starts as unit-variance logits,
            # neither flat (slow start, as with std 0.02) nor saturated (as with std 1).
            nn.init.normal_(m.weight, std=m.embedding_dim ** -0.5)
            if m.padding_idx is not None:
                nn.init.zeros_(m.weight[m.padding_idx])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(B, T, C)`` of left-padded item tokens ``(B, T)``; pad positions are zeros."""
        t = tokens.shape[1]
        keep = tokens > 0  # (B, T)
        pos = torch.arange(t - 1, -1, -1, device=tokens.device)  # distance from the newest item
        x = self.drop(self.item_emb(tokens) + self.pos_emb(pos)) * keep.unsqueeze(-1)
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril()
        # Attend to earlier real items; a pad row attends to itself only, so no row is empty (no NaN).
        mask = (causal & keep[:, None, :]) | torch.eye(t, dtype=torch.bool, device=tokens.device)
        mask = mask.unsqueeze(1)  # (B, 1, T, T)
        for block in self.blocks:
            x = block(x, mask) * keep.unsqueeze(-1)
        return self.ln_f(x)

    def item_weights(self) -> torch.Tensor:
        """Output embeddings of real items ``(n_items, C)`` (tied to the input embeddings)."""
        return self.item_emb.weight[1:]


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
    device: "auto" (cuda when available, else cpu), "cpu" or "cuda"; on cuda, bf16 autocast.
    time_budget_s: stop after the epoch that exhausts this many seconds of training (for jobs with a deadline;
        the best epoch so far is kept; results then depend on the machine's speed).
    """

    name = "sasrec"
    supports_history = True

    def __init__(
        self,
        *,
        hidden: int = 64,
        layers: int = 2,
        heads: int = 1,
        dropout: float = 0.2,
        max_len: int = 200,
        lr: float = 2e-3,
        weight_decay: float = 0.0,
        batch_size: int = 64,
        epochs: int = 200,
        patience: int = 10,
        eval_every: int = 1,
        val_window: int = 1,
        loss: str = "ce",
        n_negatives: int = 256,
        random_state: int = 0,
        device: str = "auto",
        time_budget_s: float | None = None,
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

    # ---------------------------------------------------------------- set-up
    def _validate(self) -> None:
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

    def _torch_device(self) -> torch.device:
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("SASRec device='cuda' but no CUDA GPU is available here: use device='auto' or 'cpu'")
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _autocast(self) -> Any:
        if self.device_.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def _new_net(self, n_items: int) -> _SASRecNet:
        return _SASRecNet(n_items, self.hidden, self.layers, self.heads, self.dropout, self.max_len)

    def _windows(self, seqs: Sequence[np.ndarray], length: int) -> np.ndarray:
        """Left-padded tokens ``(len(seqs), T)`` of each sequence's last `length` items (T = longest kept)."""
        t = max(1, min(length, max((len(s) for s in seqs), default=1)))
        out = np.zeros((len(seqs), t), dtype=np.int64)
        for r, s in enumerate(seqs):
            s = s[-t:]
            if len(s):
                out[r, t - len(s):] = s + 1
        return out

    # ---------------------------------------------------------------- training
    def _fit(self, data: Interactions, validation: Mapping[str, Sequence[str]] | None) -> None:
        self._state_cache: OrderedDict[bytes, torch.Tensor] | None = None  # weights change while training
        self._validate()
        self.device_ = self._torch_device()
        with _seeded(self.random_state, self.device_):
            self._train(data, validation)
        self.net_.eval()

    def _train(self, data: Interactions, validation: Mapping[str, Sequence[str]] | None) -> None:
        rng = np.random.default_rng(self.random_state)  # the batch order
        n_items = data.n_items
        self.net_ = self._new_net(n_items).to(self.device_)
        opt = torch.optim.AdamW(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)

        train_users = np.array([u for u, s in enumerate(self.sequences_) if len(s) >= 2], dtype=np.int64)
        if len(train_users) == 0:
            raise ValueError("SASRec needs at least one user with two or more events to learn next-item prediction")
        val_users, val_targets = self._validation_set(validation)
        if validation is not None and not len(val_users):
            logger.warning("SASRec: no validation user is known with a known target item; training %d epochs "
                           "without early stopping", self.epochs)

        best, best_state, since_best, checks = -1.0, None, 0, []
        self.epochs_trained_ = 0
        deadline = time.perf_counter() + (self.time_budget_s if self.time_budget_s is not None else float("inf"))
        for epoch in range(1, self.epochs + 1):
            start = time.perf_counter()
            loss = self._train_epoch(opt, train_users, rng)
            self.epochs_trained_ = epoch
            out_of_time = time.perf_counter() >= deadline
            if out_of_time:
                logger.info("sasrec stops after epoch %d: time budget of %.0fs spent", epoch, self.time_budget_s)
            if not len(val_users) or (epoch % self.eval_every and epoch != self.epochs and not out_of_time):
                logger.info("sasrec epoch %d loss %.4f (%.1fs)", epoch, loss, time.perf_counter() - start)
                if out_of_time:
                    break
                continue
            checks.append(self._validation_ndcg(val_users, val_targets))
            ndcg = float(np.mean(checks[-self.val_window:]))
            logger.info("sasrec epoch %d loss %.4f val ndcg@10 %.4f%s (%.1fs)", epoch, loss, checks[-1],
                        f" (mean of last {min(len(checks), self.val_window)}: {ndcg:.4f})" if self.val_window > 1
                        else "", time.perf_counter() - start)
            if ndcg > best:
                best, since_best = ndcg, 0
                best_state = copy.deepcopy(self.net_.state_dict())
                self.best_epoch_ = epoch
            else:
                since_best += 1
                if since_best >= self.patience:
                    logger.info("sasrec early stop at epoch %d: best val ndcg@10 %.4f at epoch %d",
                                epoch, best, self.best_epoch_)
                    break
            if out_of_time:
                break
        if best_state is not None:
            self.net_.load_state_dict(best_state)  # the best epoch's weights, not the last
        else:
            self.best_epoch_ = self.epochs_trained_
        self.best_val_ndcg_ = float(best) if best >= 0 else float("nan")
        self._state_cache = OrderedDict()

    def _train_epoch(self, opt: torch.optim.Optimizer, users: np.ndarray, rng: np.random.Generator) -> float:
        self.net_.train()
        total, count = 0.0, 0
        for batch in self._batches(users, rng):
            seqs = [self.sequences_[u] for u in batch]
            # Inputs are items [0, n-1), targets are the next items [1, n): the last max_len+1 items of each user.
            tokens = torch.from_numpy(self._windows(seqs, self.max_len + 1)).to(self.device_)
            inputs, targets = tokens[:, :-1], tokens[:, 1:]
            keep = (inputs > 0) & (targets > 0)
            with self._autocast():
                h = self.net_(inputs)[keep]  # (N, C): only real positions reach the (costly) output layer
                loss = self._loss(h, targets[keep])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * int(keep.sum())
            count += int(keep.sum())
        return total / max(count, 1)

    def _batches(self, users: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Shuffled batches of users of similar length: batches are trimmed to their longest sequence, so this
        spares the padding (the attention mask makes a user's result independent of the batch it is in)."""
        order = rng.permutation(users)
        lengths = np.array([min(len(self.sequences_[u]), self.max_len + 1) for u in order])
        chunk = self.batch_size * 50
        batches = []
        for lo in range(0, len(order), chunk):
            part = order[lo:lo + chunk][np.argsort(lengths[lo:lo + chunk], kind="stable")]
            batches += [part[i:i + self.batch_size] for i in range(0, len(part), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def _loss(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        weights = self.net_.item_weights()
        if self.loss == "ce":
            return F.cross_entropy((h @ weights.T).float(), targets - 1)
        negatives = torch.randint(1, weights.shape[0] + 1, (self.n_negatives,), device=h.device)
        pos = (h * self.net_.item_emb(targets)).sum(-1, keepdim=True)  # (N, 1)
        # logQ correction for uniform sampling: makes the sampled loss estimate the full-catalog softmax.
        neg = h @ self.net_.item_emb(negatives).T + float(np.log(weights.shape[0] / self.n_negatives))
        neg = neg.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))  # accidental hits
        logits = torch.cat([pos, neg], dim=1).float()
        return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=h.device))

    # ---------------------------------------------------------------- validation
    def _validation_set(self, validation: Mapping[str, Sequence[str]] | None) -> tuple[np.ndarray, list[np.ndarray]]:
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

    def _validation_ndcg(self, users: np.ndarray, targets: list[np.ndarray]) -> float:
        """Mean NDCG@10 over the full catalog with the user's training items excluded."""
        total = 0.0
        step = 256
        for lo in range(0, len(users), step):
            batch = users[lo:lo + step]
            scores = self._score(batch, [self.sequences_[u] for u in batch])
            for r, u in enumerate(batch):
                seen = self.seen_.indices[self.seen_.indptr[u]:self.seen_.indptr[u + 1]]
                relevant = targets[lo + r]
                row = scores[r]
                row[seen] = -np.inf
                top = np.argpartition(-row, 9)[:10] if len(row) > 10 else np.arange(len(row))
                top = top[np.argsort(-row[top], kind="stable")]
                hits = np.isin(top, relevant)
                dcg = float((hits / np.log2(np.arange(2, len(top) + 2))).sum())
                idcg = float((1.0 / np.log2(np.arange(2, min(len(relevant), 10) + 2))).sum())
                total += dcg / idcg
        return total / len(users)

    # ---------------------------------------------------------------- scoring
    @torch.no_grad()
    def _score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        self.net_.eval()
        windows = [h[-self.max_len:] for h in histories]
        states = self._cached_states(windows)
        with self._autocast():
            logits = states @ self.net_.item_weights().T  # (B, n_items)
        out = logits.float().cpu().numpy()
        empty = np.array([len(h) == 0 for h in histories], dtype=bool)
        out[empty] = self.item_popularity_  # nothing to read: fall back to popularity
        return out

    @torch.no_grad()
    def _query_vectors(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        return self._cached_states([h[-self.max_len:] for h in histories]).cpu().numpy()

    def _item_vectors(self) -> np.ndarray:
        return self.net_.item_weights().detach().float().cpu().numpy()  # a view on CPU, no copy

    def _states(self, windows: Sequence[np.ndarray]) -> torch.Tensor:
        """The transformer's state after each window's newest item, ``(len(windows), C)``."""
        parts = []
        for lo in range(0, len(windows), 256):
            tokens = torch.from_numpy(self._windows(windows[lo:lo + 256], self.max_len)).to(self.device_)
            with self._autocast():
                parts.append(self.net_(tokens)[:, -1].float())
        return torch.cat(parts) if parts else torch.zeros((0, self.hidden), device=self.device_)

    def _cached_states(self, windows: Sequence[np.ndarray]) -> torch.Tensor:
        """`_states`, remembering single users' windows: a served user's state depends only on their last `max_len`
        items, so repeated requests skip the transformer until a new event changes the window. Batches bypass it
        (a state's last bits depend on the batch's padding, and batch answers must not depend on earlier calls);
        off while fitting."""
        cache: OrderedDict[bytes, torch.Tensor] | None = getattr(self, "_state_cache", None)
        if cache is None or len(windows) != 1:
            return self._states(windows)
        key = np.ascontiguousarray(windows[0], dtype=np.int64).tobytes()
        state = cache.get(key)
        if state is None:
            state = self._states(windows)
            cache[key] = state
            if len(cache) > STATE_CACHE_SIZE:
                cache.popitem(last=False)
        return state

    @torch.no_grad()
    def _similar(self, items: np.ndarray) -> np.ndarray:
        w = F.normalize(self.net_.item_weights().float(), dim=1)
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
        self._validate()
        self.device_ = self._torch_device()
        net = self._new_net(len(self.items_))
        net.load_state_dict({k[4:]: torch.from_numpy(np.asarray(v)) for k, v in state.items() if k.startswith("net.")})
        self.net_ = net.to(self.device_).eval()
        self._state_cache = OrderedDict()
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
