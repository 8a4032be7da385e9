"""Check a run's pages as a reader sees them: index.html and every notebook page in headless Chromium.

At 1200 px wide, each page must show exactly one random-weights banner when the run used random weights (none
otherwise), at most a handful of progress lines per progress bar, and no table cell whose text wraps onto a
second line (measured through the DOM). A screenshot of each page's top goes to ``<run>/screenshots/``.
Needs selenium (dev extra) and Debian's chromium and chromium-driver.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._util.errors import ConfigError
from .._util.random_weights import RANDOM_WEIGHTS_MARKER

WIDTH = 1200
SCREEN_HEIGHT = 1600
MAX_PROGRESS_LINES = 5
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")
PROGRESS_LINE = re.compile(r"^(?P<desc>[^\n|]*?):?\s*\d{1,3}%\|[^|\n]*\|\s*\d+/\d+")

# Lines of text per table cell: client rects of the cell's contents grouped into rows that do not overlap.
_WRAPPED_CELLS_JS = """
const wrapped = [];
for (const cell of document.querySelectorAll('table td, table th')) {
  if (!cell.textContent.trim() || cell.offsetParent === null) continue;
  const range = document.createRange();
  range.selectNodeContents(cell);
  const rects = Array.from(range.getClientRects()).filter(r => r.width > 0 && r.height > 0)
    .sort((a, b) => a.top - b.top);
  let lines = 0, bottom = -1e9;
  for (const r of rects) { if (r.top >= bottom - 2) { lines += 1; } bottom = Math.max(bottom, r.bottom); }
  if (lines > 1) wrapped.push(cell.textContent.trim().slice(0, 80));
}
return wrapped;
"""


@dataclass
class PageCheck:
    """What a reader sees on one page, and what is wrong with it."""

    page: Path
    banners: int
    marker_mentions: int
    progress_lines: dict[str, int]
    wrapped_cells: list[str]
    screenshot: Path | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def start_browser(width: int = WIDTH, height: int = SCREEN_HEIGHT, profile: str | Path | None = None) -> Any:
    """A selenium driver on headless Debian Chromium (``chromium`` and ``chromedriver`` on PATH or in /usr/bin)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise ConfigError("checking pages needs selenium: pip install -e '.[dev]'") from None
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not Path(browser).is_file() or not Path(driver).is_file():
        raise ConfigError("checking pages needs Debian's chromium and chromium-driver: "
                          "apt-get install chromium chromium-driver (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile or tempfile.mkdtemp(prefix='chromium-profile-')}")
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def check_page(driver: Any, page: Path, random_weights: bool, screenshot: Path | None = None,
               max_progress_lines: int = MAX_PROGRESS_LINES) -> PageCheck:
    """Open ``page`` and measure it; ``random_weights`` says whether one banner is expected."""
    driver.get(Path(page).resolve().as_uri())
    banners = int(driver.execute_script("return document.querySelectorAll('.indirect-random-weights').length"))
    text = driver.execute_script("return document.body.innerText") or ""
    mentions = text.lower().count(RANDOM_WEIGHTS_MARKER.lower())
    progress = Counter(m.group("desc").strip() or "(bar)" for line in text.splitlines()
                       if (m := PROGRESS_LINE.match(line.strip())))
    wrapped = list(driver.execute_script(_WRAPPED_CELLS_JS))
    shot = None
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
        shot = screenshot
    check = PageCheck(Path(page), banners, mentions, dict(progress), wrapped, shot)
    expected = 1 if random_weights else 0
    if banners != expected or mentions != expected:
        check.problems.append(f"{banners} random-weights banner(s) and {mentions} mention(s) of the marker, "
                              f"expected {expected}")
    check.problems += [f"{count} progress lines for bar {desc!r} (at most {max_progress_lines})"
                       for desc, count in progress.items() if count > max_progress_lines]
    if wrapped:
        check.problems.append(f"{len(wrapped)} table cell(s) wrap at {WIDTH} px, e.g. {wrapped[:3]}")
    return check


def check_run(run_dir: str | Path, max_progress_lines: int = MAX_PROGRESS_LINES) -> list[PageCheck]:
    """Check ``index.html`` and every notebook page of a run folder; screenshots in ``<run>/screenshots``."""
    from .run_index import used_random_weights

    run_dir = Path(run_dir)
    index = run_dir / "index.html"
    if not index.is_file():
        raise ConfigError(f"{index} does not exist: run a plan first (make report)")
    random_weights = used_random_weights(run_dir)
    pages = [index] + sorted(p for p in run_dir.glob("*/*/*/*.html"))
    driver = start_browser()
    try:
        return [check_page(driver, page, random_weights,
                           run_dir / "screenshots" / (page.relative_to(run_dir).as_posix()
                                                      .removesuffix(".html").replace("/", "__") + ".png"),
                           max_progress_lines) for page in pages]
    finally:
        driver.quit()
