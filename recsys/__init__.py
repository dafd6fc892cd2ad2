"""Recommendation library: events, ingestion, datasets, models, training, evaluation, registry, reports.

- `recsys.ingest`: raw logs -> the Parquet lake (validation, quarantine and its gate); `recsys.dataset`,
  `recsys.splits`: interactions and train/validation/test splits.
- `recsys.models`: the `Recommender` contract and every model; `recsys.training`: the disk-to-disk training steps.
- `recsys.evaluation`: metrics and full-ranking evaluation; `recsys.registry`: versions, the gate, run records;
  `recsys.report`: the offline report of a run.
- `recsys.cli`: the command line, a thin client like `serving/` and `dags/` (the library never imports them).
"""
