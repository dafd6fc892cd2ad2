"""SASRec on tiny planted data: it must learn order (not just popularity), read live histories, and be reproducible."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from recsys.data import Interactions
from recsys.errors import NotFittedError
from recsys.models import create_model, load_model
from recsys.models.sasrec import SASRec
from recsys.models.sasrec.trainer import Trainer

N_ITEMS = 20
FAST = {"hidden": 32, "layers": 1, "heads": 2, "dropout": 0.0, "max_len": 10, "lr": 1e-2, "batch_size": 32,
        "device": "cpu"}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread (and the suite shares a few cores)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def chain_data(n_users: int = 120, length: int = 8, seed: int = 0) -> dict[str, list[str]]:
    """Every user walks the ring i -> i+1 from a random start, so the next item is fully determined by the last;
    starts are skewed so that popularity alone points elsewhere."""
    rng = np.random.default_rng(seed)
    starts = rng.choice(N_ITEMS, size=n_users, p=np.linspace(2, 1, N_ITEMS) / np.linspace(2, 1, N_ITEMS).sum())
    return {f"u{u}": [f"i{(s + j) % N_ITEMS}" for j in range(length)] for u, s in enumerate(starts)}


def fit_chain(**params: object) -> SASRec:
    data = Interactions.from_sequences(chain_data(), items=[f"i{i}" for i in range(N_ITEMS)])
    return SASRec(**{**FAST, "epochs": 12, **params}).fit(data)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def chain_model() -> SASRec:
    return fit_chain(random_state=0)


def next_item_hit_rate(model: SASRec) -> float:
    """How often the top item for a fresh user with history [i-2, i-1, i] is i+1."""
    histories = [[f"i{(i - 2) % N_ITEMS}", f"i{(i - 1) % N_ITEMS}", f"i{i}"] for i in range(N_ITEMS)]
    ids, _ = model.recommend([f"new{i}" for i in range(N_ITEMS)], k=1, histories=histories)
    return float(np.mean([ids[i, 0] == f"i{(i + 1) % N_ITEMS}" for i in range(N_ITEMS)]))


def test_learns_a_planted_sequential_pattern_beyond_popularity(chain_model: SASRec) -> None:
    popularity = create_model("popularity").fit(Interactions.from_sequences(chain_data()))
    assert next_item_hit_rate(popularity) <= 0.15  # one ranking for everyone cannot follow the ring
    assert next_item_hit_rate(chain_model) >= 0.9
    assert chain_model.epochs_trained_ == 12 and np.isnan(chain_model.best_val_ndcg_)  # no validation: all epochs


def test_scores_an_unseen_user_from_live_history_and_live_events_change_the_answer(chain_model: SASRec) -> None:
    ids, scores = chain_model.recommend("stranger", k=3, histories=[["i3", "i4"]])
    assert ids[0] == "i5" and np.isfinite(scores).all()
    assert "i3" not in ids and "i4" not in ids  # live history counts as seen
    cold, _ = chain_model.recommend("stranger", k=3)  # no history: popularity fallback, still answers
    assert list(cold) != list(ids)

    known = "u0"
    last = chain_model.sequences_[chain_model.users_.index([known])[0]][-1]
    before, _ = chain_model.recommend(known, k=1)
    assert before[0] == f"i{(last + 1) % N_ITEMS}"
    jump = f"i{(last + 10) % N_ITEMS}"
    after, _ = chain_model.recommend(known, k=1, histories=[[jump]])
    assert after[0] == f"i{(last + 11) % N_ITEMS}" != before[0]


class DictStates:
    """The smallest `StateCache`: what a server attaches (serving.state_cache keys it by model version too)."""

    def __init__(self) -> None:
        self.states: dict[bytes, torch.Tensor] = {}
        self.hits = 0

    def get(self, window: bytes) -> torch.Tensor | None:
        self.hits += window in self.states
        return self.states.get(window)

    def put(self, window: bytes, state: torch.Tensor) -> None:
        self.states[window] = state


def test_an_attached_state_cache_is_reused_until_a_new_event_changes_the_window(chain_model: SASRec) -> None:
    cache = DictStates()
    chain_model.state_cache = cache
    try:
        first = chain_model.recommend("u1", k=5)
        assert len(cache.states) == 1 and cache.hits == 0
        again = chain_model.recommend("u1", k=5)
        assert cache.hits == 1
        assert list(again[0]) == list(first[0]) and (again[1] == first[1]).all()
        _, batch_scores = chain_model.recommend(["u1", "u2"], k=5)  # batches compute afresh
        assert len(cache.states) == 1
        np.testing.assert_allclose(batch_scores[0], first[1], rtol=1e-5)
        moved, _ = chain_model.recommend("u1", k=5, histories=[["i0"]])  # a new event: a new window, a new state
        assert moved[0] == "i1" and list(moved) != list(first[0]) and len(cache.states) == 2
    finally:
        chain_model.state_cache = None


def test_same_seed_same_model_other_seed_differs() -> None:
    a, b, c = fit_chain(epochs=3, random_state=7), fit_chain(epochs=3, random_state=7), fit_chain(epochs=3)
    users = [f"u{i}" for i in range(10)]
    sa, sb, sc = (m._score(m.users_.index(users), [m.sequences_[u] for u in m.users_.index(users)]) for m in (a, b, c))
    assert np.array_equal(sa, sb)
    assert not np.allclose(sa, sc)


def test_save_load_gives_identical_scores_and_keeps_training_record(chain_model: SASRec, tmp_path) -> None:
    loaded = load_model(chain_model.save(tmp_path / "sasrec"))
    assert isinstance(loaded, SASRec) and loaded.get_params() == chain_model.get_params()
    users = ["u1", "u5", "stranger"]
    histories = [None, ["i7"], ["i2", "i3"]]
    ids, scores = chain_model.recommend(users, k=5, histories=histories)
    ids2, scores2 = loaded.recommend(users, k=5, histories=histories)
    assert (ids == ids2).all() and np.array_equal(scores, scores2)
    assert loaded.epochs_trained_ == chain_model.epochs_trained_ and loaded.best_epoch_ == chain_model.best_epoch_
    s1, _ = chain_model.similar_items("i4", k=3)
    s2, _ = loaded.similar_items("i4", k=3)
    assert list(s1) == list(s2) and "i4" not in s1


def val_ndcg(model: SASRec, validation: dict[str, list[str]]) -> float:
    users = list(validation)
    ids, _ = model.recommend(users, k=10)
    gains = [1 / np.log2(np.flatnonzero(row == validation[u][0])[0] + 2) if validation[u][0] in row else 0.0
             for u, row in zip(users, ids, strict=True)]
    return float(np.mean(gains))


def test_early_stopping_stops_and_restores_the_best_epoch(caplog: pytest.LogCaptureFixture) -> None:
    # More users than one scoring batch (256), so the in-model NDCG must pair each user with their own target.
    seqs = chain_data(n_users=300)
    data = Interactions.from_sequences(seqs, items=[f"i{i}" for i in range(N_ITEMS)])
    # Validation asks for item i+5 after i: the better the model learns the ring, the worse it scores.
    validation = {u: [f"i{(int(s[-1][1:]) + 5) % N_ITEMS}"] for u, s in seqs.items()}
    with caplog.at_level(logging.INFO, logger="recsys.models.sasrec"):
        model = SASRec(**{**FAST, "epochs": 30, "patience": 2}).fit(data, validation)
    assert model.epochs_trained_ < 30
    assert model.epochs_trained_ == model.best_epoch_ + 2
    assert model.best_val_ndcg_ == pytest.approx(val_ndcg(model, validation), abs=1e-6)  # best weights restored
    assert any("val ndcg@10" in r.getMessage() for r in caplog.records)
    assert any("early stop" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("val_window", "best_epoch"), [(1, 2), (3, 6)])
def test_val_window_selects_on_the_mean_of_recent_checks(monkeypatch: pytest.MonkeyPatch, val_window: int,
                                                         best_epoch: int) -> None:
    # A lucky spike at epoch 2, then a steady plateau: one check alone keeps the spike; the mean of three keeps
    # the epoch that ends the best stretch (epochs 4-6 average 0.30; epochs 2-4 only 0.2633).
    curve = iter([0.10, 0.40, 0.10, 0.29, 0.30, 0.31, 0.25, 0.20, 0.20, 0.20, 0.20, 0.20])
    monkeypatch.setattr(Trainer, "validation_ndcg", lambda self, users, targets: next(curve))
    seqs = chain_data()
    data = Interactions.from_sequences(seqs, items=[f"i{i}" for i in range(N_ITEMS)])
    validation = {u: [s[-1]] for u, s in seqs.items()}
    model = SASRec(**{**FAST, "epochs": 12, "patience": 3, "val_window": val_window}).fit(data, validation)
    assert model.best_epoch_ == best_epoch
    assert model.epochs_trained_ == best_epoch + 3
    expected = 0.40 if val_window == 1 else 0.30
    assert model.best_val_ndcg_ == pytest.approx(expected)


def test_time_budget_stops_after_the_epoch_that_spends_it() -> None:
    model = fit_chain(epochs=50, time_budget_s=1e-9)
    assert model.epochs_trained_ == 1


def test_sampled_softmax_trains() -> None:
    model = fit_chain(loss="sampled", n_negatives=5, epochs=12)
    assert next_item_hit_rate(model) >= 0.8


def test_invalid_parameters_and_unfitted_use_raise_clear_errors() -> None:
    data = Interactions.from_sequences(chain_data(n_users=5))
    with pytest.raises(ValueError, match="loss"):
        SASRec(loss="bce").fit(data)
    with pytest.raises(ValueError, match="divisible"):
        SASRec(hidden=10, heads=3).fit(data)
    with pytest.raises(ValueError, match="precision"):
        SASRec(precision="fp16").fit(data)
    with pytest.raises(ValueError, match="compile"):
        SASRec(compile="yes").fit(data)  # type: ignore[arg-type]
    with pytest.raises(NotFittedError):
        SASRec().recommend("u0")


def test_bf16_autocast_and_compiled_training_learn_the_pattern_and_save_their_settings(tmp_path) -> None:
    """bf16 autocast runs on the CPU too; `torch.compile` trains the same network (its parameters are shared, so
    early stopping's best weights and the saved artifact are the plain network's)."""
    bf16 = fit_chain(precision="bf16")
    assert next_item_hit_rate(bf16) >= 0.8
    compiled = fit_chain(precision="bf16", compile=True)
    assert next_item_hit_rate(compiled) >= 0.8
    loaded = load_model(compiled.save(tmp_path / "compiled"))
    assert (loaded.precision, loaded.compile) == ("bf16", True)
    a, _ = compiled.recommend(["u1", "u2"], k=5)
    b, _ = loaded.recommend(["u1", "u2"], k=5)
    assert (a == b).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here: the bf16 autocast path needs one")
@pytest.mark.parametrize("compile_net", [False, True], ids=["eager", "compiled"])
def test_cuda_bf16_autocast_trains_and_scores(tmp_path, compile_net: bool) -> None:
    model = fit_chain(device="cuda", compile=compile_net)
    assert model.device_.type == "cuda"
    assert next_item_hit_rate(model) >= 0.8
    loaded = load_model(model.save(tmp_path / "cuda"))
    a, _ = model.recommend(["u1", "u2"], k=5)
    b, _ = loaded.recommend(["u1", "u2"], k=5)
    assert (a == b).all()
