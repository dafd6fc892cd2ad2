"""Manifests: what a registered version is made of, so that loading can prove it is intact."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys.errors import ArtifactError

MANIFEST = "manifest.json"
ARTIFACT_DIR = "artifact"
MANIFEST_FORMAT = 1

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LIBRARIES = ("recsys-pipeline", "numpy", "scipy", "pandas", "pyarrow", "implicit", "torch")


def validate_name(name: str, what: str = "model name") -> str:
    """A name safe to use as one path component (no separators, no dot-dot, no leading dot or underscore)."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ValueError(f"invalid {what} {name!r}: use 1-64 letters, digits, '_', '-' or '.', starting with a "
                         "letter or digit (no path separators)")
    return name


def validate_version(version: object) -> int:
    """A version number: a positive integer (or its decimal string)."""
    if isinstance(version, bool):
        raise ValueError(f"invalid version {version!r}: expected a positive integer")
    if isinstance(version, str) and version.isdecimal() and len(version) < 10:
        version = int(version)
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"invalid version {version!r}: expected a positive integer")
    return version


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, keyed by its POSIX path relative to `root`."""
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def verify(version_dir: Path, manifest: dict) -> None:
    """Refuse a version whose files differ from its manifest: missing, extra or changed files."""
    expected = manifest.get("files")
    if not isinstance(expected, dict) or not expected:
        raise ArtifactError(f"{version_dir}: manifest lists no files; the version is incomplete, register it again")
    artifact = version_dir / ARTIFACT_DIR
    if not artifact.is_dir():
        raise ArtifactError(f"{version_dir}: no {ARTIFACT_DIR}/ folder; the version is half-written or damaged")
    actual = {p.relative_to(version_dir).as_posix() for p in artifact.rglob("*") if p.is_file()}
    missing = sorted(set(expected) - actual)
    extra = sorted(actual - set(expected))
    if missing or extra:
        raise ArtifactError(f"{version_dir}: files differ from the manifest (missing {missing[:3]}, unexpected "
                            f"{extra[:3]}); refusing to load a damaged version")
    for rel, digest in expected.items():
        if sha256_file(version_dir / rel) != digest:
            raise ArtifactError(f"{version_dir}: checksum mismatch for {rel}; the artifact is corrupt, refusing to "
                                "load it (roll back or register it again)")


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model depends on, to explain a model that behaves differently elsewhere."""
    out = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            out[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True)
class ModelVersion:
    """One registered, immutable version of a model."""

    name: str
    version: int
    path: Path
    manifest: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def artifact(self) -> Path:
        return self.path / ARTIFACT_DIR

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.manifest.get("metrics") or {})

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "path": str(self.path), "manifest": self.manifest}
