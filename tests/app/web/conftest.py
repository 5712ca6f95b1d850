"""A real headless browser: Debian's Chromium driven by Playwright (no browser download: Playwright is
pointed at the system binary). `make test` installs the `chromium` package when it is missing."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# WebGL without a GPU: SwiftShader, Chromium's software renderer (3Dmol.js needs WebGL). Running as
# root (CI, containers) needs --no-sandbox.
CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-dev-shm-usage"]
REPO = Path(__file__).resolve().parents[3]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is not installed: run `make browser` (apt-get install chromium)"
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def screenshots(tmp_path: Path) -> Path:
    """Where the views' screenshots go: a temp dir, or the directory in WEB_SCREENSHOTS_DIR (set it to
    `docs` to refresh the committed ones)."""
    target = os.environ.get("WEB_SCREENSHOTS_DIR")
    out = (REPO / target) if target else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out


def pixel_stats(png: bytes) -> tuple[float, int]:
    """(fraction of pixels that are not near-white, number of distinct coarse colours) of a PNG."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = list(image.get_flattened_data() if hasattr(image, "get_flattened_data") else image.getdata())
    inked = [p for p in pixels if min(p) < 235]
    coarse = {(r // 32, g // 32, b // 32) for r, g, b in inked}
    return len(inked) / len(pixels), len(coarse)
