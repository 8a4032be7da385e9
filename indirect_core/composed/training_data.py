"""Where the mappers' training data comes from: images for Pic2Word, captions for LinCIR.

A source is a string: ``"synthetic-shapes-cir"`` (the embedded benchmark's train split, the default), a
registered dataset name or an image folder (``root/<label>/<image>``; CC3M images laid out so work too) for
Pic2Word; a text file (one caption per line), a CSV/TSV file (``column``), or ``"hf:<name>"`` (a Hugging Face
dataset, with the optional ``datasets`` package and network access) for LinCIR.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.datasets import Dataset, available_datasets, load_dataset
from .._util.errors import ConfigError, DatasetError
from .._util.validation import check_optional_int

SYNTHETIC_TRAIN = "synthetic-shapes-cir"
"""The default source: the train split of the embedded composed-retrieval benchmark."""
HF_PREFIX = "hf:"
"""Prefix of a Hugging Face dataset source, e.g. ``"hf:dangne/gcc_caption_only"``."""
TABLE_SUFFIXES = (".csv", ".tsv")


def _synthetic_train(root: str | Path | None, options: dict) -> tuple[Dataset, list[str]]:
    """The synthetic-shapes-cir train split (images and one caption each), generated on first use."""
    from .synthetic import synthetic_cir_train  # lazy: generating the benchmark is only needed here

    try:
        return synthetic_cir_train(root, **options)
    except TypeError as error:
        raise ConfigError(f"training data {SYNTHETIC_TRAIN!r}: {error}; its options (data_options) are passed to "
                          "synthetic_cir_train (n_train, image_size, seed, ...)") from None


def training_images(source: str = SYNTHETIC_TRAIN, root: str | Path | None = None,
                    options: dict | None = None) -> Dataset:
    """The images Pic2Word trains on: the synthetic train split, a registered dataset, or an image folder."""
    options = dict(options or {})
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"training data {source!r} must be {SYNTHETIC_TRAIN!r}, a dataset name or an image "
                          "folder")
    if source == SYNTHETIC_TRAIN:
        return _synthetic_train(root, options)[0]
    if source in available_datasets():
        return load_dataset(source, root=root, **options)
    if Path(source).expanduser().is_dir():
        return load_dataset("image-folder", root=Path(source).expanduser(), **options)
    raise ConfigError(f"training data {source!r} is neither {SYNTHETIC_TRAIN!r}, a registered dataset "
                      f"({', '.join(available_datasets())}) nor an existing image folder (root/<label>/<image>)")


def _sniff_delimiter(path: Path) -> str:
    """The delimiter of a CSV/TSV file from its first lines (comma, tab, semicolon or bar)."""
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        sample = handle.read(64 * 1024)
    if path.suffix.lower() == ".tsv":
        return "\t"
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


def _table_captions(path: Path, column: str) -> list[str]:
    """One caption per row of ``column`` in a CSV/TSV file; empty cells are left out."""
    try:
        table = pd.read_csv(path, sep=_sniff_delimiter(path), dtype=str, keep_default_na=False,
                            usecols=lambda c: c == column)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DatasetError(f"cannot parse caption table {path} ({error}): fix the file (CSV or TSV, UTF-8)") from None
    if column not in table.columns:
        header = pd.read_csv(path, sep=_sniff_delimiter(path), nrows=0).columns
        raise ConfigError(f"caption table {path} has no column {column!r} (columns: {', '.join(header)}): pass "
                          "caption_column=<the column holding the captions>")
    return [c.strip() for c in table[column] if c.strip()]


def _hf_captions(name: str, column: str, options: dict) -> list[str]:
    """The ``column`` of a Hugging Face dataset (``datasets.load_dataset(name, split=...)``)."""
    try:
        import datasets
    except ImportError:
        raise ConfigError(f"training data {HF_PREFIX + name!r} needs the optional package `datasets` "
                          "(`pip install datasets`) and network access; or export the captions to a text file "
                          "(one per line) and pass its path") from None
    split = options.pop("split", "train")
    try:
        table = datasets.load_dataset(name, split=split, **options)
    except Exception as error:  # noqa: BLE001 - offline, unknown name, auth: all mean "cannot load it"
        raise ConfigError(f"cannot load the Hugging Face dataset {name!r} (split {split!r}): "
                          f"{type(error).__name__}: {error}. It needs network access (or a local Hugging Face "
                          "cache); or pass a caption file instead") from None
    if column not in table.column_names:
        raise ConfigError(f"Hugging Face dataset {name!r} has no column {column!r} (columns: "
                          f"{', '.join(table.column_names)}): pass caption_column=<the caption column>")
    return [str(c).strip() for c in table[column] if c is not None and str(c).strip()]


def training_captions(source: str = SYNTHETIC_TRAIN, column: str = "caption", root: str | Path | None = None,
                      options: dict | None = None, limit: int | None = None) -> list[str]:
    """The captions LinCIR trains on (file order; the first ``limit`` when given)."""
    options: dict[str, Any] = dict(options or {})
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"training data {source!r} must be {SYNTHETIC_TRAIN!r}, a caption file (.txt, .csv, "
                          f".tsv) or {HF_PREFIX}<dataset name>")
    check_optional_int("max_captions", limit)
    if source == SYNTHETIC_TRAIN:
        captions = _synthetic_train(root, options)[1]
    elif source.startswith(HF_PREFIX):
        captions = _hf_captions(source[len(HF_PREFIX):], column, options)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise ConfigError(f"training data {source!r}: no such caption file. Use {SYNTHETIC_TRAIN!r}, "
                              f"a text file (one caption per line), a CSV/TSV with caption_column, or "
                              f"{HF_PREFIX}<dataset name>")
        if path.suffix.lower() in TABLE_SUFFIXES:
            captions = _table_captions(path, column)
        else:
            try:
                captions = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            except UnicodeDecodeError as error:
                raise DatasetError(f"caption file {path} is not UTF-8 text ({error}): save it as UTF-8, one "
                                   "caption per line") from None
    if not captions:
        raise DatasetError(f"training data {source!r} holds no captions: give a file with one caption per line")
    return captions[:limit] if limit is not None else captions


def check_training_data(method: str, source: object, name: str = "data") -> str:
    """The notebook's training-data parameter (``name``): a source that exists and suits the method (images
    for Pic2Word, captions for LinCIR)."""
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"parameter {name}={source!r} must be a non-empty string")
    if source == SYNTHETIC_TRAIN:
        return source
    path = Path(source).expanduser()
    if method == "pic2word":
        if source in available_datasets() or path.is_dir():
            return source
        raise ConfigError(f"parameter {name}={source!r}: Pic2Word trains on images; use {SYNTHETIC_TRAIN!r}, "
                          "a registered dataset name or an image folder (root/<label>/<image>)")
    if source.startswith(HF_PREFIX) and len(source) > len(HF_PREFIX):
        return source
    if path.is_file():
        return source
    raise ConfigError(f"parameter {name}={source!r}: LinCIR trains on captions; use {SYNTHETIC_TRAIN!r}, "
                      f"an existing caption file (.txt one per line, .csv/.tsv with caption_column) or "
                      f"{HF_PREFIX}<dataset name>")
