"""Screenshot an HTML file with headless Chromium, so tests check what people see, not only the HTML text.

Tests call `require_chromium()` (skips with the reason when no browser is installed), then `screenshot(...)`
and `assert_not_blank(...)`. Chromium runs with a fresh profile and no network-facing background services.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
"""Where screenshots go (gitignored), so a person can open them after a run."""

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium-family browser on PATH, or None."""
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """The browser's path, or skip the test saying how to get one."""
    path = find_chromium()
    if path is None:
        pytest.skip("headless Chromium is not installed (as root: apt-get install -y chromium)")
    return path


def screenshot(html: Path, png: Path, *, width: int = 1280, height: int = 3000, timeout: float = 90.0) -> Path:
    """Render ``html`` in headless Chromium at ``width`` x ``height`` and save a PNG at ``png``."""
    browser = require_chromium()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={png}",
            html.resolve().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if not png.is_file():
        raise AssertionError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return png


def assert_not_blank(png: Path, *, min_ink: float = 0.01, min_colors: int = 16) -> None:
    """Fail unless the screenshot has real content: enough non-background pixels and enough distinct colours."""
    from PIL import Image

    with Image.open(png) as im:
        pixels = np.asarray(im.convert("RGB"))
    background = np.median(pixels.reshape(-1, 3), axis=0)
    ink = float(np.mean(np.any(np.abs(pixels.astype(int) - background) > 24, axis=2)))
    colors = len(np.unique(pixels.reshape(-1, 3)[:: max(1, pixels.size // 3 // 200_000)], axis=0))
    assert ink >= min_ink, f"{png} looks blank: only {ink:.2%} of pixels differ from the background"
    assert colors >= min_colors, f"{png} looks blank: only {colors} distinct colours"
