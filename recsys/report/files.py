"""Finding rendered offline reports in a folder (the nightly DAG's reports dir, the demo's workdir).

A rendered page carries its run id and time in ``<meta>`` tags, so a folder can be listed without a registry and
without guessing from file names (the same folder also holds other reports, e.g. behaviour analytics).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_HEAD_BYTES = 4096
_META = re.compile(r'<meta name="(recsys-[a-z-]+)" content="([^"]*)">')


def report_meta(path: str | Path) -> dict[str, Any] | None:
    """``{"run_id", "created_at", "path", "mtime"}`` of an offline report page; None for any other file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES).decode("utf-8", errors="replace")
        mtime = path.stat().st_mtime
    except OSError:
        return None
    meta = dict(_META.findall(head))
    if meta.get("recsys-report") != "offline-metrics" or not meta.get("recsys-run-id"):
        return None
    return {"run_id": meta["recsys-run-id"], "created_at": meta.get("recsys-run-time", ""), "path": path,
            "mtime": mtime}


def find_reports(folder: str | Path) -> list[dict[str, Any]]:
    """Offline report pages under `folder` (recursively), newest run first; one page per run (the newest file)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pages = [m for p in folder.rglob("*.html") if not p.name.startswith(".") and (m := report_meta(p))]
    pages.sort(key=lambda m: (m["created_at"], m["mtime"]), reverse=True)
    seen: dict[str, dict[str, Any]] = {}
    for m in pages:
        seen.setdefault(m["run_id"], m)
    return list(seen.values())
