"""Render a run's index.html in headless Chromium and save a full-page screenshot (checks that it renders).

Usage: python scripts/screenshot_report.py runs/demo/index.html [out.png]
Needs Debian's chromium (`apt-get install chromium`); prints the screenshot path and its size.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def screenshot(index: Path, out: Path, width: int = 1200, height: int = 3000) -> Path:
    """Save a screenshot of ``index`` (a local HTML file) to ``out`` and return it."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        sys.exit("no chromium found: install it with `apt-get install chromium` (Debian) and run again")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                        f"--screenshot={out.resolve()}", index.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return out


if __name__ == "__main__":
    index = Path(sys.argv[1])
    if not index.is_file():
        sys.exit(f"{index} does not exist: run `make report` first")
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else index.with_name("index-screenshot.png")
    path = screenshot(index, target)
    with Image.open(path) as image:
        print(f"{path}: {image.size[0]}×{image.size[1]} px")
