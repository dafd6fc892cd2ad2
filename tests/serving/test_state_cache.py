"""The served-state cache: one bounded LRU keyed by model, version and history window."""

from serving.state_cache import ServedStates


def test_versions_do_not_share_states_and_the_oldest_state_is_evicted_first() -> None:
    states = ServedStates(size=2)
    v1, v2 = states.for_version("sasrec", 1), states.for_version("sasrec", 2)
    v1.put(b"w", "state of v1")
    assert v2.get(b"w") is None  # a new version never reads an older version's state
    v2.put(b"w", "state of v2")
    assert v1.get(b"w") == "state of v1" and v2.get(b"w") == "state of v2"
    v1.get(b"w")  # v1's entry is now the most recent
    states.for_version("other", 1).put(b"w", "third")
    assert len(states) == 2
    assert v2.get(b"w") is None and v1.get(b"w") == "state of v1"


def test_the_holder_attaches_the_cache_to_each_loaded_version(tmp_path) -> None:
    import numpy as np

    from recsys.data import Interactions
    from recsys.models import create_model
    from recsys.registry import Registry
    from serving.holder import ModelHolder

    seqs = {f"u{u}": [f"i{(u + j) % 12}" for j in range(5)] for u in range(30)}
    model = create_model("sasrec", hidden=16, layers=1, max_len=5, epochs=1, device="cpu")
    model.fit(Interactions.from_sequences(seqs))
    registry = Registry(tmp_path / "registry")
    registry.register("sasrec", model, metrics={"ndcg@10": 0.1})
    registry.set_alias("sasrec", "production", 1)
    holder = ModelHolder(registry)
    holder.refresh()
    served = holder.get("sasrec").model
    first = served.recommend("u1", k=3)
    assert len(holder.states) == 1  # the served user's state is kept, under this version
    again = served.recommend("u1", k=3)
    assert list(again[0]) == list(first[0]) and np.array_equal(again[1], first[1])
    served.recommend(["u1", "u2"], k=3)  # batches compute afresh and keep nothing
    assert len(holder.states) == 1
