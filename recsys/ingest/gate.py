"""The quarantine gate: an ingestion run passes when no source is damaged and the share of quarantined rows stays
under a threshold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recsys.errors import InputError


@dataclass(frozen=True)
class QuarantineGate:
    """The gate's verdict on one ingestion report."""

    rows_read: int
    rows_quarantined: int
    rows_written: int
    rate: float
    max_rate: float
    errors: tuple[str, ...] = ()
    """Damaged sources (a cut gzip): the rows before the damage are in the lake, the rest of the file is not."""

    @property
    def passed(self) -> bool:
        return self.rate <= self.max_rate and not self.errors

    def reason(self) -> str:
        if self.errors:
            return f"damaged source(s): {'; '.join(self.errors)}; land an intact copy and re-run the interval"
        if self.passed:
            return f"quarantine rate {self.rate:.2%} <= {self.max_rate:.2%}"
        return (f"{self.rows_quarantined} of {self.rows_read} rows ({self.rate:.1%}) were quarantined, above the "
                f"threshold {self.max_rate:.1%}")


def quarantine_gate(report: Mapping[str, Any], max_rate: float) -> QuarantineGate:
    """Judge an ingestion report (`IngestReport.to_dict()`, or its counts): its quarantined share of the rows
    read against `max_rate` (a report that read nothing passes)."""
    if not 0.0 <= max_rate <= 1.0:
        raise InputError(f"max_rate must be between 0 and 1, got {max_rate}")
    read, quarantined = int(report.get("rows_read", 0)), int(report.get("rows_quarantined", 0))
    return QuarantineGate(rows_read=read, rows_quarantined=quarantined, rows_written=int(report.get("rows_written", 0)),
                          rate=quarantined / read if read else 0.0, max_rate=max_rate,
                          errors=tuple(str(e) for e in report.get("errors") or ()))
