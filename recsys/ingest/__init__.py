"""Event ingestion: raw logs and public data sets -> a validated, deduplicated, day-partitioned Parquet lake.

``ingest(sources, lake)`` is the entry point; `REASONS` documents the quarantine reason codes.
"""

from recsys.ingest.gate import QuarantineGate, quarantine_gate
from recsys.ingest.pipeline import IngestReport, SourceStats, ingest
from recsys.ingest.sources import FORMATS, detect_format
from recsys.ingest.validate import REASONS

__all__ = ["FORMATS", "REASONS", "IngestReport", "QuarantineGate", "SourceStats", "detect_format", "ingest",
           "quarantine_gate"]
