"""Read-only views of an alias's past, from the promotion decisions the registry records."""

from __future__ import annotations

from recsys.registry.registry import PRODUCTION, Registry


def alias_history(registry: Registry, name: str, alias: str = PRODUCTION) -> list[int]:
    """Versions of `name` that held `alias`, the current holder first, then earlier holders, most recent first;
    each version once. Versions whose folders are gone (garbage-collected) are left out."""
    existing = {mv.version for mv in registry.versions(name)}
    out: list[int] = []
    current = registry.aliases(name).get(alias)
    if current is not None:
        out.append(current)
    for decision in reversed(registry.decisions(name)):
        if decision.get("alias") != alias or not decision.get("promoted"):
            continue
        version = decision.get("version")
        if isinstance(version, int) and version in existing and version not in out:
            out.append(version)
    return out
