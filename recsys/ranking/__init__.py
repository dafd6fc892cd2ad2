"""Two-stage recommendation parts: candidates, point-in-time pair features, the label protocol, LightGBM ranking.
The model itself is `recsys.models.ranker.Ranker`. Light on purpose: DAG files read the constants at parse time."""

DEFAULT_RETRIEVERS = "popularity,als,itemknn"
"""The ranker's retrievers unless ``retrievers`` says otherwise."""
