"""CLIP backbones: load OpenAI CLIP by name, path, or as a random-weight stand-in, and embed texts and images.

Every backbone goes through ``clip.load(name_or_path)``; random stand-ins are written once as state-dict
checkpoints and loaded through that same path, so tests exercise the real loading code.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image

with warnings.catch_warnings():  # clip-anytorch imports the deprecated pkg_resources
    warnings.simplefilter("ignore", UserWarning)
    import clip

from .atomic import atomic_path
from .errors import BackboneError, ConfigError, DatasetError, UnreadableImageError
from .images import read_rgb
from .naming import slug
from .progress import progress_bar
from .random_weights import RANDOM_WEIGHTS_MARKER, RandomWeightsWarning
from .torch_files import DAMAGED, OBJECTS, error_summary, read_failure


# Architectures of the random-weight stand-ins: clip.model.CLIP constructor arguments.
RANDOM_ARCHITECTURES: dict[str, dict] = {
    # Small and fast: widths are multiples of 64 (clip derives head counts as width // 64), real BPE vocabulary.
    "random-tiny": dict(embed_dim=512, image_resolution=224, vision_layers=2, vision_width=64,
                        vision_patch_size=32, context_length=77, vocab_size=49408,
                        transformer_width=64, transformer_heads=1, transformer_layers=2),
    # The ViT-B/32 architecture with random weights, for throughput benchmarks.
    "random-vit-b-32": dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                            vision_patch_size=32, context_length=77, vocab_size=49408,
                            transformer_width=512, transformer_heads=8, transformer_layers=12),
}
RANDOM_SEED = 0
DEFAULT_AUTO_MODEL = "ViT-B/32"


def default_cache_dir() -> Path:
    """The project's cache folder: ``$INDIRECT_CACHE_DIR`` or ``data/cache`` under the working directory."""
    return Path(os.environ.get("INDIRECT_CACHE_DIR", "data/cache"))


def clip_download_root() -> Path:
    """Where OpenAI CLIP keeps downloaded weights: ``$INDIRECT_CLIP_DIR`` or ``~/.cache/clip``."""
    return Path(os.environ.get("INDIRECT_CLIP_DIR", Path.home() / ".cache" / "clip"))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes (the weights part of a backbone's identity); remembered per file version."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, chunk)


@functools.lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int, chunk: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


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

    @property
    def embed_dim(self) -> int:
        """Dimension of CLIP's joint embedding space (512 for ViT-B/32)."""
        return int(self.model.text_projection.shape[1])

    @property
    def token_width(self) -> int:
        """Width of CLIP's token embeddings (the text transformer's width): the size of a pseudo-word token."""
        return int(self.model.token_embedding.weight.shape[1])

    def identity(self) -> dict:
        """What identifies the features this backbone produces: used in cache keys and provenance."""
        return {"name": self.name, "sha256": self.weights_sha256, "random_weights": self.random_weights,
                "embed_dim": self.embed_dim}

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
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} must be a positive integer")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ConfigError(f"num_workers={num_workers!r} must be a non-negative integer")
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


def random_clip_checkpoint(architecture: str = "random-tiny", cache_dir: Path | None = None,
                           seed: int = RANDOM_SEED) -> Path:
    """Build a randomly initialised ``clip.model.CLIP`` with a fixed seed and save its state dict once.

    Returns the checkpoint path; an existing file is reused, a new one is written atomically.
    """
    if architecture not in RANDOM_ARCHITECTURES:
        raise ConfigError(f"unknown random architecture {architecture!r}; use one of {list(RANDOM_ARCHITECTURES)}")
    path = _random_checkpoint_path(architecture, cache_dir, seed)
    if path.is_file():
        return path
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = clip.model.CLIP(**RANDOM_ARCHITECTURES[architecture])
    clip.model.convert_weights(model)  # store fp16 like OpenAI's checkpoints
    buffer = io.BytesIO()  # saved via a buffer: torch.save names the archive after the file, which is a temp name
    torch.save(model.state_dict(), buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return path


def _random_checkpoint_path(architecture: str, cache_dir: Path | None, seed: int) -> Path:
    """Where the random stand-in's checkpoint is (or will be) written."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / "backbones" / f"{architecture}-seed{seed}.pt"


def spec_weights(spec: str, cache_dir: Path | None = None) -> tuple[str, Path | None]:
    """The name and the local weights file ``load_backbone(spec)`` would load, found without building, loading
    or downloading anything; the file is None when loading would first have to build or download it."""
    if spec == "auto":
        override = os.environ.get("INDIRECT_CLIP_CHECKPOINT")
        if override:
            path = Path(override).expanduser()
            return path.name, path if path.is_file() else None
        default = clip_download_root() / os.path.basename(clip.clip._MODELS[DEFAULT_AUTO_MODEL])
        return (DEFAULT_AUTO_MODEL, default) if default.is_file() else (spec, None)
    if spec in RANDOM_ARCHITECTURES:
        path = _random_checkpoint_path(spec, cache_dir, RANDOM_SEED)
        return spec, path if path.is_file() else None
    if spec in clip.available_models():
        path = clip_download_root() / os.path.basename(clip.clip._MODELS[spec])
        return spec, path if path.is_file() else None
    path = Path(spec).expanduser()
    return (path.name, path) if path.is_file() else (spec, None)


def load_backbone(spec: str = "auto", device: str = "cpu", cache_dir: Path | None = None) -> Backbone:
    """Load a CLIP backbone.

    ``spec``: a CLIP name (``clip.available_models()``), a local checkpoint path, ``"random-tiny"`` /
    ``"random-vit-b-32"`` (random weights, for pipeline checks), or ``"auto"``: ``$INDIRECT_CLIP_CHECKPOINT``
    if set, else ViT-B/32 when its weights are cached or downloadable, else random-tiny with a loud warning.
    """
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"backbone spec must be a non-empty string, got {spec!r}")
    device = _resolve_device(device)
    if spec == "auto":
        return _load_auto(device, cache_dir)
    if spec in RANDOM_ARCHITECTURES:
        path = random_clip_checkpoint(spec, cache_dir)
        return _load_path(path, spec, device, random_weights=True)
    if spec in clip.available_models():
        return _load_path(_named_weights(spec), spec, device, random_weights=False)
    if Path(spec).expanduser().is_file():
        path = Path(spec).expanduser()
        return _load_path(path, path.name, device, random_weights=False)
    if spec.endswith((".pt", ".pth", ".bin")) or spec.startswith(("/", "./", "../", "~")):
        raise BackboneError(f"checkpoint file {spec} does not exist: check the path")
    raise BackboneError(f"unknown backbone {spec!r}: use one of {clip.available_models()}, a path to a "
                        f"CLIP checkpoint, {list(RANDOM_ARCHITECTURES)}, or 'auto'")


def _resolve_device(device: str) -> torch.device:
    """Validate the device string early, with a message instead of a deep CUDA error."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device={device!r} is not a torch device: use 'cpu' or 'cuda'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} but no CUDA GPU is available here: use device='cpu'")
    return resolved


def _load_auto(device: torch.device, cache_dir: Path | None) -> Backbone:
    """ViT-B/32 if it can be had offline or downloaded, else random-tiny with a warning nobody can miss."""
    override = os.environ.get("INDIRECT_CLIP_CHECKPOINT")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise BackboneError(f"INDIRECT_CLIP_CHECKPOINT={override} does not exist: fix the path or unset it")
        return _load_path(path, path.name, device, random_weights=False)
    try:
        return _load_path(_named_weights(DEFAULT_AUTO_MODEL), DEFAULT_AUTO_MODEL, device, random_weights=False)
    except BackboneError as why:
        rule = "!" * 78
        warnings.warn(f"\n{rule}\nbackbone 'auto': CLIP {DEFAULT_AUTO_MODEL} weights are not available ({why})\n"
                      f"FALLING BACK TO RANDOM WEIGHTS (random-tiny): every output is marked "
                      f"'{RANDOM_WEIGHTS_MARKER}'.\n{rule}", RandomWeightsWarning, stacklevel=3)
        return _load_path(random_clip_checkpoint("random-tiny", cache_dir), "random-tiny", device,
                          random_weights=True)


def _named_weights(name: str) -> Path:
    """Local path of OpenAI weights for a CLIP name, downloading only when the host is reachable."""
    url = clip.clip._MODELS[name]
    root = clip_download_root()
    target = root / os.path.basename(url)
    if target.is_file():
        return target
    host = urlparse(url).hostname
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError as error:
        raise BackboneError(
            f"CLIP {name} weights are not in {root} and cannot be downloaded here ({error}). On a machine with "
            f"internet run `python -c \"import clip; clip.load('{name}')\"`, then copy {target.name} to {target} "
            f"(or set INDIRECT_CLIP_DIR to its folder, or pass the file's path as the backbone)") from None
    try:
        return Path(clip.clip._download(url, str(root)))
    except Exception as error:  # noqa: BLE001 - network/checksum failures all mean the same to the user
        raise BackboneError(f"downloading CLIP {name} to {root} failed: {error}. Retry, or copy the file "
                            f"{target.name} there by hand") from None


def _load_path(path: Path, name: str, device: torch.device, random_weights: bool) -> Backbone:
    """The one loading path: ``clip.load`` on a local file (JIT archive or state dict)."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.load deprecation inside clip.load
            model, preprocess = clip.load(str(path), device=str(device), jit=False)
    except Exception as error:  # noqa: BLE001 - a corrupt or foreign file surfaces as many error types
        failure = read_failure(path, error)
        if failure.kind == DAMAGED:
            if random_weights:
                fix = "delete it; the next load writes it again"
            elif name in clip.available_models():
                fix = (f"delete it and load {name} again where its download host is reachable, or copy a good "
                       f"{path.name} there from another machine")
            else:
                fix = "copy or download it again"
            raise BackboneError(f"CLIP checkpoint {path} {failure.reason}: {fix}") from None
        why = failure.reason if failure.kind == OBJECTS else error_summary(error)
        raise BackboneError(f"cannot load CLIP checkpoint {path} ({why}): the file must be an OpenAI CLIP "
                            "checkpoint (JIT archive or state dict)") from None
    model.eval()
    return Backbone(name=name, weights_path=Path(path), weights_sha256=sha256_file(Path(path)),
                    random_weights=random_weights, model=model, preprocess=preprocess, device=device)
