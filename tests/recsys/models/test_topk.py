"""`top_positions`: the one-row path (a served request) answers exactly as the batch path does, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.models.topk import top_positions


@pytest.mark.parametrize("k", [1, 3, 10, 25, 40])
def test_one_row_equals_the_batch_path(k: int) -> None:
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 6, size=(8, 25)).astype(np.float32)  # many ties
    scores[0, :4] = -np.inf
    _, batch_top = top_positions(scores, min(k, 25))
    for r in range(len(scores)):
        pos, top = top_positions(scores[r : r + 1], min(k, 25))
        assert pos.shape == (1, min(k, 25))
        np.testing.assert_array_equal(top[0], batch_top[r])
        np.testing.assert_array_equal(np.sort(scores[r])[::-1][: min(k, 25)], top[0])  # the k largest, best first
        np.testing.assert_array_equal(scores[r, pos[0]], top[0])


def test_large_blocks_rank_like_small_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    import recsys.models.topk as topk

    rng = np.random.default_rng(0)
    scores = rng.standard_normal((6, 3000)).astype(np.float32)
    scores[:, :100] = -np.inf
    want = top_positions(scores, 20)  # below the threshold: numpy
    monkeypatch.setattr(topk, "TORCH_MIN_SCORES", 1)
    got = top_positions(scores, 20)  # torch.topk
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert got[0].dtype == np.int64 and got[1].dtype == np.float32
