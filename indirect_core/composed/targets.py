"""LinCIR's regression targets: the unnormalised CLIP text features of the original captions, computed once.

LinCIR adds its noise after the text encoder (phi's input is t + U(0,1) N(0, I)), so the frozen encoder's output
for a caption is the same at every step and caching it is exact. The cache holds one file per (backbone identity,
weight dtype, caption list), written atomically under ``<cache_dir>/text-targets/<backbone key>/``.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Sequence

import torch

with warnings.catch_warnings():  # clip-anytorch imports the deprecated pkg_resources
    warnings.simplefilter("ignore", UserWarning)
    import clip

from .._util.torch_files import save_torch_file
from ..backbone import Backbone, default_cache_dir, encode_token_embeddings
from .._util.errors import ConfigError
from .._util.progress import progress_bar
from .tokens import CONTEXT_LENGTH

TARGETS_FORMAT = 1


def captions_sha256(captions: Sequence[str]) -> str:
    """Hex sha256 of a caption list (order and exact text): the data part of the cache key."""
    return hashlib.sha256(json.dumps(list(captions), ensure_ascii=False).encode("utf-8")).hexdigest()


def caption_token_ids(captions: Sequence[str]) -> torch.Tensor:
    """CLIP token ids (n, 77) of captions, cut to CLIP's context as ``clip.tokenize(truncate=True)``."""
    return clip.tokenize(list(captions), context_length=CONTEXT_LENGTH, truncate=True)


def encode_caption_ids(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Unnormalised text features of a batch of token ids (n, L), in the model's dtype."""
    return encode_token_embeddings(model, ids, model.token_embedding(ids))


def targets_path(backbone: Backbone, captions: Sequence[str], cache_dir: str | Path | None = None) -> Path:
    """Where the targets of these captions under this backbone are cached."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dtype = str(backbone.model.dtype).replace("torch.", "")
    return root / "text-targets" / backbone.key / f"{dtype}-n{len(captions)}-{captions_sha256(captions)[:24]}.pt"


def text_targets(backbone: Backbone, captions: Sequence[str], cache_dir: str | Path | None = None,
                 batch_size: int = 256, progress: bool = True) -> torch.Tensor:
    """Unnormalised CLIP text features (n, E) float32 (CPU) of ``captions``, read from the cache or computed
    once (captions sorted by length into batches cut to their longest caption, which is exact)."""
    captions = list(captions)
    if not captions:
        raise ConfigError("captions is empty: give at least one caption to compute text targets for")
    path = targets_path(backbone, captions, cache_dir)
    digest = captions_sha256(captions)
    if path.is_file():
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            if stored.get("captions_sha256") == digest and stored.get("format") == TARGETS_FORMAT:
                return stored["targets"]
        except Exception:  # noqa: BLE001 - an unreadable cache file is recomputed
            pass
    ids = caption_token_ids(captions)
    lengths = ids.argmax(dim=1) + 1  # the end-of-text token has the largest id
    order = torch.argsort(lengths, stable=True)
    targets = torch.empty(len(captions), backbone.embed_dim)
    bar = progress_bar(total=len(captions), desc=f"text targets ({backbone.name})", unit="caption",
                       disable=not progress, leave=False)
    with bar, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            length = int(lengths[rows].max())
            batch = ids[rows, :length].to(backbone.device)
            targets[rows] = encode_caption_ids(backbone.model, batch).float().cpu()
            bar.update(len(rows))
    save_torch_file({"format": TARGETS_FORMAT, "backbone": backbone.identity(), "captions_sha256": digest,
                     "n": len(captions), "targets": targets}, path)
    return targets
