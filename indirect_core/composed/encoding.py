"""Pseudo-word encoding: CLIP's text encoder with a mapped image token in place of every placeholder.

This is what Pic2Word and LinCIR share: the prompt ``a photo of * , is red`` is tokenized, the token embedding
at each ``*`` is replaced by the row of ``tokens`` that a mapper made from the reference image, and the sequence
runs through CLIP's text transformer as usual. The context is cut to the longest prompt of each batch (exact:
the mask is causal and pooling is at the end-of-text token), as ``Backbone.encode_texts`` does.
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import torch

from ..backbone import Backbone, encode_token_embeddings
from .._util.errors import ConfigError
from .tokens import tokenize_prompts


def encode_with_pseudo_tokens(backbone: Backbone, prompts: Sequence[str], tokens: torch.Tensor,
                              placeholder: str = "*", normalize: bool = True,
                              batch_size: int = 256) -> torch.Tensor:
    """Text features (n, d) float32 of ``prompts`` with row i of ``tokens`` (n, width) at prompt i's placeholders.

    Rows are L2-normalised unless ``normalize=False`` (LinCIR's loss compares unnormalised features). When
    ``tokens`` requires grad (and grad mode is on), gradients flow back to it; otherwise no graph is built.
    """
    ids, token_id = tokenize_prompts(prompts, placeholder, backbone.model.context_length)
    tokens = _check_tokens(tokens, len(ids), backbone.token_width)
    model = backbone.model
    track = tokens.requires_grad and torch.is_grad_enabled()
    outputs = []
    with contextlib.nullcontext() if track else torch.no_grad():
        for start in range(0, len(ids), batch_size):
            batch = ids[start:start + batch_size]
            length = int(batch.argmax(dim=1).max()) + 1  # the end-of-text token has the largest id
            batch = batch[:, :length].to(backbone.device)
            rows = tokens[start:start + batch_size].to(device=backbone.device)
            outputs.append(encode_pseudo_batch(model, batch, rows, token_id).float())
    features = torch.cat(outputs)
    if normalize:
        features = features / features.norm(dim=1, keepdim=True)
    return features if track else features.cpu()


def encode_pseudo_batch(model: torch.nn.Module, ids: torch.Tensor, tokens: torch.Tensor,
                        token_id: int) -> torch.Tensor:
    """Unnormalised features of one batch of token ids (n, L) whose ``token_id`` positions take ``tokens`` (n, width)."""
    embeddings = model.token_embedding(ids).type(model.dtype)
    where = (ids == token_id).unsqueeze(-1)
    embeddings = torch.where(where, tokens.type(model.dtype).unsqueeze(1), embeddings)
    return encode_token_embeddings(model, ids, embeddings)


def _check_tokens(tokens: object, n: int, width: int) -> torch.Tensor:
    """``tokens`` must be a float tensor (n, width): one pseudo-word embedding per prompt."""
    if not isinstance(tokens, torch.Tensor):
        raise ConfigError(f"tokens must be a torch.Tensor of shape ({n}, {width}), got {type(tokens).__name__}")
    if tokens.ndim != 2 or tokens.shape != (n, width):
        raise ConfigError(f"tokens has shape {tuple(tokens.shape)}; expected ({n}, {width}): one row per prompt, "
                          f"as wide as the backbone's token embeddings ({width})")
    if not tokens.is_floating_point():
        raise ConfigError(f"tokens must be floating point, got {tokens.dtype}")
    if not torch.isfinite(tokens.detach()).all():
        raise ConfigError("tokens holds NaN or infinite values: check the mapper's input features")
    return tokens
