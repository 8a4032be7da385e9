"""LinCIR's training (Gu et al., CVPR 2024) on text only: phi learns to restore a caption's masked keywords.

Per step and caption: the target t is the unnormalised text feature of the cleaned caption (cached once,
``text_targets``); phi's input is t + U(0,1) * N(0, I) (one scale per caption); the caption with its keywords
masked (``masking``) is encoded with phi's token at every ``$``; the loss is the mean squared error to t.
AdamW (lr 1e-4, weight decay 0.01), constant schedule. The masked ids are cut to the batch's longest row (exact).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..backbone import Backbone
from .._util.errors import ConfigError
from .encoding import encode_pseudo_batch
from .mappers import LinCIRPhi
from .masking import clean_caption, extract_keywords, keyword_tagger, mask_caption, masked_token_ids
from .targets import caption_token_ids, captions_sha256, encode_caption_ids, text_targets
from .tokens import placeholder_id
from .._util.validation import check_number
from .training import (Constant, StepCallback, TrainingPlan, TrainingResult, adamw_groups, check_resumable,
                       check_training_settings, run_training)


def trimmed(ids: torch.Tensor) -> torch.Tensor:
    """Token ids cut after the batch's last end-of-text token (the largest id in each row)."""
    return ids[:, :int(ids.argmax(dim=1).max()) + 1]


def lincir_loss(model: torch.nn.Module, phi: torch.nn.Module, targets: torch.Tensor, masked_ids: torch.Tensor,
                token_id: int, scale: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """MSE between the targets (B, E) and the masked captions encoded with phi(targets + scale * noise) at ``$``.

    ``scale`` (B, 1) ~ U(0, 1) and ``noise`` (B, E) ~ N(0, I) already carry the noise level.
    """
    tokens = phi(targets + scale * noise)
    restored = encode_pseudo_batch(model, masked_ids, tokens, token_id)
    return F.mse_loss(restored.float(), targets.float())


def _check_captions(captions: object) -> list[str]:
    """A non-empty list of strings."""
    if isinstance(captions, str) or not isinstance(captions, Sequence) or not captions:
        raise ConfigError("captions must be a non-empty list of strings (one caption per training sample)")
    bad = [c for c in captions if not isinstance(c, str)]
    if bad:
        raise ConfigError(f"captions must be strings; got {bad[:3]!r}")
    return list(captions)


class MaskedCaptions:
    """The cleaned captions with their keywords (tagged lazily, once per caption) and the masking of a step."""

    def __init__(self, captions: Sequence[str], tagger: str, seed: int) -> None:
        self.cleaned = [clean_caption(c) for c in captions]
        self.tag, self.tagger = keyword_tagger(tagger)
        self.seed = seed
        self._keywords: dict[int, list[str]] = {}

    def keywords(self, indices: Sequence[int]) -> list[list[str]]:
        """The keywords of these captions (tagging those not seen before)."""
        new = [int(i) for i in indices if int(i) not in self._keywords]
        for index, tagged in zip(new, self.tag([self.cleaned[i] for i in new])):
            self._keywords[index] = extract_keywords(tagged)
        return [self._keywords[int(i)] for i in indices]

    def batch(self, indices: Sequence[int], step: int) -> torch.Tensor:
        """Masked token ids (B, 77) of one step; the random-word fallback draws from ``default_rng([seed, step])``."""
        rng = np.random.default_rng([self.seed, step])
        texts = [mask_caption(self.cleaned[int(i)], words, rng)
                 for i, words in zip(indices, self.keywords(indices))]
        return masked_token_ids(texts)[0]


def train_lincir(backbone: Backbone, captions: Sequence[str], steps: int = 1000, batch_size: int = 64,
                 lr: float = 1e-4, weight_decay: float = 0.01, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, noise: float = 1.0, dropout: float = 0.5, hidden_dim: int | None = None,
                 seed: int = 0, tagger: str = "auto", trim: bool = True, cache_targets: bool = True,
                 cache_dir: str | Path | None = None, checkpoint_path: str | Path | None = None,
                 checkpoint_every: int = 500, resume: bool = True, overwrite: bool = False, progress: bool = True,
                 callback: StepCallback | None = None) -> TrainingResult:
    """Train LinCIR's phi on captions alone; the backbone stays frozen.

    ``tagger``: "auto" (spaCy's en_core_web_sm if installed, else the rule-based tagger with a warning),
    "spacy" or "rules". ``cache_targets=False`` recomputes the targets every step (slower, same values).
    With ``checkpoint_path`` a checkpoint is written every ``checkpoint_every`` steps and at the end, and a run
    with the same arguments continues from it (``resume=True``) to the same final weights. ``resume=False`` over
    an existing checkpoint needs ``overwrite=True`` and replaces it only once the new run finishes.
    """
    captions = _check_captions(captions)
    steps, batch_size, seed, lr, weight_decay, eps, betas = check_training_settings(
        steps, batch_size, seed, lr, weight_decay, eps, betas)
    noise = check_number("parameter noise", noise, minimum=0)
    check_resumable(checkpoint_path, resume, "lincir", backbone, overwrite)
    model, device = backbone.model, backbone.device
    data = MaskedCaptions(captions, tagger, seed)
    token_id = placeholder_id("$")
    if cache_targets:
        targets = text_targets(backbone, data.cleaned, cache_dir, progress=progress).to(device)
    else:
        caption_ids = caption_token_ids(data.cleaned)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        phi = LinCIRPhi(backbone.embed_dim, backbone.token_width, hidden_dim, dropout)
    noise_rng = torch.Generator().manual_seed(seed)  # CPU: the same draws on every device

    def loss(indices: np.ndarray, step: int) -> torch.Tensor:
        rows = torch.as_tensor(indices)
        masked = data.batch(indices, step)
        if cache_targets:
            target = targets[rows.to(device)]
        else:
            ids = caption_ids[rows]
            with torch.no_grad():
                target = encode_caption_ids(model, (trimmed(ids) if trim else ids).to(device)).float()
        scale = torch.rand(len(rows), 1, generator=noise_rng)
        gauss = torch.randn(len(rows), target.shape[1], generator=noise_rng)
        masked = (trimmed(masked) if trim else masked).to(device)
        return lincir_loss(model, phi, target, masked, token_id, (noise * scale).to(device), gauss.to(device))

    settings = {"method": "lincir", "n_samples": len(captions), "data_sha256": captions_sha256(captions),
                "steps": steps, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                "betas": list(betas), "eps": eps, "schedule": "constant", "noise": noise, "dropout": dropout,
                "hidden_dim": phi.hidden_dim, "seed": seed, "tagger": data.tagger, "trim": bool(trim),
                "amp": device.type == "cuda"}
    plan = TrainingPlan(method="lincir", mapper=phi,
                        parameter_groups=adamw_groups(phi, weight_decay, lambda name, p: False),
                        optimizer_options={"lr": lr, "betas": betas, "eps": eps}, schedule=Constant(), loss=loss,
                        n_samples=len(captions), batch_size=batch_size, steps=steps, seed=seed, settings=settings,
                        generators={"noise": noise_rng})
    return run_training(plan, backbone, checkpoint_path, checkpoint_every, resume, progress, callback, overwrite)
