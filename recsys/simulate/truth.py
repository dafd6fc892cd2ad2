"""The ground truth `recsys generate` sampled from, saved next to the events so simulated users can follow it.

``truth.npz`` holds, with dense indices (user ``u{i}`` is row i, item ``i{j}`` is row j):
``taste`` (users x categories, each row sums to 1), ``last_item`` (the user's last generated view, -1 if none),
``item_cat``, ``popularity`` (long-tailed weights), ``ring_start``/``ring_size``/``ring_pos``/``ring_order`` (the
category rings the browsing walk moves on), ``price``, and the walk's probabilities ``p_neighbour``,
``p_same_category``, ``p_cart``, ``p_purchase``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsys.errors import InputError

TRUTH_FILE = "truth.npz"
RING_STEPS = np.array([-2, -1, 1, 1, 2, 3])
"""The ring moves of the generator's browsing walk (a step forward twice as likely)."""


@dataclass(frozen=True)
class Truth:
    """What the generator knows about every user and item."""

    taste: np.ndarray
    last_item: np.ndarray
    item_cat: np.ndarray
    popularity: np.ndarray
    ring_start: np.ndarray
    ring_size: np.ndarray
    ring_pos: np.ndarray
    ring_order: np.ndarray
    price: np.ndarray
    p_neighbour: float
    p_same_category: float
    p_cart: float
    p_purchase: float

    @property
    def n_users(self) -> int:
        return int(self.taste.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_cat.shape[0])

    def next_item_probability(self, user: int, last: int) -> np.ndarray:
        """P(next item | user, last item) of the generator's walk: a ring neighbour of `last`, a popular item of its
        category, or a jump to a category drawn from the user's tastes. Without a last item: the jump alone."""
        cat = self.item_cat
        cat_pop = np.bincount(cat, weights=self.popularity, minlength=self.taste.shape[1])
        within = self.popularity / cat_pop[cat]  # P(item | its category), popularity-weighted
        jump = self.taste[user][cat] * within
        if last < 0:
            return jump
        c = int(cat[last])
        p = (1.0 - self.p_neighbour - self.p_same_category) * jump
        p = p + self.p_same_category * np.where(cat == c, within, 0.0)
        ring = self.ring_start[c] + (self.ring_pos[last] + RING_STEPS) % self.ring_size[c]
        np.add.at(p, self.ring_order[ring], self.p_neighbour / len(RING_STEPS))
        return p


def write_truth(out_dir: Path, truth: Truth) -> Path:
    """Save `truth` as ``out_dir/truth.npz`` (atomically; same truth, same bytes)."""
    path = Path(out_dir) / TRUTH_FILE
    tmp = path.with_name("." + path.name + ".tmp")
    with open(tmp, "wb") as f:
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in truth.__dict__.items()}
        np.savez(f, **arrays)
    tmp.replace(path)
    return path


def load_truth(folder: Path) -> Truth:
    """The truth `recsys generate --out folder` wrote; InputError when the folder has none."""
    path = Path(folder) / TRUTH_FILE
    if not path.is_file():
        raise InputError(f"{path} not found: --truth takes the folder `recsys generate --out` wrote")
    try:
        with np.load(path, allow_pickle=False) as z:
            fields = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise InputError(f"{path} is not a readable ground-truth file: {err}") from err
    scalars = ("p_neighbour", "p_same_category", "p_cart", "p_purchase")
    missing = sorted(set(Truth.__dataclass_fields__) - set(fields))
    if missing:
        raise InputError(f"{path} lacks {', '.join(missing)}: regenerate it with this version of `recsys generate`")
    kwargs: dict[str, Any] = {k: float(v) if k in scalars else v for k, v in fields.items()
                              if k in Truth.__dataclass_fields__}
    return Truth(**kwargs)
