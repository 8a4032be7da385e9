"""Pic2Word's training (Saito et al., CVPR 2023) on cached image features: no captions needed.

Each step maps a batch of raw image features to tokens, encodes ``a photo of *`` with each token at ``*``
(trimmed to the prompt's 6 tokens: exact), and pulls each image's normalised feature towards its own prompt
feature with CLIP's symmetric contrastive loss at the backbone's own ``logit_scale.exp()``. AdamW (lr 1e-4,
betas 0.9/0.98, eps 1e-6, weight decay 0.1 except biases and norm parameters), cosine schedule with linear
warmup. The features come from the embedding cache, so the published RandomResizedCrop augmentation is not
applied (docs/PROTOCOL.md).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..backbone import Backbone
from .._util.errors import ConfigError
from .encoding import encode_pseudo_batch
from .mappers import Pic2WordMapper
from .tokens import tokenize_prompts
from .._util.validation import as_matrix, check_int
from .training import (CosineWithWarmup, StepCallback, TrainingPlan, TrainingResult, adamw_groups, check_resumable,
                       check_training_settings, run_training)

TRAINING_PROMPT = "a photo of *"
"""The prompt Pic2Word trains with (the official code inserts the token after ``a photo of``: the same ids)."""
MAX_WARMUP = 10_000
"""The published warmup length in steps; shorter runs warm up over a tenth of their steps."""


def no_weight_decay(name: str, parameter: torch.Tensor) -> bool:
    """Pic2Word's exemption from weight decay: biases, norm gains and the logit scale (by name)."""
    return any(part in name for part in ("bias", "bn", "ln", "logit_scale")) or parameter.ndim < 2


def features_sha256(features: torch.Tensor) -> str:
    """Hex sha256 of a feature matrix (shape and float32 bytes): the data identity a resumed run must match."""
    array = np.ascontiguousarray(features.detach().to("cpu", torch.float32).numpy())
    return hashlib.sha256(str(array.shape).encode() + array.tobytes()).hexdigest()


def _check_features(image_features: object, backbone: Backbone) -> torch.Tensor:
    """Raw image features (n, E) of the backbone: a finite float32 matrix (or the cache's ImageFeatures)."""
    features = as_matrix(getattr(image_features, "features", image_features), "image_features")
    if features.shape[1] != backbone.embed_dim:
        raise ConfigError(f"image_features are {features.shape[1]} wide but backbone {backbone.name} embeds into "
                          f"{backbone.embed_dim}: compute them with the same backbone")
    return features


def pic2word_loss(model: torch.nn.Module, mapper: torch.nn.Module, features: torch.Tensor, prompt_ids: torch.Tensor,
                  token_id: int, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric contrastive loss between images and their own ``a photo of *`` features (one batch).

    ``features``: raw image features (B, E); ``prompt_ids``: the prompt's ids (1, L), any L that reaches its
    end-of-text token (trimmed or CLIP's 77).
    """
    images = F.normalize(features.float(), dim=1)
    tokens = mapper(features)
    texts = encode_pseudo_batch(model, prompt_ids.expand(len(features), -1), tokens, token_id).float()
    logits = logit_scale * images @ F.normalize(texts, dim=1).T
    labels = torch.arange(len(features), device=features.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def train_pic2word(backbone: Backbone, image_features: object, steps: int = 1000, batch_size: int = 64,
                   lr: float = 1e-4, weight_decay: float = 0.1, betas: tuple[float, float] = (0.9, 0.98),
                   eps: float = 1e-6, warmup_steps: int | None = None, seed: int = 0, middle_dim: int = 512,
                   n_layer: int = 2, dropout: float = 0.1, trim: bool = True,
                   checkpoint_path: str | Path | None = None, checkpoint_every: int = 500, resume: bool = True,
                   overwrite: bool = False, progress: bool = True,
                   callback: StepCallback | None = None) -> TrainingResult:
    """Train Pic2Word's img2text on raw image features (n, E) of ``backbone``; the backbone stays frozen.

    ``warmup_steps=None`` warms up over min(10000, steps // 10) steps (the published 10000 at full scale).
    With ``checkpoint_path`` a checkpoint is written every ``checkpoint_every`` steps and at the end, and a run
    with the same arguments continues from it (``resume=True``) to the same final weights. ``resume=False`` over
    an existing checkpoint needs ``overwrite=True`` and replaces it only once the new run finishes.
    """
    features = _check_features(image_features, backbone)
    steps, batch_size, seed, lr, weight_decay, eps, betas = check_training_settings(
        steps, batch_size, seed, lr, weight_decay, eps, betas, min_batch_size=2)
    check_resumable(checkpoint_path, resume, "pic2word", backbone, overwrite)
    warmup = max(1, min(MAX_WARMUP, steps // 10)) if warmup_steps is None else \
        check_int("parameter warmup_steps", warmup_steps)
    model, device = backbone.model, backbone.device
    ids, token_id = tokenize_prompts([TRAINING_PROMPT], "*", model.context_length)
    length = int(ids.argmax(dim=1).max()) + 1
    prompt_ids = (ids[:, :length] if trim else ids).to(device)
    logit_scale = model.logit_scale.detach().float().exp()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mapper = Pic2WordMapper(backbone.embed_dim, backbone.token_width, middle_dim, n_layer, dropout)
    on_device = features.to(device)

    def loss(indices: np.ndarray, step: int) -> torch.Tensor:
        return pic2word_loss(model, mapper, on_device[torch.as_tensor(indices, device=device)], prompt_ids,
                             token_id, logit_scale)

    settings = {"method": "pic2word", "n_samples": len(features), "data_sha256": features_sha256(features),
                "steps": steps, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                "betas": list(betas), "eps": eps, "warmup_steps": warmup, "schedule": "cosine", "seed": seed,
                "middle_dim": middle_dim, "n_layer": n_layer, "dropout": dropout, "trim": bool(trim),
                "prompt": TRAINING_PROMPT, "amp": device.type == "cuda"}
    plan = TrainingPlan(method="pic2word", mapper=mapper,
                        parameter_groups=adamw_groups(mapper, weight_decay, no_weight_decay),
                        optimizer_options={"lr": lr, "betas": betas, "eps": eps},
                        schedule=CosineWithWarmup(warmup, steps), loss=loss, n_samples=len(features),
                        batch_size=batch_size, steps=steps, seed=seed, settings=settings)
    return run_training(plan, backbone, checkpoint_path, checkpoint_every, resume, progress, callback, overwrite)
