"""Top-k positions of score rows: a partial sort (argpartition) then an exact, stable order of the k; large
blocks (full-ranking evaluation over a big catalogue) go to torch's top-k, which is many times faster than
numpy's argpartition there (512 users x 500k items: 0.5 s on one thread against tens of seconds)."""

from __future__ import annotations

import numpy as np

TORCH_MIN_SCORES = 4_000_000
"""Blocks at least this large (e.g. 8 users x 500k items) are ranked by torch.topk."""


def top_positions(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column positions and values of each row's `k` largest scores, best first: two ``(n_rows, k)`` arrays."""
    n = scores.shape[0]
    if n == 1:  # one user (a served request): plain 1-d indexing, without take_along_axis's index building
        row = scores[0]
        part = np.argpartition(-row, k - 1)[:k] if k < len(row) else np.arange(len(row))
        values = row[part]
        order = np.argsort(-values, kind="stable")
        return part[order][None], values[order][None]
    if scores.size >= TORCH_MIN_SCORES and k < scores.shape[1] and scores.dtype == np.float32:
        import torch

        values, pos = torch.topk(torch.from_numpy(np.ascontiguousarray(scores)), k, dim=1, largest=True, sorted=True)
        return pos.numpy(), values.numpy()
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(scores.shape[1]), (n, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)
