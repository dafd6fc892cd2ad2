"""Content-based recommender: item-item similarity from catalogue metadata (TF-IDF over titles, categories and
properties), so items nobody has interacted with yet can be recommended and have similar items.

Item metadata comes from the lake's catalogue (``catalog=LAKE``: every catalogue item joins the model, cold ones
included) and/or from ``Interactions.item_features`` (``title``, ``categories``, ``properties`` arrays aligned with
the interaction items). A user is scored by the mean TF-IDF vector of their last `history` items.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.data import IdMap, Interactions
from recsys.models.base import Recommender

_YEAR = re.compile(r"\((\d{4})\)\s*$")


def _tokens(value: Any, prefix: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in value.split("|") if v]
    return [f"{prefix}{str(v).strip().lower().replace(' ', '_')}" for v in value if str(v).strip()]


def _property_tokens(props: Any) -> list[str]:
    if isinstance(props, str):
        try:
            props = json.loads(props or "{}")
        except json.JSONDecodeError:
            return []
    if not isinstance(props, dict):
        return []
    out = []
    for key, value in sorted(props.items()):
        if isinstance(value, bool | int | str) and len(str(value)) <= 40:
            out.append(f"p_{key}={value}".lower().replace(" ", "_"))
            if key == "year" and isinstance(value, int):
                out.append(f"p_decade={value // 10 * 10}")
    return out


def _identity(tokens: list[str]) -> list[str]:
    return tokens


class Content(Recommender):
    """TF-IDF item profiles; scores are cosine similarities to the user's mean profile.

    catalog: lake folder whose ``items/`` catalogue supplies metadata (and cold items); None: only
        ``Interactions.item_features``.
    title_weight, category_weight, property_weight: weight of each field's block before the rows are normalised.
    history: how many of the user's latest items form the profile.
    max_features: vocabulary cap of the title vectoriser.
    """

    name = "content"
    supports_history = True

    def __init__(self, *, catalog: str | None = None, title_weight: float = 1.0, category_weight: float = 1.0,
                 property_weight: float = 0.5, history: int = 50, max_features: int = 50_000) -> None:
        self.catalog = catalog
        self.title_weight = title_weight
        self.category_weight = category_weight
        self.property_weight = property_weight
        self.history = history
        self.max_features = max_features

    def _metadata(self, data: Interactions) -> dict[str, dict[str, Any]]:
        meta: dict[str, dict[str, Any]] = {}
        feats = data.item_features
        for f in ("title", "categories", "properties"):
            if f in feats:
                for item, value in zip(data.items.to_list(), feats[f], strict=True):
                    meta.setdefault(item, {})[f] = value
        if self.catalog is not None:
            from recsys.catalog import read_items

            for row in read_items(self.catalog).to_pylist():
                meta[row["item_id"]] = {**meta.get(row["item_id"], {}), **row}
        return meta

    def _fit(self, data: Interactions, validation: Mapping[str, Sequence[str]] | None) -> None:
        if self.history < 1:
            raise ValueError(f"history must be at least 1, got {self.history}")
        meta = self._metadata(data)
        if not meta:
            raise ValueError("the content model has no item metadata: pass catalog=LAKE (after `recsys catalog "
                             "load`) or Interactions.item_features with title/categories/properties")
        extra = sorted(set(meta) - set(data.items.to_list()))
        if extra:  # catalogue items without interactions join the model (cold items)
            n_users, n_old = self.seen_.shape
            self.items_ = IdMap([*data.items.to_list(), *extra])
            self.seen_ = sp.csr_matrix((self.seen_.data, self.seen_.indices, self.seen_.indptr),
                                       shape=(n_users, n_old + len(extra)))
            self.item_popularity_ = np.concatenate([self.item_popularity_, np.zeros(len(extra), np.float32)])
        self.profiles_ = self._vectorize([meta.get(i, {}) for i in self.items_.to_list()])

    def _vectorize(self, rows: list[dict[str, Any]]) -> sp.csr_matrix:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import normalize

        titles = [_YEAR.sub("", str(r.get("title") or "")) for r in rows]
        cats = [_tokens(r.get("categories"), "c_") for r in rows]
        props = [_property_tokens(r.get("properties")) for r in rows]
        blocks = []
        for docs, weight, kwargs in (
            (titles, self.title_weight, {"stop_words": "english", "max_features": self.max_features}),
            (cats, self.category_weight, {"analyzer": _identity}),
            (props, self.property_weight, {"analyzer": _identity}),
        ):
            if weight <= 0:
                continue
            try:
                block = TfidfVectorizer(sublinear_tf=True, **kwargs).fit_transform(docs)
            except ValueError:  # an empty vocabulary: this field carries nothing
                continue
            blocks.append(normalize(block) * weight)
        if not blocks:
            raise ValueError("the item metadata has no usable words, categories or properties")
        return normalize(sp.hstack(blocks).tocsr()).astype(np.float32)

    def _score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        rows = []
        for h in histories:
            h = np.asarray(h, np.int64)[-self.history:]
            rows.append(np.asarray(self.profiles_[h].mean(axis=0)).ravel() if len(h) else
                        np.zeros(self.profiles_.shape[1], np.float32))
        profile = np.vstack(rows).astype(np.float32)
        norms = np.linalg.norm(profile, axis=1, keepdims=True)
        profile /= np.where(norms > 0, norms, 1.0)
        scores = np.asarray(self.profiles_ @ profile.T).T
        return scores.astype(np.float32)

    def _similar(self, items: np.ndarray) -> np.ndarray:
        return (self.profiles_[items] @ self.profiles_.T).toarray().astype(np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        p = self.profiles_
        return {"data": p.data, "indices": p.indices, "indptr": p.indptr, "shape": np.asarray(p.shape, np.int64)}

    def _load_state(self, state: Mapping[str, np.ndarray]) -> None:
        shape = tuple(int(x) for x in state["shape"])
        self.profiles_ = sp.csr_matrix((state["data"], state["indices"], state["indptr"]), shape=shape)
