"""Item features from the catalogue (``source="items"``): each row gets the item version valid at its time.

The catalogue's history (`recsys.catalog.read_history`) answers "what was the item at t", so these features are
point-in-time correct like the event features. A lake without a catalogue gives nulls.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from feature_store.definitions import PRICE_BUCKETS, Feature
from recsys.catalog import has_catalog, read_history

_US_PER_DAY = 86_400 * 1_000_000


def _versions(lake: str, keys: pd.Series, times: pd.Series) -> pd.DataFrame:
    """Per input row: the catalogue version of its key valid at its time (all-null columns where none)."""
    rows = pd.DataFrame({"_row": np.arange(len(keys)), "item_id": keys.astype(str).to_numpy(),
                         "as_of": pd.to_datetime(times.to_numpy(), utc=True)})
    if not has_catalog(lake):
        return rows.assign(categories=None, price=np.nan, created_at=pd.NaT)
    hist = read_history(lake).select(["item_id", "categories", "price", "created_at", "valid_from",
                                      "valid_to"]).to_pandas()
    joined = rows.merge(hist, on="item_id", how="left")
    valid = ((joined["valid_from"].isna() | (joined["valid_from"] <= joined["as_of"]))
             & (joined["valid_to"].isna() | (joined["valid_to"] > joined["as_of"]))
             & (joined["created_at"].isna() | (joined["created_at"] <= joined["as_of"])))
    picked = joined[valid].drop_duplicates("_row", keep="last").set_index("_row")
    return rows.set_index("_row").join(picked[["categories", "price", "created_at"]]).reset_index()


def catalog_features(lake: str, features: Sequence[Feature], keys: Sequence[str],
                     times: Sequence[object] | pd.Series) -> pd.DataFrame:
    """Values of the catalogue `features` for ``keys[i]`` as of ``times[i]``, one row per input row."""
    v = _versions(str(lake), pd.Series(list(keys)), pd.Series(list(times)))
    out = pd.DataFrame(index=range(len(v)))
    for f in features:
        if f.aggregation == "catalog_category":
            out[f.name] = [c[0] if isinstance(c, list | np.ndarray) and len(c) else None for c in v["categories"]]
        elif f.aggregation == "price_bucket":
            price = v["price"].astype("float64")
            bucket = pd.Series(np.searchsorted(PRICE_BUCKETS, price.to_numpy(), side="right"), dtype="Int64")
            out[f.name] = bucket.where(price.notna().to_numpy(), pd.NA)
        elif f.aggregation == "age_days":
            created = pd.to_datetime(v["created_at"], utc=True)
            out[f.name] = ((v["as_of"] - created).dt.total_seconds() / 86_400.0).astype("float64")
    return out
