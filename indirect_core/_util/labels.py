"""Label coding: the one mapping from label values (any type, strings included) to integer class codes."""
from __future__ import annotations

from typing import Any

import numpy as np


def encode_labels(labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct class names (as str) and the int64 code of each label in that order."""
    classes, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    return classes, codes.reshape(-1).astype(np.int64)
