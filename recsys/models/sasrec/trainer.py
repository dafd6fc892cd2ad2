"""SASRec's training loop: next-item cross-entropy (full or sampled softmax), AdamW, early stopping, time budget.

Trained as in "gSASRec" / "SASRec+" (Klenitskiy & Vasilev 2023): next-item prediction at every position with
full-catalog cross-entropy (or sampled softmax for large catalogs), early stopping on validation NDCG@10 computed
by `recsys.evaluation.metrics` over the full catalog with each user's training items excluded.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from recsys.evaluation.metrics import ndcg_at_k
from recsys.models.sasrec.config import SASRecConfig
from recsys.models.sasrec.network import SCORE_BATCH, SASRecNet, autocast, last_states, windows

logger = logging.getLogger(__name__)

VAL_K = 10


@dataclass(frozen=True)
class TrainResult:
    """What a training run learned about its own length."""

    epochs_trained: int
    best_epoch: int
    best_val_ndcg: float  # NaN without validation


class Trainer:
    """Trains `net` on `sequences` (dense item indices per user); `seen` marks each user's training items."""

    def __init__(self, config: SASRecConfig, net: SASRecNet, sequences: Sequence[np.ndarray], seen: sp.csr_matrix,
                 device: torch.device, progress: Callable[[int, int], None] | None = None) -> None:
        self.config = config
        self.net = net
        self.sequences = sequences
        self.seen = seen
        self.device = device
        self.progress = progress
        # The compiled module shares the net's parameters; shapes vary with each batch's longest sequence.
        self.forward = torch.compile(net, dynamic=True) if config.compile else net

    def run(self, val_users: np.ndarray, val_targets: list[np.ndarray], rng: np.random.Generator) -> TrainResult:
        """Train up to ``config.epochs`` epochs, checking validation NDCG@10 every ``eval_every``; the net ends
        with the best check's weights."""
        cfg = self.config
        opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        train_users = np.array([u for u, s in enumerate(self.sequences) if len(s) >= 2], dtype=np.int64)
        if len(train_users) == 0:
            raise ValueError("SASRec needs at least one user with two or more events to learn next-item prediction")
        stopper = _EarlyStopping(cfg.patience, cfg.val_window)
        epochs_trained, best_state = 0, None
        deadline = time.perf_counter() + (cfg.time_budget_s if cfg.time_budget_s is not None else float("inf"))
        for epoch in range(1, cfg.epochs + 1):
            start = time.perf_counter()
            loss = self.train_epoch(opt, train_users, rng)
            epochs_trained = epoch
            if self.progress:
                self.progress(epoch, cfg.epochs)
            out_of_time = time.perf_counter() >= deadline
            if out_of_time:
                logger.info("sasrec stops after epoch %d: time budget of %.0fs spent", epoch, cfg.time_budget_s)
            if not len(val_users) or (epoch % cfg.eval_every and epoch != cfg.epochs and not out_of_time):
                logger.info("sasrec epoch %d loss %.4f (%.1fs)", epoch, loss, time.perf_counter() - start)
                if out_of_time:
                    break
                continue
            improved, stop = stopper.check(epoch, self.validation_ndcg(val_users, val_targets))
            logger.info("sasrec epoch %d loss %.4f val ndcg@10 %.4f%s (%.1fs)", epoch, loss, stopper.checks[-1],
                        stopper.window_note(), time.perf_counter() - start)
            if improved:
                best_state = copy.deepcopy(self.net.state_dict())
            if stop:
                logger.info("sasrec early stop at epoch %d: best val ndcg@10 %.4f at epoch %d",
                            epoch, stopper.best, stopper.best_epoch)
                break
            if out_of_time:
                break
        if best_state is not None:
            self.net.load_state_dict(best_state)  # the best epoch's weights, not the last
            best_epoch = stopper.best_epoch
        else:
            best_epoch = epochs_trained
        best = float(stopper.best) if stopper.best >= 0 else float("nan")
        return TrainResult(epochs_trained=epochs_trained, best_epoch=best_epoch, best_val_ndcg=best)

    def train_epoch(self, opt: torch.optim.Optimizer, users: np.ndarray, rng: np.random.Generator) -> float:
        """One pass over `users` in shuffled batches; the mean loss per predicted position."""
        self.net.train()
        total, count = 0.0, 0
        for batch in self.batches(users, rng):
            seqs = [self.sequences[u] for u in batch]
            # Inputs are items [0, n-1), targets are the next items [1, n): the last max_len+1 items of each user.
            tokens = torch.from_numpy(windows(seqs, self.config.max_len + 1)).to(self.device)  # (B, T+1)
            inputs, targets = tokens[:, :-1], tokens[:, 1:]  # (B, T) each
            keep = (inputs > 0) & (targets > 0)
            with autocast(self.device, self.config.precision):
                h = self.forward(inputs)[keep]  # (N, C): only real positions reach the (costly) output layer
                loss = self.loss(h, targets[keep])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * int(keep.sum())
            count += int(keep.sum())
        return total / max(count, 1)

    def batches(self, users: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Shuffled batches of users of similar length: batches are trimmed to their longest sequence, so this
        spares the padding (the attention mask makes a user's result independent of the batch it is in)."""
        size = self.config.batch_size
        order = rng.permutation(users)
        lengths = np.array([min(len(self.sequences[u]), self.config.max_len + 1) for u in order])
        chunk = size * 50
        batches = []
        for lo in range(0, len(order), chunk):
            part = order[lo:lo + chunk][np.argsort(lengths[lo:lo + chunk], kind="stable")]
            batches += [part[i:i + size] for i in range(0, len(part), size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def loss(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of states `h` ``(N, C)`` against target tokens ``(N,)``."""
        weights = self.net.item_weights()  # (n_items, C)
        if self.config.loss == "ce":
            return F.cross_entropy((h @ weights.T).float(), targets - 1)
        n_neg = self.config.n_negatives
        negatives = torch.randint(1, weights.shape[0] + 1, (n_neg,), device=h.device)
        pos = (h * self.net.item_emb(targets)).sum(-1, keepdim=True)  # (N, 1)
        # logQ correction for uniform sampling: makes the sampled loss estimate the full-catalog softmax.
        neg = h @ self.net.item_emb(negatives).T + float(np.log(weights.shape[0] / n_neg))  # (N, n_neg)
        neg = neg.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))  # accidental hits
        logits = torch.cat([pos, neg], dim=1).float()
        return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=h.device))

    @torch.no_grad()
    def validation_ndcg(self, users: np.ndarray, targets: list[np.ndarray]) -> float:
        """Mean NDCG@10 over the full catalog with the user's training items excluded."""
        self.net.eval()
        values = []
        weights = self.net.item_weights()
        for lo in range(0, len(users), SCORE_BATCH):
            batch = users[lo:lo + SCORE_BATCH]
            states = last_states(self.net, [self.sequences[u] for u in batch], self.config.max_len, self.device,
                                 self.config.precision)
            with autocast(self.device, self.config.precision):
                scores = (states @ weights.T).float().cpu().numpy()  # (B, n_items)
            hits = np.zeros((len(batch), min(VAL_K, scores.shape[1])), dtype=bool)
            for r, u in enumerate(batch):
                row = scores[r]
                row[self.seen.indices[self.seen.indptr[u]:self.seen.indptr[u + 1]]] = -np.inf
                top = np.argpartition(-row, VAL_K - 1)[:VAL_K] if len(row) > VAL_K else np.arange(len(row))
                hits[r] = np.isin(top[np.argsort(-row[top], kind="stable")], targets[lo + r])
            n_relevant = np.array([len(t) for t in targets[lo:lo + len(batch)]])
            values.append(ndcg_at_k(hits, n_relevant, VAL_K))
        return float(np.concatenate(values).mean())


class _EarlyStopping:
    """Follows the mean of the last `window` validation checks; stops after `patience` checks without a better one."""

    def __init__(self, patience: int, window: int) -> None:
        self.patience, self.window = patience, window
        self.checks: list[float] = []
        self.best, self.best_epoch, self.since_best = -1.0, 0, 0

    def check(self, epoch: int, value: float) -> tuple[bool, bool]:
        """Record a check; ``(improved, stop)``."""
        self.checks.append(value)
        score = self.smoothed
        if score > self.best:
            self.best, self.best_epoch, self.since_best = score, epoch, 0
            return True, False
        self.since_best += 1
        return False, self.since_best >= self.patience

    @property
    def smoothed(self) -> float:
        return float(np.mean(self.checks[-self.window:]))

    def window_note(self) -> str:
        if self.window == 1:
            return ""
        return f" (mean of last {min(len(self.checks), self.window)}: {self.smoothed:.4f})"
