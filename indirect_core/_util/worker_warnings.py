"""Warnings raised in worker processes, carried back to the process that asked for the work.

A worker's warnings never pass the parent's filters (a notebook's note of warnings, a script's "default" rule
that prints each warning once): the worker prints them to its own stderr, once per worker and call site. Run the
work through ``call_recording_warnings`` in the worker and hand what it returns to ``replay_warnings`` in the
parent; there they are raised again, as if raised here, and the parent's rules decide what a reader sees.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class RecordedWarning:
    """One warning as raised in a worker (its category must be importable, as warning classes are)."""

    message: str
    category: type[Warning]
    filename: str
    lineno: int


_REPLAY_REGISTRY: dict = {}
"""The warnings registry of replayed warnings: the "default" rule shows each call site once, as in the worker."""


def call_recording_warnings(function: Callable[..., Any], *args: Any,
                            **kwargs: Any) -> tuple[Any, list[RecordedWarning]]:
    """``function(*args, **kwargs)`` and every warning it raised (none is printed here); for worker processes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    return result, [RecordedWarning(str(w.message), w.category, w.filename, w.lineno) for w in caught]


def replay_warnings(recorded: Sequence[RecordedWarning]) -> None:
    """Raise recorded warnings again in this process, through this process's warning filters."""
    for warning in recorded:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno,
                               registry=_REPLAY_REGISTRY)
