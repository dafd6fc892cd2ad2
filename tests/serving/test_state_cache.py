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
