"""Where every row of an ingestion went: the counts every run reports, with the conservation rule they obey."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(kw_only=True)
class RowCounts:
    """Rows read, and each one either written, quarantined (counted by reason) or dropped as a duplicate; the
    partitions and files the written rows went to."""

    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    duplicates: int = 0
    partitions: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def conserved(self) -> bool:
        """No row lost: read = written + quarantined + duplicates."""
        return self.rows_read == self.rows_written + self.rows_quarantined + self.duplicates

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"conserved": self.conserved}
