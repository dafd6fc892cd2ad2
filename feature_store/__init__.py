"""Feature store (offline DuckDB, online SQLite/Redis) and behaviour analytics.

- `feature_store.definitions`: every feature declared once (name, entity, source, aggregation, window).
- `feature_store.offline`: their values from the lake as of any time (DuckDB over the Parquet partitions).
- `feature_store.training_frame`: point-in-time correct training frames (a row never sees its future).
- `feature_store.materialize`: the latest values pushed into the online store under the same names.
- `feature_store.online`: the online store (live histories and features) read by the service.
- `feature_store.analytics`: DAU/WAU/MAU, retention, funnels, sessions, long tail; the HTML report.
"""
