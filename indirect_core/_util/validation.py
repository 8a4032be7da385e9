"""Checks of what callers pass in, one definition each: integers, numbers, choices, mappings and feature
matrices. Each error is a ``ConfigError`` naming the value and what to pass instead; ``name`` is how the value
is called where it was given ("k", "parameter n_components", "image_features")."""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Collection, Mapping, Sequence

import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:
    import torch


def _hint(hint: str) -> str:
    return f" ({hint})" if hint else ""


def is_int(value: Any) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, minimum: int = 1, hint: str = "") -> int:
    """``value`` as an int of at least ``minimum`` (bools refused)."""
    if not is_int(value) or value < minimum:
        want = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
        raise ConfigError(f"{name}={value!r} must be {want}{_hint(hint)}")
    return int(value)


def check_optional_int(name: str, value: Any, minimum: int = 1, hint: str = "") -> int | None:
    """``None``, or an int of at least ``minimum``."""
    if value is None:
        return None
    if not is_int(value) or value < minimum:
        want = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
        raise ConfigError(f"{name}={value!r} must be {want} or None{_hint(hint)}")
    return int(value)


def check_number(name: str, value: Any, minimum: float | None = None, maximum: float | None = None,
                 above: float | None = None, below: float | None = None, hint: str = "") -> float:
    """``value`` as a finite float within ``[minimum, maximum]``, strictly greater than ``above`` and strictly
    less than ``below``."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) \
        and np.isfinite(value)
    if ok:
        ok = (minimum is None or value >= minimum) and (maximum is None or value <= maximum) \
            and (above is None or value > above) and (below is None or value < below)
    if not ok:
        bounds = [f">= {minimum}" if minimum is not None else "", f"> {above}" if above is not None else "",
                  f"<= {maximum}" if maximum is not None else "", f"< {below}" if below is not None else ""]
        want = " and ".join(b for b in bounds if b)
        kind = {(0, None, None, None): "a non-negative number", (None, 0, None, None): "a positive number"}.get(
            (minimum, above, maximum, below))
        raise ConfigError(f"{name}={value!r} must be {kind or 'a number' + (' ' + want if want else '')}"
                          f"{_hint(hint)}")
    return float(value)


def check_choice(name: str, value: Any, choices: Sequence[Any], hint: str = "") -> Any:
    """``value`` must be one of ``choices``."""
    if isinstance(value, (list, dict, set)) or value not in list(choices):
        raise ConfigError(f"{name}={value!r} must be one of {list(choices)}{_hint(hint)}")
    return value


def check_choices(name: str, values: Any, choices: Sequence[Any]) -> list:
    """A non-empty list (or one value) of members of ``choices``, without repeats."""
    values = [values] if isinstance(values, str) else values
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(f"{name}={values!r} must be a non-empty list of some of {list(choices)}")
    unknown = [v for v in values if v not in list(choices)]
    if unknown:
        raise ConfigError(f"{name}: {unknown} not among {list(choices)}")
    repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
    if repeated:
        raise ConfigError(f"{name} names {repeated} more than once: give each once")
    return list(values)


def check_options(what: str, function: Callable, options: Mapping[str, Any],
                  set_by_caller: Collection[str] = ()) -> None:
    """Every key of ``options`` must be a keyword parameter of ``function`` other than those its caller sets itself
    (``set_by_caller``); a function with ``**kwargs`` takes any. ``what`` says whose options they are, e.g.
    "dataset 'cub200'" or "model 'pca' (PCA)"."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [name for name, p in parameters.items() if name not in set_by_caller
                and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    unknown = [key for key in options if key not in accepted]
    if unknown:
        raise ConfigError(f"{what} has no option(s) {unknown}: its options are {accepted}")


def check_mapping(name: str, value: Any) -> dict:
    """A mapping (``None`` is an empty one)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name}={value!r} must be a mapping, e.g. {{}} or {{key: value}}")
    return dict(value)


def as_matrix(values: Any, name: str, n_columns: int | None = None, n_rows: int | None = None,
              model: str | None = None, vector_ok: bool = False, empty_ok: bool = False) -> "torch.Tensor":
    """A finite 2-D float32 CPU tensor (detached) from a tensor, array or list, with scikit-learn's messages where
    its checks look for them. ``n_columns``: the width expected (``model``, when given, says who expects it);
    ``n_rows``: the rows expected; ``vector_ok``: a 1-D input is one row; ``empty_ok``: no rows is accepted."""
    tensor = _as_tensor(values, name)
    if vector_ok and tensor.ndim == 1:
        tensor = tensor.reshape(1, -1)
    if tensor.ndim != 2:
        hint = ("Reshape your data: x.reshape(1, -1) for one sample (one image or prompt), x.reshape(-1, 1) "
                "for one feature" if tensor.ndim == 1 else "pass one row per image or prompt")
        raise ConfigError(f"{name} must be a 2-D (n_samples, n_features) matrix, got shape "
                          f"{tuple(tensor.shape)}: {hint}")
    if tensor.shape[0] == 0 and not empty_ok:
        raise ConfigError(f"{name} is empty: give at least one row (for text features: at least one prompt)")
    if tensor.shape[1] == 0:
        raise ConfigError(f"{name} has 0 feature(s) (shape={tuple(tensor.shape)}) while a minimum of 1 is "
                          "required: pass the CLIP features, one column per dimension")
    if n_columns is not None and tensor.shape[1] != n_columns:
        if model is not None:
            raise ConfigError(f"X has {tensor.shape[1]} features, but {model} is expecting {n_columns} features as "
                              f"input ({name} of width {tensor.shape[1]}, fitted on width {n_columns}): use the "
                              "same CLIP backbone for the prompts and the images")
        raise ConfigError(f"{name} must be a (n, {n_columns}) matrix, got shape {tuple(tensor.shape)}")
    if n_rows is not None and tensor.shape[0] != n_rows:
        raise ConfigError(f"{name} has {tensor.shape[0]} rows; expected {n_rows} (one per image/query, in order)")
    import torch

    tensor = tensor.detach().to("cpu", torch.float32)
    if not bool(torch.isfinite(tensor).all()):
        row = int((~torch.isfinite(tensor)).any(dim=1).nonzero()[0, 0])
        raise ConfigError(f"{name} contains NaN or infinite values (as float32, first in row {row}): recompute "
                          "the features")
    return tensor


def _as_tensor(values: Any, name: str) -> "torch.Tensor":
    """A tensor as it is; anything else through NumPy as float32 (sparse and complex input refused)."""
    import torch
    from scipy import sparse

    if isinstance(values, torch.Tensor):
        if values.is_complex():
            raise ConfigError(f"{name}: Complex data not supported; pass real-valued features")
        return values
    if sparse.issparse(values):
        raise ConfigError(f"{name} is a sparse matrix: sparse input is not supported, pass a dense (n, d) array "
                          "(e.g. X.toarray())")
    array = np.asarray(values)
    if np.iscomplexobj(array):
        raise ConfigError(f"{name}: Complex data not supported; pass real-valued features")
    if array.dtype.kind in "USV":
        raise ConfigError(f"{name} holds {array.dtype} values: pass numbers (the CLIP features)")
    # An object array of numbers converts as check_array converts it; one holding other objects raises
    # NumPy's TypeError ("float() argument must be a string or a real number").
    array = np.asarray(array, dtype=np.float32, order="C")
    if not array.flags.writeable:  # torch does not share read-only memory (e.g. a memory-mapped file)
        array = array.copy()
    return torch.from_numpy(array)


def unit_rows(matrix: "torch.Tensor", name: str) -> "torch.Tensor":
    """Rows divided by their L2 norm; a zero row is an error (it has no direction to compare)."""
    norms = matrix.norm(dim=1, keepdim=True)
    if len(matrix) and bool((norms == 0).any()):
        row = int((norms[:, 0] == 0).nonzero()[0, 0])
        raise ConfigError(f"{name} row {row} is all zeros: cosine similarity is undefined for it")
    return matrix / norms
