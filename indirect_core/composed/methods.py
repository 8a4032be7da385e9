"""Pic2Word and LinCIR as composed-retrieval methods: reference image -> token -> prompt with the caption.

Both implement the ``ComposedMethod`` interface of ``composed.baselines`` (a ``name`` and
``query_features(backbone, query_set, image_features)``), so an evaluation lists them beside image-only,
text-only and image + text. The mapper turns the raw reference-image feature into a token, the token fills the
placeholder of the benchmark's prompt (``COMPOSED_PROMPTS``: templates and caption stripping per method and
benchmark), and the normalised text feature is the query. With several prompt templates (LinCIR on FashionIQ:
both caption orders) the query is the normalised mean of the normalised features.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ..backbone import Backbone
from .._util.errors import ConfigError
from .baselines import CAPTION_JOIN
from .checkpoints import load_mapper
from .encoding import encode_with_pseudo_tokens
from .queries import QuerySet
from .._util.validation import unit_rows
from .ranking import feature_matrix

DEFAULT = "default"
"""The prompt key used for every benchmark without its own row (CIRR, CIRCO, GeneCIS, synthetic-shapes-cir)."""


@dataclass(frozen=True)
class PromptRule:
    """How one method turns a query's caption(s) into prompts on one benchmark."""

    templates: tuple[str, ...]  # one prompt per template; several are averaged (LinCIR on FashionIQ)
    strip: str = ""             # characters stripped from both ends of each caption ("": kept as the file has it)


COMPOSED_PROMPTS: dict[str, dict[str, PromptRule]] = {
    "pic2word": {DEFAULT: PromptRule(("a photo of * , {caption}",)),
                 "fashioniq": PromptRule(("a photo of * , {cap2} and {cap1}",))},
    "lincir": {DEFAULT: PromptRule(("a photo of $ that {caption}",)),
               "fashioniq": PromptRule(("a photo of $ that {cap1} and {cap2}", "a photo of $ that {cap2} and {cap1}"),
                                       strip=".?, ")},
}
"""The published prompts, per method and benchmark (``QuerySet.benchmark``): ``{caption}`` is the query's text
(several joined with " and "), ``{cap1}``/``{cap2}`` FashionIQ's first and second caption. Only LinCIR on
FashionIQ strips its captions (``.strip('.?, ')`` in validate.py); LinCIR on CIRR, CIRCO and GeneCIS and Pic2Word
everywhere put the caption in as the file has it."""
PLACEHOLDERS: dict[str, str] = {"pic2word": "*", "lincir": "$"}
"""The pseudo word each method's prompts hold."""


def prompt_rule(method: str, benchmark: str) -> PromptRule:
    """The prompt rule of ``method`` on ``benchmark`` (its own row, else the method's default)."""
    if method not in COMPOSED_PROMPTS:
        raise ConfigError(f"method={method!r} has no composed prompts: use one of {list(COMPOSED_PROMPTS)}")
    return COMPOSED_PROMPTS[method].get(benchmark, COMPOSED_PROMPTS[method][DEFAULT])


def composed_prompts(method: str, query_set: QuerySet) -> list[list[str]]:
    """The prompts of every query, one list per template of the method on this benchmark."""
    rule = prompt_rule(method, query_set.benchmark)
    two = any("{cap1}" in t or "{cap2}" in t for t in rule.templates)
    per_template: list[list[str]] = [[] for _ in rule.templates]
    for index, captions in enumerate(query_set.captions):
        parts = [c.strip(rule.strip) for c in ((captions,) if isinstance(captions, str) else captions)]
        if not parts:
            raise ConfigError(f"query {index} of {query_set.name} has no caption: give every query its "
                              "modification text")
        fields = {"caption": CAPTION_JOIN.join(parts)}
        if two:
            if len(parts) != 2:
                raise ConfigError(f"query {index} of {query_set.name} has {len(parts)} caption(s); the "
                                  f"{method} prompt for {query_set.benchmark} needs two: {captions!r}")
            fields.update(cap1=parts[0], cap2=parts[1])
        for prompts, template in zip(per_template, rule.templates):
            prompts.append(template.format(**fields))
    return per_template


def mapped_query_features(method: str, mapper: nn.Module, backbone: Backbone, query_set: QuerySet,
                          image_features: object, batch_size: int = 256) -> torch.Tensor:
    """Unit composed query features (n, d): the mapper's token of each reference image in the method's prompts."""
    widths = (getattr(mapper, "embed_dim", None), getattr(mapper, "token_width", None))
    if widths != (backbone.embed_dim, backbone.token_width):
        raise ConfigError(f"the {method} mapper maps {widths[0]}-wide features to {widths[1]}-wide tokens; backbone "
                          f"{backbone.name} needs {backbone.embed_dim} -> {backbone.token_width}: load the mapper "
                          "trained for this backbone")
    features = feature_matrix(image_features, f"image_features of {query_set.name}", len(query_set.images))
    references = features[torch.as_tensor(query_set.reference)]
    parameter = next(mapper.parameters())
    was_training = mapper.training
    mapper.eval()
    try:
        with torch.no_grad():
            tokens = torch.cat([mapper(references[i:i + batch_size].to(parameter.device, parameter.dtype)).cpu()
                                for i in range(0, len(references), batch_size)]).float()
    finally:
        mapper.train(was_training)
    total = None
    for prompts in composed_prompts(method, query_set):
        rows = encode_with_pseudo_tokens(backbone, prompts, tokens, PLACEHOLDERS[method], normalize=True,
                                         batch_size=batch_size)
        total = rows if total is None else total + rows
    return unit_rows(total, f"{method} query features of {query_set.name}")


@dataclass(frozen=True, eq=False)
class MapperMethod:
    """A composed method that puts a mapper's token of the reference image into its method's prompts; the
    subclasses name the method."""

    mapper: nn.Module
    name: str = "mapper"
    method: ClassVar[str] = ""

    def query_features(self, backbone: Backbone, query_set: QuerySet, image_features: object) -> torch.Tensor:
        """Unit composed query rows (n, d)."""
        return mapped_query_features(self.method, self.mapper, backbone, query_set, image_features)


@dataclass(frozen=True, eq=False)
class Pic2Word(MapperMethod):
    """Pic2Word (Saito et al., CVPR 2023): ``a photo of * , {caption}`` with img2text's token at ``*``."""

    name: str = "Pic2Word"
    method: ClassVar[str] = "pic2word"


@dataclass(frozen=True, eq=False)
class LinCIR(MapperMethod):
    """LinCIR (Gu et al., CVPR 2024): ``a photo of $ that {caption}`` with phi's token at every ``$``."""

    name: str = "LinCIR"
    method: ClassVar[str] = "lincir"


METHODS: dict[str, type] = {"pic2word": Pic2Word, "lincir": LinCIR}
"""The composed method class of each mapper's method key."""
MAPPER_METHODS: tuple[str, ...] = tuple(METHODS)
"""The method keys of the mappers ("pic2word", "lincir"), as plans and notebooks name them."""


def method_name(method: str) -> str:
    """The paper's name of a mapper's method key ("pic2word" -> "Pic2Word"), for pages and figures."""
    if method not in METHODS:
        raise ConfigError(f"method={method!r} is not a mapper method: use one of {list(METHODS)}")
    return METHODS[method].name


def mapper_method(path: str | Path, backbone: Backbone, name: str | None = None,
                  method: str | None = None) -> Pic2Word | LinCIR:
    """The composed method of a mapper checkpoint (Pic2Word or LinCIR, official or ours), ready to evaluate;
    with ``method`` given, a checkpoint of the other method is refused."""
    mapper = load_mapper(path, backbone)
    if method is not None and method != mapper.method:
        raise ConfigError(f"mapper checkpoint {path} holds a {mapper.method} network, not {method}: pass the "
                          f"{method} checkpoint")
    cls = METHODS[mapper.method]
    return cls(mapper) if name is None else cls(mapper, name=name)
