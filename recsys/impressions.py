"""Impressions: the lists the service answered, as logged (``landing/impressions-*.jsonl``) and in the lake
(``LAKE/impressions/dt=YYYY-MM-DD/part-*.parquet``, partitioned by the UTC date of the answer).

One impression is one answered list: its `request_id`, time, user, surface (``user``, ``batch``, ``similar``), the
model and version that answered, the experiment and arm (null outside experiments), the item ids in order (the
position of an item is its index + 1) and, in interleaving, the arm credited with each item.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from recsys.events import PARTITION_KEY

IMPRESSIONS_DIR = "impressions"
SURFACES = ("user", "batch", "similar")
IMPRESSION_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("user_id", pa.string(), nullable=True),
        pa.field("surface", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("version", pa.int32(), nullable=True),
        pa.field("experiment", pa.string(), nullable=True),
        pa.field("arm", pa.string(), nullable=True),
        pa.field("items", pa.list_(pa.string()), nullable=False),
        pa.field("credit", pa.list_(pa.string()), nullable=True),
        pa.field("item_id", pa.string(), nullable=True),
    ]
)


def read_impressions(lake: str | Path, experiment: str | None = None) -> pa.Table:
    """Every impression in the lake (of one experiment when given); an empty table when there are none."""
    import pyarrow.dataset as ds  # here, not at import: it loads pandas, which ingestion never needs

    root = Path(lake) / IMPRESSIONS_DIR
    if not root.is_dir():
        return IMPRESSION_SCHEMA.empty_table()
    partitioning = ds.partitioning(pa.schema([(PARTITION_KEY, pa.string())]), flavor="hive")
    dataset = ds.dataset(root, format="parquet", partitioning=partitioning,
                         schema=IMPRESSION_SCHEMA.append(pa.field(PARTITION_KEY, pa.string())),
                         ignore_prefixes=[".", "_"])
    expr = ds.field("experiment") == experiment if experiment is not None else None
    return dataset.to_table(columns=IMPRESSION_SCHEMA.names, filter=expr)
