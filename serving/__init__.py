"""HTTP recommendation service (FastAPI), a thin client of `recsys` and `feature_store`.

`app` (factory + lifespan), `settings`, `deps`, `routes`, `holder` (the served model versions, swapped on reload),
`state_cache` (served SASRec states keyed by model version and history window), `events`, `reports`, `metrics`.
"""
