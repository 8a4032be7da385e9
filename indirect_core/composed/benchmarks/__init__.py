"""The public composed-retrieval benchmarks, read from their standard downloads, and the embedded one.

``load_benchmark(name, root=None, split=None, layout="auto", **options) -> list[QuerySet]`` for "cirr",
"fashioniq", "circo", "genecis" and "synthetic-shapes-cir" (``split=None``: the benchmark's default, "val"
for the public four); ``check_benchmark`` says what is missing without opening an image. Default roots are
``data/<name>`` (or ``$INDIRECT_DATA_DIR/<name>``), as for the paper datasets; nothing is downloaded
(data/README.md says where each is published and which layout to put under data/).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..._util.errors import ConfigError, DatasetError
from ..._util.validation import check_choice, check_options
from ..queries import QuerySet
from .circo import CIRCO, load_circo
from .cirr import CIRR, load_cirr
from .common import AUTO
from .crops import CROP_MODES
from .fashioniq import FASHIONIQ, load_fashioniq
from .genecis import GENECIS, load_genecis, plan_genecis
from .submission import (circo_submission, cirr_recall_submission, cirr_subset_submission, write_circo_submission,
                         write_cirr_submission, write_submission)

SYNTHETIC_SHAPES_CIR = "synthetic-shapes-cir"
_SET_HERE = ("root", "split", "layout")
"""A loader's parameters that load_benchmark passes itself: not options."""


def _load_synthetic(root: str | Path | None = None, layout: str = AUTO, **options) -> list[QuerySet]:
    """The embedded benchmark (generated on first use); its module is imported only when asked for."""
    if layout != AUTO:
        raise ConfigError(f"benchmark {SYNTHETIC_SHAPES_CIR!r} is generated and has no layouts: use layout='auto'")
    from ..synthetic import load_synthetic_cir

    check_options(f"benchmark {SYNTHETIC_SHAPES_CIR!r}", load_synthetic_cir, options, set_by_caller=_SET_HERE)
    return load_synthetic_cir(root=root, **options)


def _summary(query_sets: list[QuerySet]) -> str:
    """One line per query set: name, queries, images."""
    return "; ".join(f"{q.name}: {len(q)} queries, {len(q.images)} images" for q in query_sets)


def _loaded_summary(load: Callable[..., list[QuerySet]]) -> Callable[..., str]:
    """A check that loads (stat'ing every image, opening none) and summarises what it found."""
    def check(**arguments) -> str:
        return _summary(load(**arguments))
    return check


def _check_genecis(root: str | Path | None = None, split: str = "val", layout: str = AUTO,
                   cache_dir: str | Path | None = None, crop: str = "official", progress: bool = True,
                   **options) -> str:
    """GeneCIS's task files and source images, without making a crop."""
    check_choice(f"benchmark {GENECIS!r}: crop", crop, CROP_MODES)
    return "; ".join(f"genecis/{p.task} (val): {len(p.reference)} queries, {len(p.names)} images"
                     for p in plan_genecis(root, split, layout, **options))


def _check_synthetic(root: str | Path | None = None, split: str | None = None, layout: str = AUTO,
                     **options) -> str:
    """Nothing to check: the embedded benchmark is generated when first loaded."""
    return f"{SYNTHETIC_SHAPES_CIR}: generated on first use"


@dataclass(frozen=True)
class _Benchmark:
    """A registry entry: its loader and its light check (a summary line, or a DatasetError)."""

    load: Callable[..., list[QuerySet]]
    check: Callable[..., str]


_BENCHMARKS: dict[str, _Benchmark] = {
    CIRR: _Benchmark(load_cirr, _loaded_summary(load_cirr)),
    FASHIONIQ: _Benchmark(load_fashioniq, _loaded_summary(load_fashioniq)),
    CIRCO: _Benchmark(load_circo, _loaded_summary(load_circo)),
    GENECIS: _Benchmark(load_genecis, _check_genecis),
    SYNTHETIC_SHAPES_CIR: _Benchmark(_load_synthetic, _check_synthetic),
}


def available_benchmarks() -> list[str]:
    """Names accepted by load_benchmark: the four public benchmarks and the embedded one."""
    return list(_BENCHMARKS)


def _entry(name: str, options: dict) -> _Benchmark:
    """The registry entry of ``name``, after checking that its loader accepts ``options``."""
    if name not in _BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}: use one of {', '.join(available_benchmarks())}")
    entry = _BENCHMARKS[name]
    check_options(f"benchmark {name!r}", entry.load, options, set_by_caller=_SET_HERE)
    return entry


def load_benchmark(name: str, root: str | Path | None = None, split: str | None = None, layout: str = AUTO,
                   **options) -> list[QuerySet]:
    """The query sets of one benchmark split (one per FashionIQ category / GeneCIS task, else one).

    ``split=None`` is the benchmark's default: "val" for the public ones, the embedded benchmark's own default.
    """
    arguments = _arguments(root, split, layout, options)
    return _entry(name, options).load(**arguments)


def check_benchmark(name: str, root: str | Path | None = None, split: str | None = None, layout: str = AUTO,
                    **options) -> tuple[bool, str]:
    """(True, what was found) or (False, the missing-data message); files are stat'ed, no image is opened.

    A bad parameter (unknown benchmark, split, layout or option) still raises ConfigError.
    """
    entry = _entry(name, options)
    try:
        return True, entry.check(**_arguments(root, split, layout, options))
    except DatasetError as exc:
        return False, str(exc)


def _arguments(root: str | Path | None, split: str | None, layout: str, options: dict) -> dict:
    """Keyword arguments for a loader; an unset split is left to the loader's default."""
    return {"root": root, "layout": layout, **({} if split is None else {"split": split}), **options}


__all__ = [
    "available_benchmarks", "load_benchmark", "check_benchmark", "load_cirr", "load_fashioniq", "load_circo",
    "load_genecis", "plan_genecis", "cirr_recall_submission", "cirr_subset_submission", "circo_submission",
    "write_submission", "write_cirr_submission", "write_circo_submission", "CIRR", "FASHIONIQ", "CIRCO", "GENECIS",
    "SYNTHETIC_SHAPES_CIR",
]
