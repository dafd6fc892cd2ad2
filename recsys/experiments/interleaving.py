"""Team-draft interleaving (Radlinski et al., 2008): two rankings merged into one list, each item credited to the
team (arm) that picked it; clicks on credited items give a per-request preference."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def coin(seed: str, round_no: int) -> bool:
    """A fair coin fixed by (seed, round): True means team A picks first in that round."""
    return hashlib.blake2b(f"{seed}\x1f{round_no}".encode(), digest_size=1).digest()[0] & 1 == 1


def team_draft(a: Sequence[str], b: Sequence[str], k: int, seed: str, teams: tuple[str, str] = ("a", "b")
               ) -> tuple[list[str], list[str]]:
    """Merge rankings `a` and `b` into at most `k` items; returns (items, the team that contributed each).

    Every round a coin decides which team picks first; each team picks its highest-ranked item not yet shown.
    When one ranking runs out the other fills the rest."""
    items: list[str] = []
    credit: list[str] = []
    shown: set[str] = set()
    pos = [0, 0]
    lists = (a, b)
    round_no = 0
    while len(items) < k:
        order = (0, 1) if coin(seed, round_no) else (1, 0)
        picked = False
        for t in order:
            lst = lists[t]
            while pos[t] < len(lst) and lst[pos[t]] in shown:
                pos[t] += 1
            if pos[t] < len(lst) and len(items) < k:
                item = lst[pos[t]]
                items.append(item)
                credit.append(teams[t])
                shown.add(item)
                picked = True
        if not picked:
            break
        round_no += 1
    return items, credit


def preference(credit: Sequence[str], clicked_positions: Sequence[int], teams: tuple[str, str]) -> int:
    """+1 when team A got more clicks (positions 1-based), -1 when team B did, 0 for a tie or no click."""
    a = sum(1 for p in clicked_positions if 1 <= p <= len(credit) and credit[p - 1] == teams[0])
    b = sum(1 for p in clicked_positions if 1 <= p <= len(credit) and credit[p - 1] == teams[1])
    return (a > b) - (a < b)
