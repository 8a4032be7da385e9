"""The two mapping networks that turn a raw CLIP image feature into one pseudo-word token.

Both take the unnormalised ``encode_image`` output (n, E) and return tokens (n, W) as wide as CLIP's token
embeddings. Their submodules are laid out as in the published code, so ``state_dict()`` keys equal those of the
released checkpoints and weights load both ways (``composed.checkpoints``):

- Pic2Word's img2text: ``layers.{i}.0`` (Linear) blocks of Linear -> Dropout -> ReLU, then ``fc_out`` (Linear);
- LinCIR's phi (the same network as SEARLE's): ``layers.0/3/6`` of
  Linear(E, 4E) -> GELU -> Dropout -> Linear(4E, 4E) -> GELU -> Dropout -> Linear(4E, W).
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from .._util.errors import ConfigError
from .._util.validation import check_int, check_number


def _check_width(name: str, value: object) -> int:
    """A layer width: a positive integer."""
    return check_int(name, value, hint="a layer width")


def _check_dropout(value: object) -> float:
    """A dropout probability in [0, 1)."""
    return check_number("dropout", value, minimum=0, below=1, hint="a probability")


class Pic2WordMapper(nn.Module):
    """Pic2Word's img2text network (Saito et al., CVPR 2023): image feature -> the token that fills ``*``.

    ``n_layer`` blocks of Linear -> Dropout -> ReLU (dropout before the activation, as published), the first from
    ``embed_dim`` to ``middle_dim`` and the rest ``middle_dim`` wide, then a Linear ``fc_out`` to the token width.
    """

    method: ClassVar[str] = "pic2word"

    def __init__(self, embed_dim: int, token_width: int, middle_dim: int = 512, n_layer: int = 2,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.embed_dim = _check_width("embed_dim", embed_dim)
        self.token_width = _check_width("token_width", token_width)
        self.middle_dim = _check_width("middle_dim", middle_dim)
        self.n_layer = _check_width("n_layer", n_layer)
        self.dropout = _check_dropout(dropout)
        widths = [embed_dim] + [middle_dim] * n_layer
        self.layers = nn.Sequential(*[
            nn.Sequential(nn.Linear(widths[i], widths[i + 1]), nn.Dropout(self.dropout), nn.ReLU())
            for i in range(n_layer)])
        self.fc_out = nn.Linear(middle_dim, token_width)

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        """Tokens (n, token_width) from raw image features (n, embed_dim)."""
        return self.fc_out(self.layers(image_features))


class LinCIRPhi(nn.Module):
    """LinCIR's phi (Gu et al., CVPR 2024; SEARLE's network): feature -> the token that fills every ``$``.

    Trained on text features (the noised text feature of a caption), applied to image features at query time;
    ``hidden_dim`` defaults to 4 x ``embed_dim`` as published, ``dropout`` to 0.5.
    """

    method: ClassVar[str] = "lincir"

    def __init__(self, embed_dim: int, token_width: int, hidden_dim: int | None = None,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.embed_dim = _check_width("embed_dim", embed_dim)
        self.token_width = _check_width("token_width", token_width)
        self.hidden_dim = _check_width("hidden_dim", 4 * embed_dim if hidden_dim is None else hidden_dim)
        self.dropout = _check_dropout(dropout)
        self.layers = nn.Sequential(
            nn.Linear(embed_dim, self.hidden_dim), nn.GELU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden_dim, self.hidden_dim), nn.GELU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden_dim, token_width))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Tokens (n, token_width) from raw features (n, embed_dim)."""
        return self.layers(features)


MAPPERS: dict[str, type[nn.Module]] = {"pic2word": Pic2WordMapper, "lincir": LinCIRPhi}
"""The mapper class of each method key."""


def make_mapper(method: str, embed_dim: int, token_width: int, **options: object) -> nn.Module:
    """A freshly initialised mapper of ``method`` ("pic2word" or "lincir") for these widths."""
    if method not in MAPPERS:
        raise ConfigError(f"method={method!r} is not a mapper: use one of {list(MAPPERS)}")
    try:
        return MAPPERS[method](embed_dim, token_width, **options)
    except TypeError as error:  # an option the class does not take
        raise ConfigError(f"mapper {method!r}: {error}") from None
