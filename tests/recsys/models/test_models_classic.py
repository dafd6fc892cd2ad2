"""Model-specific checks of the classic models: each adapter gives exactly what the library (or the closed form)
gives on the same matrix, parameters are validated, and on real MovieLens-100K they beat popularity."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.data import Interactions
from recsys.models import create_model
from recsys.models.ease import EASE
from recsys.models.implicit_mf import ALS, BPR, implicit_gpu_available, resolve_device
from recsys.models.itemknn import ItemKNN


def random_data(users: int = 40, items: int = 25, per_user: int = 6, seed: int = 1,
                weighted: bool = False) -> Interactions:
    rng = np.random.default_rng(seed)
    seqs = {f"u{u}": [f"i{i}" for i in rng.choice(items, size=per_user, replace=False)] for u in range(users)}
    weights = {u: rng.integers(1, 4, size=per_user).astype(float).tolist() for u in seqs} if weighted else None
    return Interactions.from_sequences(seqs, weights, items=[f"i{i}" for i in range(items)])


def all_scores(model, data: Interactions) -> np.ndarray:
    """Dense (users, items) scores in dense-index order, from the public recommend()."""
    users = data.users.to_list()
    ids, scores = model.recommend(users, k=data.n_items, filter_seen=False)
    out = np.empty((len(users), data.n_items), np.float32)
    for r in range(len(users)):
        out[r, data.items.index(list(ids[r]))] = scores[r]
    return out


# ---------------------------------------------------------------- EASE
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ease_matches_the_closed_form(dtype: str) -> None:
    data = random_data()
    model = EASE(reg=5.0, dtype=dtype).fit(data)
    x = (data.matrix.toarray() > 0).astype(np.float64)
    p = np.linalg.inv(x.T @ x + 5.0 * np.eye(data.n_items))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(model.weights_, b, atol=1e-4 if dtype == "float32" else 1e-6)
    np.testing.assert_allclose(all_scores(model, data), x @ b, atol=1e-3 if dtype == "float32" else 1e-5)


def test_ease_refuses_large_catalogs_and_bad_params() -> None:
    data = random_data(items=25)
    with pytest.raises(ValueError, match=r"25 x 25 .*max_items is 20"):
        EASE(max_items=20).fit(data)
    with pytest.raises(ValueError, match="reg must be positive"):
        EASE(reg=0).fit(data)
    with pytest.raises(ValueError, match="dtype"):
        EASE(dtype="float16").fit(data)


def test_ease_weighted_uses_event_weights() -> None:
    data = random_data(weighted=True)
    binary = EASE(reg=5.0).fit(data).weights_
    weighted = EASE(reg=5.0, weighted=True).fit(data).weights_
    assert not np.allclose(binary, weighted)


# ---------------------------------------------------------------- item-kNN
@pytest.mark.filterwarnings("ignore:Method expects CSR input")  # implicit's own reference classes pass COO
@pytest.mark.parametrize("similarity", ["bm25", "cosine", "tfidf"])
def test_itemknn_equals_implicit_recommend(similarity: str) -> None:
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender

    data = random_data(weighted=True)
    model = ItemKNN(similarity=similarity, K=10).fit(data)
    ref = {"bm25": BM25Recommender(K=10, K1=1.2, B=0.75), "cosine": CosineRecommender(K=10),
           "tfidf": TFIDFRecommender(K=10)}[similarity]
    ref.fit(data.matrix, show_progress=False)
    for u in range(0, data.n_users, 7):
        ref_ids, ref_scores = ref.recommend(u, data.matrix[u], N=5)
        ids, scores = model.recommend(data.users.ids[u], k=5)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-5)
        # Same items (order may differ only between exactly tied scores).
        assert set(data.items.index(list(ids))) == set(ref_ids.tolist())


def test_itemknn_validates_params() -> None:
    with pytest.raises(ValueError, match="similarity"):
        ItemKNN(similarity="jaccard").fit(random_data())
    with pytest.raises(ValueError, match="K must be"):
        ItemKNN(K=0).fit(random_data())


def test_itemknn_live_history_adds_to_a_known_users_row() -> None:
    data = random_data()
    model = ItemKNN(K=10).fit(data)
    user = data.users.ids[0]
    live = [i for i in data.items.to_list() if i not in set(data.items.external(data.sequences[0]))][:2]
    rows = model.recommend([user, user], k=data.n_items, filter_seen=False, histories=[None, live])[1]
    expected = (data.matrix[0].toarray().ravel() + np.isin(data.items.ids, live)) @ model.similarity_.toarray()
    np.testing.assert_allclose(rows[1], np.sort(expected)[::-1], rtol=1e-5)
    assert not np.allclose(rows[0], rows[1])


# ---------------------------------------------------------------- ALS / BPR
def test_als_equals_a_bare_implicit_fit() -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    data = random_data(weighted=True)
    params = {"factors": 6, "regularization": 0.1, "alpha": 3.0, "iterations": 5, "random_state": 7}
    model = ALS(**params, device="cpu").fit(data)
    ref = AlternatingLeastSquares(**params)
    ref.fit(data.matrix, show_progress=False)
    np.testing.assert_array_equal(model.user_factors_, ref.user_factors)
    np.testing.assert_array_equal(model.item_factors_, ref.item_factors)
    np.testing.assert_allclose(all_scores(model, data), ref.user_factors @ ref.item_factors.T, rtol=1e-5, atol=1e-6)


def test_als_folds_in_a_live_history_like_implicit_recalculate_user() -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    data = random_data()
    params = {"factors": 6, "regularization": 0.1, "alpha": 3.0, "iterations": 5, "random_state": 7}
    model = ALS(**params, device="cpu").fit(data)
    ref = AlternatingLeastSquares(**params)
    ref.fit(data.matrix, show_progress=False)
    history = ["i1", "i3", "i3", "i8"]
    row = sp.csr_matrix((np.array([1, 2, 1], np.float32), ([0, 0, 0], data.items.index(["i1", "i3", "i8"]))),
                        shape=(1, data.n_items))
    expected = ref.recalculate_user(0, row) @ ref.item_factors.T
    _, scores = model.recommend("newcomer", k=data.n_items, filter_seen=False, histories=[history])
    np.testing.assert_allclose(scores, np.sort(expected)[::-1], rtol=1e-4, atol=1e-6)
    # A known user with new live items is re-solved from their training row plus the live items.
    known = data.matrix[0] + row
    expected = ref.recalculate_user(0, sp.csr_matrix(known)) @ ref.item_factors.T
    _, scores = model.recommend("u0", k=data.n_items, filter_seen=False, histories=[history])
    np.testing.assert_allclose(scores, np.sort(expected)[::-1], rtol=1e-4, atol=1e-6)
    # Without live items a known user keeps the trained factors.
    _, scores = model.recommend("u0", k=data.n_items, filter_seen=False, histories=[[]])
    np.testing.assert_allclose(scores, np.sort(ref.user_factors[0] @ ref.item_factors.T)[::-1], rtol=1e-5, atol=1e-6)
    # The fold-in solver is kept between requests; a refit must not answer from the old item factors.
    other = random_data(seed=5)
    model.fit(other)
    ref = AlternatingLeastSquares(**params)
    ref.fit(other.matrix, show_progress=False)
    row = sp.csr_matrix((np.array([1, 2, 1], np.float32), ([0, 0, 0], other.items.index(["i1", "i3", "i8"]))),
                        shape=(1, other.n_items))
    expected = ref.recalculate_user(0, row) @ ref.item_factors.T
    _, scores = model.recommend("newcomer", k=other.n_items, filter_seen=False, histories=[history])
    np.testing.assert_allclose(scores, np.sort(expected)[::-1], rtol=1e-4, atol=1e-6)


def test_bpr_equals_a_bare_implicit_fit_single_threaded() -> None:
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    data = random_data()
    params = {"factors": 6, "learning_rate": 0.05, "regularization": 0.01, "iterations": 20, "random_state": 3}
    model = BPR(**params, device="cpu").fit(data)
    ref = BayesianPersonalizedRanking(**params, num_threads=1)
    ref.fit(data.matrix, show_progress=False)
    np.testing.assert_array_equal(model.item_factors_, ref.item_factors)
    assert model.item_factors_.shape == (data.n_items, 7)  # implicit appends an item-bias column


def test_factor_models_validate_params() -> None:
    data = random_data()
    for bad in ({"factors": 0}, {"iterations": 0}, {"alpha": 0}, {"regularization": -1.0}, {"device": "tpu"}):
        with pytest.raises(ValueError):
            ALS(**bad).fit(data)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="learning_rate"):
        BPR(learning_rate=0).fit(data)


def test_device_resolution() -> None:
    assert resolve_device("cpu") == "cpu"
    if implicit_gpu_available():
        assert resolve_device("auto") == "cuda"
    else:
        assert resolve_device("auto") == "cpu"
        with pytest.raises(ValueError, match="CUDA"):
            ALS(device="cuda").fit(random_data())


# ---------------------------------------------------------------- real data
@pytest.mark.realdata
def test_movielens_100k_leave_one_out_beats_popularity(shared_data) -> None:
    import pandas as pd

    frame = pd.read_csv(shared_data("movielens-100k/u.data"), sep="\t", names=["user", "item", "rating", "ts"],
                        dtype={"user": str, "item": str})
    frame = frame.sort_values(["user", "ts"], kind="stable")
    seqs = frame.groupby("user", sort=False)["item"].agg(list).to_dict()
    train = Interactions.from_sequences({u: s[:-1] for u, s in seqs.items()},
                                        items=sorted(frame["item"].unique()))
    targets = {u: s[-1] for u, s in seqs.items()}
    users = list(targets)

    def ndcg(model) -> float:
        ids, _ = model.recommend(users, k=10)
        ranks = [np.flatnonzero(row == targets[u]) for u, row in zip(users, ids, strict=True)]
        return float(np.mean([1 / np.log2(r[0] + 2) if len(r) else 0.0 for r in ranks]))

    scores = {name: ndcg(create_model(name).fit(train)) for name in ("popularity", "itemknn", "als", "ease")}
    for name in ("itemknn", "als", "ease"):
        assert scores[name] > 1.1 * scores["popularity"], scores


def test_implicit_fits_run_with_blas_limited_to_one_thread() -> None:
    """implicit warns (RuntimeWarning) when OpenBLAS runs threaded during its fits; a fresh interpreter makes the
    warning observable (implicit checks only once per process)."""
    import subprocess
    import sys

    code = ("from recsys.data import Interactions\n"
            "from recsys.models import create_model\n"
            "d = Interactions.from_sequences({'a': ['x', 'y'], 'b': ['y', 'z'], 'c': ['x', 'z']})\n"
            "for n in ('als', 'bpr', 'itemknn'):\n"
            "    create_model(n, device='cpu').fit(d) if n != 'itemknn' else create_model(n).fit(d)\n")
    proc = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
