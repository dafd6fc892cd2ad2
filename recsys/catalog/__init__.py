"""The item catalogue: item metadata (title, categories, price, availability, creation time, properties) loaded
from files into ``LAKE/items/`` with validation, a quarantine, conservation counts and a versioned history.

``load_catalog(path, lake)`` loads a file; ``read_items(lake, as_of=None)`` reads the catalogue (as of a time);
``apply_changes`` is the one writer (loads and the service's admin changes alike).
"""

from recsys.catalog.adapters import FORMATS, detect_format
from recsys.catalog.load import CatalogReport, load_catalog, read_quarantine
from recsys.catalog.schema import HISTORY_SCHEMA, ITEM_SCHEMA, REASONS
from recsys.catalog.store import apply_changes, has_catalog, read_history, read_items
from recsys.catalog.validate import Rejected, normalize

__all__ = ["FORMATS", "HISTORY_SCHEMA", "ITEM_SCHEMA", "REASONS", "CatalogReport", "Rejected", "apply_changes",
           "detect_format", "has_catalog", "load_catalog", "normalize", "read_history", "read_items",
           "read_quarantine"]
