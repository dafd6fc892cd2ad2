"""Recommendation library: events, ingestion, datasets, models, evaluation, registry."""
