"""The one device resolver: ``"auto" | "cpu" | "cuda"`` -> the device a model fits on."""

from __future__ import annotations

from collections.abc import Callable

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str, *, gpu_available: Callable[[], bool], what: str, missing: str) -> str:
    """``"auto"`` -> ``"cuda"`` when `gpu_available()` says so, else ``"cpu"``; ``"cuda"`` without a GPU is an
    error. what: the model, for messages; missing: why no GPU is usable (said when ``"cuda"`` cannot run)."""
    if device not in DEVICES:
        raise ValueError(f"{what} device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        return "cpu"
    if gpu_available():
        return "cuda"
    if device == "cuda":
        raise ValueError(f"{what} device='cuda' but {missing}: use device='cpu' or 'auto'")
    return "cpu"
