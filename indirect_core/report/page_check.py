"""Check a run's pages as a reader sees them: index.html and every notebook page in headless Chromium.

At 1200 px wide, over the whole height of each page, a page must show exactly one banner with the caveat of the
stand-in CLIP the run used (random weights or shapes-clip, ``_util.caveats``; none otherwise), at most a handful
of progress lines per progress bar, no stderr box (the pink boxes of error output: progress and warnings belong elsewhere), no warning shown twice
(printed by Python or listed in a warnings note), nothing cut off (content wider or taller than the box that
clips or scrolls it, or wider than the page) and no table cell whose text wraps onto a second line (measured
through the DOM). A screenshot of each whole page goes to ``<run>/screenshots/``.
Needs selenium (dev extra) and Debian's chromium and chromium-driver.
"""
from __future__ import annotations

import base64
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._util.errors import ConfigError
from .._util.caveats import CAVEATS

WIDTH = 1200
SCREEN_HEIGHT = 1600
MAX_SCREENSHOT_HEIGHT = 40000
"""Tallest screenshot taken (pixels); a longer page is measured whole but shot down to here."""
MAX_PROGRESS_LINES = 5
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")
PROGRESS_LINE = re.compile(r"^(?P<desc>[^\n|]*?):?\s*\d{1,3}%\|[^|\n]*\|\s*\d+/\d+")
WARNING_LINE = re.compile(r"^(?:\S.*?:\d+: )?(?P<category>[A-Z]\w*Warning): (?P<message>.+)$")
"""A warning as Python prints it (``path.py:12: UserWarning: message``)."""
STDERR_SELECTOR = "[data-mime-type='application/vnd.jupyter.stderr']"
"""Notebook outputs written to stderr: nbconvert renders each as a pink box."""

# The page's text with the warnings notes hidden (their warnings are counted from the notes' items), and the
# notes' warnings.
_WARNINGS_JS = """
const notes = Array.from(document.querySelectorAll('.indirect-warnings'));
const listed = Array.from(document.querySelectorAll('.indirect-warning')).map(e => e.dataset.warning || e.innerText);
const display = notes.map(n => n.style.display);
notes.forEach(n => { n.style.display = 'none'; });
const text = document.body.innerText;
notes.forEach((n, i) => { n.style.display = display[i]; });
return [text, listed];
"""

# Boxes that clip or scroll content bigger than themselves, and a page wider than the window.
_CUT_OFF_JS = """
const cut = [];
const describe = e => e.tagName.toLowerCase() + (e.className && typeof e.className === 'string'
  ? '.' + e.className.trim().split(/\\s+/).slice(0, 2).join('.') : '') + ' "' +
  (e.innerText || e.getAttribute('alt') || '').trim().replace(/\\s+/g, ' ').slice(0, 60) + '"';
for (const e of document.body.querySelectorAll('*')) {
  if (!e.getClientRects().length) continue;
  const style = getComputedStyle(e);
  const wide = style.overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 2;
  const tall = style.overflowY !== 'visible' && e.scrollHeight > e.clientHeight + 2;
  if (wide || tall) cut.push(describe(e) + (wide ? ` ${e.scrollWidth}px wide in ${e.clientWidth}px` :
                                             ` ${e.scrollHeight}px tall in ${e.clientHeight}px`));
}
const page = document.documentElement;
if (page.scrollWidth > page.clientWidth + 2) cut.push(`the page: ${page.scrollWidth}px wide in ${page.clientWidth}px`);
return cut;
"""

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
    caveat_mentions: dict[str, int]
    progress_lines: dict[str, int]
    wrapped_cells: list[str]
    screenshot: Path | None
    stderr_boxes: int = 0
    warnings: dict[str, int] = field(default_factory=dict)
    """Each warning shown on the page ("Category: message") and how many times it is shown."""
    cut_off: list[str] = field(default_factory=list)
    height: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def warning_blocks(self) -> int:
        return sum(self.warnings.values())

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


def check_page(driver: Any, page: Path, caveat: str | None, screenshot: Path | None = None,
               max_progress_lines: int = MAX_PROGRESS_LINES) -> PageCheck:
    """Open ``page`` and measure it whole; ``caveat`` is the one banner expected (None: no banner)."""
    from .notebook import BANNER_CLASS

    driver.get(Path(page).resolve().as_uri())
    banners = int(driver.execute_script(f"return document.querySelectorAll('.{BANNER_CLASS}').length"))
    text, listed = driver.execute_script(_WARNINGS_JS)
    text = text or ""
    written = (text + "\n" + "\n".join(listed)).lower()
    mentions = {c: written.count(c.lower()) for c in CAVEATS if written.count(c.lower())}
    lines = [line.strip() for line in text.splitlines()]
    progress = Counter(m.group("desc").strip() or "(bar)" for line in lines if (m := PROGRESS_LINE.match(line)))
    shown = Counter(f"{m.group('category')}: {m.group('message').strip()}" for line in lines
                    if (m := WARNING_LINE.match(line)))
    shown.update(" ".join(item.split()) for item in listed)
    stderr_boxes = int(driver.execute_script(f"return document.querySelectorAll(\"{STDERR_SELECTOR}\").length"))
    wrapped = list(driver.execute_script(_WRAPPED_CELLS_JS))
    cut_off = list(driver.execute_script(_CUT_OFF_JS))
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    shot = None
    if screenshot is not None:
        shot = save_full_screenshot(driver, screenshot, height)
    check = PageCheck(Path(page), banners, mentions, dict(progress), wrapped, shot, stderr_boxes, dict(shown),
                      cut_off, height)
    expected = {caveat: 1} if caveat else {}
    if banners != len(expected) or mentions != expected:
        check.problems.append(f"{banners} caveat banner(s) and mentions {mentions}, expected {expected or 'none'}")
    check.problems += [f"{count} progress lines for bar {desc!r} (at most {max_progress_lines})"
                       for desc, count in progress.items() if count > max_progress_lines]
    if stderr_boxes:
        check.problems.append(f"{stderr_boxes} stderr box(es): progress belongs on stdout, warnings in a note")
    check.problems += [f"warning shown {count} times: {warning[:120]!r}" for warning, count in shown.items()
                       if count > 1]
    if cut_off:
        check.problems.append(f"{len(cut_off)} thing(s) cut off at {WIDTH} px, e.g. {cut_off[:3]}")
    if wrapped:
        check.problems.append(f"{len(wrapped)} table cell(s) wrap at {WIDTH} px, e.g. {wrapped[:3]}")
    return check


def save_full_screenshot(driver: Any, target: Path, height: int | None = None) -> Path:
    """A PNG of the whole page (its full height, up to ``MAX_SCREENSHOT_HEIGHT``), not just the window."""
    if height is None:
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    width = int(driver.execute_script("return document.documentElement.clientWidth"))
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height, MAX_SCREENSHOT_HEIGHT), "scale": 1}})
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(base64.b64decode(shot["data"]))
    return target


def check_run(run_dir: str | Path, max_progress_lines: int = MAX_PROGRESS_LINES) -> list[PageCheck]:
    """Check ``index.html`` and every notebook page of a run folder; screenshots in ``<run>/screenshots``."""
    from .run_index import run_caveat

    run_dir = Path(run_dir)
    index = run_dir / "index.html"
    if not index.is_file():
        raise ConfigError(f"{index} does not exist: run a plan first (make report)")
    caveat = run_caveat(run_dir)
    pages = [index] + sorted(p for p in run_dir.glob("*/*/*/*.html"))
    driver = start_browser()
    try:
        return [check_page(driver, page, caveat,
                           run_dir / "screenshots" / (page.relative_to(run_dir).as_posix()
                                                      .removesuffix(".html").replace("/", "__") + ".png"),
                           max_progress_lines) for page in pages]
    finally:
        driver.quit()
