"""A loaded CLIP backbone: its identity and the two embeddings, prompts and images (streamed in batches)."""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

with warnings.catch_warnings():  # clip-anytorch imports the deprecated pkg_resources
    warnings.simplefilter("ignore", UserWarning)
    import clip

from .._util.caveats import RANDOM_WEIGHTS_MARKER
from .._util.errors import ConfigError, DatasetError, UnreadableImageError
from .._util.validation import check_int
from .images import read_rgb
from .._util.naming import slug
from .._util.progress import progress_bar

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
"""The per-channel mean and std of CLIP's preprocessing ``Normalize`` (OpenAI's values, every CLIP model)."""


@dataclass
class Backbone:
    """A loaded CLIP model with its preprocessing and identity (name + sha256 of its weights file)."""

    name: str
    weights_path: Path
    weights_sha256: str
    random_weights: bool
    model: torch.nn.Module = field(repr=False)
    preprocess: Callable[[Image.Image], torch.Tensor] = field(repr=False)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    caveat: str | None = None
    """What every output made with this backbone says about itself (``_util.caveats``): random weights, shapes-clip,
    or None for OpenAI's (or your own) CLIP weights."""

    def __post_init__(self) -> None:
        if self.random_weights and self.caveat is None:
            self.caveat = RANDOM_WEIGHTS_MARKER

    @property
    def embed_dim(self) -> int:
        """Dimension of CLIP's joint embedding space (512 for ViT-B/32)."""
        return int(self.model.text_projection.shape[1])

    @property
    def input_resolution(self) -> int:
        """Side in pixels of the images the model sees (CLIP's preprocess resizes and crops to it): 224 for ViT-B/32,
        64 for shapes-clip; attribution maps and object masks live on this grid."""
        return int(self.model.visual.input_resolution)

    @property
    def token_width(self) -> int:
        """Width of CLIP's token embeddings (the text transformer's width): the size of a pseudo-word token."""
        return int(self.model.token_embedding.weight.shape[1])

    def identity(self) -> dict:
        """What identifies the features this backbone produces: used in cache keys and provenance."""
        return {"name": self.name, "sha256": self.weights_sha256, "random_weights": self.random_weights,
                "caveat": self.caveat, "embed_dim": self.embed_dim}

    @property
    def key(self) -> str:
        """Short filesystem-safe key: name slug plus the first 16 hex digits of the weights hash."""
        return f"{slug(self.name)}-{self.weights_sha256[:16]}"

    def encode_texts(self, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """Embed prompts: (n, d) float32 rows L2-normalised, one row per prompt, in order.

        Tokenizes with the context length of the longest prompt; CLIP's causal mask makes the
        features identical to the 77-token default at a fraction of the cost.
        """
        prompts = check_prompts(prompts)
        try:
            tokens = clip.tokenize(prompts, context_length=self.model.context_length)
        except RuntimeError as error:  # clip raises RuntimeError for over-long prompts
            raise ConfigError(f"{error}: shorten the prompt (CLIP reads at most "
                              f"{self.model.context_length} tokens)") from None
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(tokens), batch_size):
                batch = tokens[start:start + batch_size]
                # The end-of-text token has the largest id; it ends the used part. (Counting non-zero ids would
                # be wrong: id 0 is a real token, "!".)
                length = int(batch.argmax(dim=1).max()) + 1
                outputs.append(_encode_text_prefix(self.model, batch[:, :length].to(self.device)).float().cpu())
        features = torch.cat(outputs)
        return features / features.norm(dim=1, keepdim=True)

    def encode_images(self, paths: Sequence[str | Path], batch_size: int = 64, num_workers: int = 0,
                      on_error: str = "raise", progress: bool = True) -> torch.Tensor:
        """Raw CLIP image features (n, d) float32, streamed batch by batch through a DataLoader.

        With ``on_error="skip"`` unreadable images are left out (a warning names them); use
        ``indirect_core.cache.image_features`` to keep the record of which were skipped.
        """
        rows: list[torch.Tensor] = []
        failures: dict[int, str] = {}
        for _, features, batch_failures in self.iter_image_batches(paths, batch_size, num_workers,
                                                                  on_error, progress):
            rows.append(features)
            failures.update(batch_failures)
        if failures:
            names = [f"{paths[i]} ({why})" for i, why in list(failures.items())[:5]]
            warnings.warn(f"skipped {len(failures)} unreadable image(s): {names}", stacklevel=2)
        if not rows:
            return torch.empty(0, self.embed_dim)
        return torch.cat(rows)

    def iter_image_batches(self, paths: Sequence[str | Path], batch_size: int = 64, num_workers: int = 0,
                           on_error: str = "raise", progress: bool = True,
                           batches: Sequence[Sequence[int]] | None = None
                           ) -> Iterator[tuple[np.ndarray, torch.Tensor, dict[int, str]]]:
        """Yield (indices of readable images, their features, {index: reason} for failures) per batch.

        ``batches`` optionally fixes which indices form each batch (the cache aligns batches to shards).
        """
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error={on_error!r} is not allowed: use 'raise' or 'skip'")
        check_int("batch_size", batch_size)
        check_int("num_workers", num_workers, minimum=0)
        if batches is None:
            batches = [range(i, min(i + batch_size, len(paths))) for i in range(0, len(paths), batch_size)]
        batches = [list(batch) for batch in batches if len(batch)]
        loader = torch.utils.data.DataLoader(
            _ImageFiles([str(p) for p in paths], self.preprocess), batch_sampler=batches,
            num_workers=num_workers, collate_fn=_collate,
            prefetch_factor=4 if num_workers > 0 else None)
        total = sum(len(batch) for batch in batches)
        bar = progress_bar(total=total, desc=f"CLIP image features ({self.name})", unit="img",
                   disable=not progress, leave=False)
        with bar, torch.inference_mode():
            for indices, pixels, ok, reasons in loader:
                failures = {int(i): r for i, good, r in zip(indices, ok, reasons) if not good}
                if failures and on_error == "raise":
                    index, reason = next(iter(failures.items()))
                    raise DatasetError(f"cannot read image {paths[index]}: {reason}. Fix or remove the file, "
                                       "or pass on_error='skip' to leave unreadable images out")
                good = indices[ok]
                if len(good):
                    features = self.model.encode_image(pixels[ok].to(self.device)).float().cpu()
                else:
                    features = torch.empty(0, self.embed_dim)
                bar.update(len(indices))
                yield good.numpy(), features, failures


def check_prompts(prompts: Sequence[str], example: str = "a photo of a circle") -> list[str]:
    """The prompts as a list of non-empty strings (one string, an empty list or a blank prompt is an error)."""
    if isinstance(prompts, str):
        raise ConfigError("prompts must be a list of strings, got one string: wrap it as [prompt]")
    prompts = list(prompts)
    if not prompts:
        raise ConfigError(f"empty prompt list: give at least one prompt, e.g. [{example!r}]")
    bad = [p for p in prompts if not isinstance(p, str) or not p.strip()]
    if bad:
        raise ConfigError(f"prompts must be non-empty strings; got {bad[:3]!r}")
    return prompts


def _encode_text_prefix(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """CLIP's ``encode_text`` on tokens cut to their used length (positions and causal mask cut to match)."""
    return encode_token_embeddings(model, tokens, model.token_embedding(tokens))


def encode_token_embeddings(model: torch.nn.Module, tokens: torch.Tensor,
                            embeddings: torch.Tensor) -> torch.Tensor:
    """CLIP's ``encode_text`` from given token embeddings (n, L, width), unnormalised.

    ``tokens`` (n, L) only decide where to pool (the end-of-text token, the largest id); L may be shorter than
    77: positions and the causal mask are cut to match, which leaves the features unchanged. Composed retrieval
    passes embeddings with pseudo-word tokens swapped in.
    """
    length = tokens.shape[1]
    x = embeddings.type(model.dtype)
    x = x + model.positional_embedding[:length].type(model.dtype)
    with _causal_mask_of_length(model, length):
        x = model.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
    x = model.ln_final(x).type(model.dtype)
    return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ model.text_projection


@contextlib.contextmanager
def _causal_mask_of_length(model: torch.nn.Module, length: int) -> Iterator[None]:
    """Temporarily give every text block the top-left length×length corner of CLIP's causal mask."""
    blocks = list(model.transformer.resblocks)
    saved = [block.attn_mask for block in blocks]
    try:
        for block, mask in zip(blocks, saved):
            block.attn_mask = mask[:length, :length]
        yield
    finally:
        for block, mask in zip(blocks, saved):
            block.attn_mask = mask


class _ImageFiles(torch.utils.data.Dataset):
    """Decode + preprocess one image file; failures are returned as data so the main process decides."""

    def __init__(self, paths: list[str], preprocess: Callable) -> None:
        self.paths = paths
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str]:
        try:
            return index, self.preprocess(read_rgb(self.paths[index])), ""
        except UnreadableImageError as error:
            return index, None, error.reason
        except Exception as error:  # noqa: BLE001 - any decode failure is reported by name upstream
            return index, None, f"{type(error).__name__}: {error}"


def _collate(items: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """Stack the readable images; keep indices, an ok-mask and failure reasons for all."""
    indices = torch.tensor([i for i, _, _ in items], dtype=torch.long)
    ok = torch.tensor([pixels is not None for _, pixels, _ in items], dtype=torch.bool)
    template = next((p for _, p, _ in items if p is not None), None)
    if template is None:
        pixels = torch.empty(len(items), 0)
    else:
        pixels = torch.stack([p if p is not None else torch.zeros_like(template) for _, p, _ in items])
    return indices, pixels, ok, [reason for _, _, reason in items]
