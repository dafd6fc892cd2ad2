from recsys.data import Interactions
from recsys.models import create_model, load_model


def test_popularity_ranks_by_distinct_users_and_round_trips(tmp_path):
    data = Interactions.from_sequences({"a": ["x", "y", "z"], "b": ["y", "z"], "c": ["z", "w"]})
    model = create_model("popularity").fit(data)
    ids, scores = model.recommend("zz", k=3)
    assert list(ids) == ["z", "y", "x"]
    loaded = load_model(model.save(tmp_path / "m"))
    ids2, scores2 = loaded.recommend("zz", k=3)
    assert list(ids2) == list(ids) and (scores2 == scores).all()
