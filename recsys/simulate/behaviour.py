"""How a simulated user reacts to a list: position-biased examination, clicks and purchases from true tastes.

A user examines position p (1 = top) with probability 1 / p ** `position_decay`; an examined item is clicked with
probability min(`max_click`, `attraction` * P(item | user, last item)), where P is the generator's own next-item
walk (`Truth.next_item_probability`): a list that holds what the user would truly browse next gets clicked, so the
model that learned the generator's tastes and sequences truly wins. A click leads to add_to_cart and purchase with
the generator's funnel probabilities, and the clicked item becomes the user's last item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.simulate.truth import Truth


@dataclass(frozen=True)
class Behaviour:
    """Tunable user behaviour (defaults: clicks on about a third of lists that hold a true next item)."""

    position_decay: float = 1.0
    attraction: float = 4.0
    max_click: float = 0.9


@dataclass(frozen=True)
class Reaction:
    """What the user did with one list: clicked positions (1-based), and which of those were bought."""

    clicked: list[int]
    carted: list[int]
    bought: list[int]


def item_index(item_id: str, n_items: int) -> int:
    """Dense index of a generated item id ``i{j}``; -1 for ids the generator did not make."""
    if item_id.startswith("i") and item_id[1:].isdecimal():
        j = int(item_id[1:])
        return j if j < n_items else -1
    return -1


def react(truth: Truth, behaviour: Behaviour, user: int, last: int, items: list[str], rng: np.random.Generator
          ) -> Reaction:
    """The user's reaction to `items` (drawn from `rng`: k + k + k + k uniforms, whatever happens)."""
    k = len(items)
    idx = np.array([item_index(i, truth.n_items) for i in items], dtype=np.int64)
    p_next = truth.next_item_probability(user, last)
    attract = np.where(idx >= 0, np.minimum(behaviour.max_click, behaviour.attraction * p_next[np.maximum(idx, 0)]),
                       0.0)
    examine = 1.0 / np.arange(1, k + 1) ** behaviour.position_decay
    u_exam, u_click, u_cart, u_buy = rng.random(k), rng.random(k), rng.random(k), rng.random(k)
    clicked = (u_exam < examine) & (u_click < attract)
    carted = clicked & (u_cart < truth.p_cart)
    bought = carted & (u_buy < truth.p_purchase)
    pos = np.arange(1, k + 1)
    return Reaction(pos[clicked].tolist(), pos[carted].tolist(), pos[bought].tolist())
