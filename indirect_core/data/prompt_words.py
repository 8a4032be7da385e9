"""Prompt word lists: the files shipped in ``indirect_core/prompts/`` and a user's own word files.

A word file holds one entry per line. Text after ``#`` is a comment, blank lines are skipped, and an entry
may appear only once. Each shipped file opens with ``#`` lines saying what it lists, its source and date.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from indirect_core.data.css_colours import CSS21_COLOUR_NAMES
from indirect_core._util.errors import ConfigError, DatasetError

if TYPE_CHECKING:  # importlib.resources.abc exists from Python 3.11
    from importlib.resources.abc import Traversable

PROMPTS_PACKAGE = "indirect_core.data"
PROMPTS_FOLDER = "prompts"
SUFFIX = ".txt"

BUILT_IN: dict[str, tuple[tuple[str, ...], list[str]]] = {
    "css21_colours": (CSS21_COLOUR_NAMES, [
        "CSS 2.1 colour names: the prompt words of the colour notions (the 17 named colours).",
        "Source: W3C CSS 2.1 specification, section 4.3.6 'Colors'; the authors took them from",
        "webcolors.CSS21_HEX_TO_NAMES, in that order (orange first). Defined once, with their values, in",
        "indirect_core/data/css_colours.py.",
    ]),
}
"""Word lists defined in code rather than shipped as files: name -> (words, header lines)."""


def _prompts_dir() -> Traversable:
    """The shipped ``prompts`` folder inside the installed package."""
    return resources.files(PROMPTS_PACKAGE).joinpath(PROMPTS_FOLDER)


def available_word_lists() -> list[str]:
    """Names of the shipped word lists (file names without ``.txt``), sorted."""
    folder = _prompts_dir()
    shipped = [f.name[: -len(SUFFIX)] for f in folder.iterdir() if f.name.endswith(SUFFIX) and f.is_file()] \
        if folder.is_dir() else []
    return sorted({*shipped, *BUILT_IN})


def _stem(name: object) -> object:
    return name[: -len(SUFFIX)] if isinstance(name, str) and name.endswith(SUFFIX) else name


def _shipped_file(name: str) -> Traversable:
    """The shipped file of word list `name` (``"car_models"`` or ``"car_models.txt"``)."""
    stem = name[: -len(SUFFIX)] if isinstance(name, str) and name.endswith(SUFFIX) else name
    known = available_word_lists()
    if not isinstance(stem, str) or stem not in known:
        raise ConfigError(
            f"unknown word list {name!r}: use one of {', '.join(map(repr, known))} "
            f"(files in indirect_core/data/{PROMPTS_FOLDER}/), or read_words(path) for your own file"
        )
    return _prompts_dir().joinpath(stem + SUFFIX)


def parse_words(text: str, source: str) -> list[str]:
    """Entries of a word file's text; DatasetError naming `source` and the line for a repeated or missing entry."""
    words: list[str] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        word = line.split("#", 1)[0].strip()
        if not word:
            continue
        if word in first_line:
            raise DatasetError(
                f"word file {source}, line {number}: {word!r} repeats line {first_line[word]}: "
                f"delete one of the two lines (each prompt word may appear once)"
            )
        first_line[word] = number
        words.append(word)
    if not words:
        raise DatasetError(f"word file {source} holds no words: write one prompt word per line")
    return words


def _header(text: str) -> list[str]:
    """The leading ``#`` comment lines of a word file, without the ``#``."""
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line[1:].strip())
    return header


def words(name: str) -> list[str]:
    """The entries of the shipped word list `name`, in file order (e.g. ``words("css21_colours")``)."""
    if _stem(name) in BUILT_IN:
        return list(BUILT_IN[_stem(name)][0])
    file = _shipped_file(name)
    return parse_words(file.read_text(encoding="utf-8-sig"), f"indirect_core/data/{PROMPTS_FOLDER}/{file.name}")


def word_list_header(name: str) -> list[str]:
    """The ``#`` header of the shipped word list `name`: what it lists, its source and date."""
    if _stem(name) in BUILT_IN:
        return list(BUILT_IN[_stem(name)][1])
    return _header(_shipped_file(name).read_text(encoding="utf-8-sig"))


def read_words(path: str | Path) -> list[str]:
    """Entries of a user's own word file, one per line (same rules as the shipped lists)."""
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"word file {file} does not exist: create it with one prompt word per line")
    return parse_words(file.read_text(encoding="utf-8-sig"), str(file))
