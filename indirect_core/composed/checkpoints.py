"""Mapper checkpoints in the published formats, read and written both ways.

- Pic2Word: a dict with ``state_dict_img2text`` (keys prefixed ``module.``, as DistributedDataParallel saves
  them), ``epoch``, ``name`` and, in the released files, the CLIP weights under ``state_dict``;
- LinCIR (and SEARLE): ``{'epoch': step, 'Phi': state_dict}``.

Files written here add one extra key, ``indirect_core``, with our metadata (method, backbone identity, training
settings, step, loss curve and, in training checkpoints, everything a resumed run needs). The official loaders
ignore it. The format is detected from the keys, so a bare state dict of either network loads too.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..backbone import Backbone
from .._util.errors import ConfigError
from .._util.caveats import caveat_of
from .._util.torch_files import DAMAGED, OBJECTS, load_weights, read_failure, save_torch_file
from .mappers import LinCIRPhi, Pic2WordMapper

METADATA_KEY = "indirect_core"
"""Top-level key of our own metadata in a mapper checkpoint."""
METADATA_FORMAT = 1
PIC2WORD_KEY = "state_dict_img2text"
LINCIR_KEY = "Phi"
DDP_PREFIX = "module."

KNOWN_WIDTHS = {(512, 512): "CLIP ViT-B/32 or ViT-B/16", (768, 768): "CLIP ViT-L/14", (1024, 1024): "ViT-H/14",
                (1280, 1280): "ViT-bigG/14"}
"""(image feature width, token width) of common backbones, to name them in width errors."""


@dataclass
class MapperCheckpoint:
    """What a mapper checkpoint holds: the method, the network's state dict (no prefix) and our metadata."""

    method: str                                     # "pic2word" or "lincir"
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    metadata: dict = field(default_factory=dict)    # empty for the official files
    path: Path | None = None

    @property
    def widths(self) -> tuple[int, int]:
        """(image feature width E, token width W) the network maps between."""
        if self.method == "lincir":
            return int(self.state_dict["layers.0.weight"].shape[1]), int(self.state_dict["layers.6.weight"].shape[0])
        return int(self.state_dict["layers.0.0.weight"].shape[1]), int(self.state_dict["fc_out.weight"].shape[0])


def _strip_prefix(state: dict) -> dict:
    """The state dict without DistributedDataParallel's ``module.`` prefix."""
    return {(k[len(DDP_PREFIX):] if k.startswith(DDP_PREFIX) else k): v for k, v in state.items()}


def detect_format(raw: object, where: str) -> tuple[str, dict]:
    """(method, network state dict without prefix) of a loaded checkpoint object, told apart by its keys."""
    if isinstance(raw, dict) and isinstance(raw.get(LINCIR_KEY), dict):
        return "lincir", _strip_prefix(raw[LINCIR_KEY])
    if isinstance(raw, dict) and isinstance(raw.get(PIC2WORD_KEY), dict):
        return "pic2word", _strip_prefix(raw[PIC2WORD_KEY])
    if isinstance(raw, dict) and raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
        state = _strip_prefix(raw)  # a bare state dict of one of the networks
        if "fc_out.weight" in state and "layers.0.0.weight" in state:
            return "pic2word", state
        if {"layers.0.weight", "layers.3.weight", "layers.6.weight"} <= set(state):
            return "lincir", state
    keys = sorted(map(str, raw))[:8] if isinstance(raw, dict) else type(raw).__name__
    raise ConfigError(f"{where} is neither a Pic2Word checkpoint (key {PIC2WORD_KEY!r}) nor a LinCIR/SEARLE "
                      f"checkpoint (key {LINCIR_KEY!r}), nor a bare state dict of either network; it holds {keys}. "
                      "Pass the img2text / phi checkpoint file")


def read_checkpoint(path: str | Path, weights_only: bool = True) -> MapperCheckpoint:
    """Read a Pic2Word or LinCIR checkpoint file (format detected from its keys) onto the CPU.

    ``weights_only=True`` loads tensors, containers and file paths (SEARLE's training checkpoints hold one) and
    refuses other Python objects; pass False only for a file you trust.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"mapper checkpoint {path} does not exist: pass the path of a Pic2Word or LinCIR "
                          "checkpoint (e.g. the output_dir of notebook 06 holds mapper.pt)")
    try:
        raw = load_weights(path) if weights_only else torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - a foreign or corrupt file surfaces as many error types
        failure = read_failure(path, error)
        fix = {DAMAGED: "copy or download it again (a mapper trained here: train it again, e.g. with notebook 06)",
               OBJECTS: "pass a file that holds the network's weights alone (its state dict, saved with "
                        "torch.save by the code that trained it)"}
        raise ConfigError(f"mapper checkpoint {path} {failure.reason}: "
                          f"{fix.get(failure.kind, 'pass a Pic2Word or LinCIR/SEARLE checkpoint file')}") from None
    method, state = detect_format(raw, f"mapper checkpoint {path}")
    state = {k: v.detach().float().contiguous() for k, v in state.items()}
    metadata = raw.get(METADATA_KEY) if isinstance(raw.get(METADATA_KEY), dict) else {}
    return MapperCheckpoint(method=method, state_dict=state, metadata=metadata, path=path)


def build_mapper(checkpoint: MapperCheckpoint) -> nn.Module:
    """The network of a checkpoint with its weights, its shape read from the state dict."""
    state, where = checkpoint.state_dict, f"mapper checkpoint {checkpoint.path or '(in memory)'}"
    settings = checkpoint.metadata.get("settings", {}) if checkpoint.metadata else {}
    try:
        if checkpoint.method == "lincir":
            first = state["layers.0.weight"]
            module: nn.Module = LinCIRPhi(int(first.shape[1]), int(state["layers.6.weight"].shape[0]),
                                          hidden_dim=int(first.shape[0]), dropout=settings.get("dropout", 0.5))
        else:
            blocks = sorted({int(m.group(1)) for k in state if (m := re.fullmatch(r"layers\.(\d+)\.0\.weight", k))})
            first = state["layers.0.0.weight"]
            module = Pic2WordMapper(int(first.shape[1]), int(state["fc_out.weight"].shape[0]),
                                    middle_dim=int(first.shape[0]), n_layer=len(blocks),
                                    dropout=settings.get("dropout", 0.1))
        module.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError, ConfigError) as error:
        raise ConfigError(f"{where}: its {checkpoint.method} weights do not form the published network "
                          f"({type(error).__name__}: {error})") from None
    return module


def _describe_widths(widths: tuple[int, int]) -> str:
    """'768-wide image features to 768-wide tokens (as CLIP ViT-L/14)'."""
    known = KNOWN_WIDTHS.get(widths)
    return f"{widths[0]}-wide image features to {widths[1]}-wide tokens" + (f" (as {known})" if known else "")


def check_backbone_fit(checkpoint: MapperCheckpoint, backbone: Backbone) -> None:
    """Refuse a mapper made for another width; warn when our metadata names another backbone of the same width."""
    widths = checkpoint.widths
    wanted = (backbone.embed_dim, backbone.token_width)
    where = f"mapper checkpoint {checkpoint.path or '(in memory)'}"
    if widths != wanted:
        raise ConfigError(f"{where} maps {_describe_widths(widths)}, but backbone {backbone.name} has "
                          f"{wanted[0]}-wide image features (embed_dim) and {wanted[1]}-wide tokens (token_width): "
                          "load the backbone the mapper was trained for")
    trained_on = checkpoint.metadata.get("backbone") if checkpoint.metadata else None
    if isinstance(trained_on, dict) and trained_on.get("sha256") not in (None, backbone.weights_sha256):
        warnings.warn(f"{where} was trained on backbone {trained_on.get('name')} (sha256 "
                      f"{str(trained_on.get('sha256'))[:12]}…), not on {backbone.name} (sha256 "
                      f"{backbone.weights_sha256[:12]}…): its tokens may mean nothing to this text encoder",
                      UserWarning, stacklevel=3)


def load_mapper(path: str | Path, backbone: Backbone, weights_only: bool = True) -> nn.Module:
    """The mapper of a Pic2Word or LinCIR checkpoint (official or ours), in eval mode on the backbone's device.

    It maps raw ``encode_image`` features (n, E) to tokens (n, W); a checkpoint for another backbone width is
    refused, naming both widths.
    """
    checkpoint = read_checkpoint(path, weights_only=weights_only)
    check_backbone_fit(checkpoint, backbone)
    return build_mapper(checkpoint).to(backbone.device).eval()


def mapper_state(mapper: nn.Module) -> dict[str, torch.Tensor]:
    """The network's weights as CPU float32 copies (the state dict a checkpoint stores)."""
    return {k: v.detach().to("cpu", torch.float32).clone() for k, v in mapper.state_dict().items()}


def checkpoint_object(mapper: nn.Module, metadata: dict | None = None, epoch: int = 0,
                      clip_state_dict: dict | None = None) -> dict[str, Any]:
    """The dict a checkpoint file holds, in the method's published layout plus our ``indirect_core`` key.

    ``clip_state_dict`` (Pic2Word only) adds the CLIP weights under ``state_dict`` as the official training
    script's ``--resume`` expects; the mapper alone needs none.
    """
    method = getattr(mapper, "method", None)
    state = mapper_state(mapper)
    if method == "lincir":
        if clip_state_dict is not None:
            raise ConfigError("clip_state_dict is only stored in Pic2Word checkpoints; LinCIR's holds phi alone")
        obj: dict[str, Any] = {"epoch": int(epoch), LINCIR_KEY: state}
    elif method == "pic2word":
        obj = {"epoch": int(epoch), "name": "indirect_core",
               PIC2WORD_KEY: {DDP_PREFIX + k: v for k, v in state.items()}}
        if clip_state_dict is not None:
            obj["state_dict"] = {DDP_PREFIX + k: v.detach().to("cpu", torch.float32)
                                 for k, v in clip_state_dict.items()}
    else:
        raise ConfigError(f"mapper {type(mapper).__name__} is neither a Pic2WordMapper nor a LinCIRPhi")
    if metadata is not None:
        obj[METADATA_KEY] = {"format": METADATA_FORMAT, "method": method, **metadata}
        backbone = metadata.get("backbone")
        if isinstance(backbone, dict) and caveat_of(backbone):
            obj[METADATA_KEY]["warning"] = caveat_of(backbone)
    return obj


def save_checkpoint_object(obj: dict, path: str | Path) -> Path:
    """Write a checkpoint dict atomically (temp file + rename); return the path."""
    return save_torch_file(obj, path)


def save_mapper(path: str | Path, mapper: nn.Module, metadata: dict | None = None, epoch: int = 0,
                clip_state_dict: dict | None = None) -> Path:
    """Save a mapper in its method's published format (plus our metadata), atomically; return the path."""
    return save_checkpoint_object(checkpoint_object(mapper, metadata, epoch, clip_state_dict), path)
