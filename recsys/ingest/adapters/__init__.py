"""Named adapters for analytics-tool exports: ``--format segment|mixpanel|amplitude|ga4``."""

from recsys.ingest.adapters import amplitude, ga4, mixpanel, segment
from recsys.ingest.adapters.base import ECOMMERCE_EVENTS, Adapter, AdapterReader, Parsed

ADAPTERS: dict[str, Adapter] = {a.name: a for a in (segment.ADAPTER, mixpanel.ADAPTER, amplitude.ADAPTER,
                                                    ga4.ADAPTER)}

__all__ = ["ADAPTERS", "ECOMMERCE_EVENTS", "Adapter", "AdapterReader", "Parsed"]
