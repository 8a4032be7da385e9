"""Loading CLIP backbones: OpenAI CLIP by name, a checkpoint path, the shipped shapes-clip, a random-weight
stand-in, and ``auto``.

Every backbone goes through ``clip.load(name_or_path)``; shapes-clip is a committed state dict checked against its
model card first, random stand-ins are written once as state-dict checkpoints and loaded through that same path, so
tests exercise the real loading code.
"""
from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from urllib.parse import urlparse

import torch

with warnings.catch_warnings():  # clip-anytorch imports the deprecated pkg_resources
    warnings.simplefilter("ignore", UserWarning)
    import clip

from .._util.caveats import SHAPES_CLIP_MARKER, StandInWarning
from .._util.errors import BackboneError, ConfigError
from .._util.torch_files import DAMAGED, OBJECTS, error_summary, read_failure, save_torch_file
from .hashing import sha256_file
from .model import Backbone
from .shipped import SHAPES_CLIP, SHIPPED_DIR, verify_shapes_clip

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
    return save_torch_file(model.state_dict(), path)


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
    if spec == SHAPES_CLIP:
        path = SHIPPED_DIR / f"{SHAPES_CLIP}.pt"
        return spec, path if path.is_file() else None
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

    ``spec``: a CLIP name (``clip.available_models()``), a local checkpoint path, ``"shapes-clip"`` (the CLIP
    trained here on synthetic shapes, shipped with the package), ``"random-tiny"`` / ``"random-vit-b-32"`` (random
    weights, for pipeline checks), or ``"auto"``: ``$INDIRECT_CLIP_CHECKPOINT`` if set, else ViT-B/32 when its
    weights are cached or downloadable, else shapes-clip with one warning (and its caveat on every output).
    """
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"backbone spec must be a non-empty string, got {spec!r}")
    device = _resolve_device(device)
    if spec == "auto":
        return _load_auto(device, cache_dir)
    if spec == SHAPES_CLIP:
        return _load_shapes_clip(device)
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
                        f"CLIP checkpoint, '{SHAPES_CLIP}', {list(RANDOM_ARCHITECTURES)}, or 'auto'")


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
    """ViT-B/32 if it can be had offline or downloaded, else shapes-clip with a warning nobody can miss."""
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
                      f"FALLING BACK TO {SHAPES_CLIP.upper()}: every output is marked "
                      f"'{SHAPES_CLIP_MARKER}'.\n{rule}", StandInWarning, stacklevel=3)
        return _load_shapes_clip(device)


def _load_shapes_clip(device: torch.device) -> Backbone:
    """The shipped shapes-clip, after its sha256 matched its model card."""
    return _load_path(verify_shapes_clip(SHIPPED_DIR), SHAPES_CLIP, device, random_weights=False,
                      caveat=SHAPES_CLIP_MARKER)


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


def _load_path(path: Path, name: str, device: torch.device, random_weights: bool,
               caveat: str | None = None) -> Backbone:
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
            elif name == SHAPES_CLIP:
                fix = "restore it (git checkout) or retrain it with `make shapes-clip`"
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
                    random_weights=random_weights, model=model, preprocess=preprocess, device=device, caveat=caveat)
