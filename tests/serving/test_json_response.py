"""The plain-dict answers (orjson): numpy values are numbers, non-finite floats null, integer keys strings."""

from __future__ import annotations

import json

import numpy as np

from serving.schemas import json_response


def test_numpy_values_and_odd_keys_serialise() -> None:
    r = json_response({"score": np.float64(1.5), "n": np.int64(3), "f": np.float32(0.25), "ok": np.bool_(True),
                       "ids": np.array([1, 2]), "bad": float("-inf"), 7: "seven"}, status_code=201)
    assert r.status_code == 201 and r.media_type == "application/json"
    assert json.loads(r.body) == {"score": 1.5, "n": 3, "f": 0.25, "ok": True, "ids": [1, 2], "bad": None,
                                  "7": "seven"}
