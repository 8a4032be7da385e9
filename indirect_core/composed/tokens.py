"""Placeholder tokens of composed prompts: their BPE id, looked up through CLIP's tokenizer, and tokenization
that refuses a prompt whose placeholder is missing or cut off.

Pic2Word writes its pseudo word as ``*``, LinCIR and SEARLE as ``$``; both are single BPE tokens when surrounded by
spaces ("a photo of * , red"). Ids are never hard-coded: another tokenizer gives other ids.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import torch

with warnings.catch_warnings():  # clip-anytorch imports the deprecated pkg_resources
    warnings.simplefilter("ignore", UserWarning)
    import clip

from ..backbone import check_prompts
from .._util.errors import ConfigError

CONTEXT_LENGTH = 77
"""CLIP's text context, start and end tokens included."""


def placeholder_id(placeholder: str = "*") -> int:
    """The BPE id of ``placeholder``; it must tokenize to exactly one token (e.g. ``*`` or ``$``)."""
    if not isinstance(placeholder, str) or not placeholder.strip() or placeholder != placeholder.strip():
        raise ConfigError(f"placeholder={placeholder!r} must be a non-empty string without spaces, e.g. '*' or '$'")
    ids = clip.tokenize([placeholder])[0]
    used = ids[1:int(ids.argmax())]  # between the start and the end-of-text token
    if len(used) != 1:
        raise ConfigError(f"placeholder={placeholder!r} is {len(used)} BPE tokens, not one: use a single "
                          "symbol such as '*' or '$'")
    return int(used[0])


def tokenize_prompts(prompts: Sequence[str], placeholder: str = "*",
                     context_length: int = CONTEXT_LENGTH) -> tuple[torch.Tensor, int]:
    """Token ids (n, context_length) of prompts that each hold the placeholder, and the placeholder's id.

    A prompt longer than the context is cut (as CLIP's ``truncate=True``) only if its placeholder survives; a
    prompt without the placeholder, or whose placeholder the cut removes, is an error naming the prompt.
    """
    prompts = check_prompts(prompts, example=f"a photo of {placeholder} , is red")
    token = placeholder_id(placeholder)
    ids = clip.tokenize(prompts, context_length=context_length, truncate=True)
    missing = (ids == token).sum(dim=1) == 0
    if missing.any():
        index = int(missing.nonzero()[0, 0])
        prompt = prompts[index]
        shown = prompt if len(prompt) <= 120 else prompt[:100] + " … " + prompt[-15:]
        full = clip.tokenize([prompt], context_length=10 * context_length, truncate=True)[0]
        if (full == token).any():
            why = (f"its placeholder {placeholder!r} lies beyond CLIP's {context_length} tokens and is cut off: "
                   "shorten the text or move the placeholder to the front")
        else:
            why = (f"it has no placeholder {placeholder!r} as a token of its own: write it with spaces around "
                   f"it, e.g. 'a photo of {placeholder} , {{text}}' (neighbouring punctuation merges into it)")
        raise ConfigError(f"composed prompt {index} {shown!r}: {why}")
    return ids, token
