"""The query features every CIR paper reports beside its method: image-only, text-only and image + text.

One small interface covers these and the mappers (Pic2Word, LinCIR): a *composed method* is any object with a
``name`` and ``query_features(backbone, query_set, image_features) -> (n, d)`` tensor, where ``image_features``
are the raw CLIP features of ``query_set.images`` (rows aligned with it, e.g. ``ic.image_features(...)``).
``query_features(method, ...)`` calls one by object or name and checks what it returns: unit rows, one per query.

A method that ranks in a space of its own (InDiReCT-CIR: one InDiReCT space per notion) also has
``embed_images(backbone, query_set, image_features) -> (m, d')``, the images in that space; its query rows are
then d' wide. ``gallery_features(method, ...)`` gives what the ranking compares the query rows with: that
embedding, or the raw features for every other method (the baselines and the mappers have no such method).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import torch

from ..backbone import Backbone
from .._util.errors import ConfigError
from .queries import QuerySet
from .._util.validation import unit_rows
from .ranking import feature_matrix

CAPTION_JOIN = " and "
"""How a query's several modification texts (FashionIQ's two captions) become one text: joined in the
benchmark's order with " and " (Pic2Word's composed prompt and LinCIR join them the same way)."""


@runtime_checkable
class ComposedMethod(Protocol):
    """What ranking and evaluation need from a composed-retrieval method (baseline or mapper)."""

    name: str

    def query_features(self, backbone: Backbone, query_set: QuerySet, image_features: torch.Tensor
                       ) -> torch.Tensor:
        """(n queries, d) composed query features for ``query_set``; rows need not be normalised."""
        ...


def modification_texts(query_set: QuerySet) -> list[str]:
    """One text per query: its caption, or its captions joined by ``CAPTION_JOIN`` (each stripped)."""
    texts = []
    for index, captions in enumerate(query_set.captions):
        if isinstance(captions, str):
            captions = (captions,)
        parts = [c.strip() for c in captions if isinstance(c, str) and c.strip()]
        if not parts:
            raise ConfigError(f"query {index} of {query_set.name} has no modification text: its captions are "
                              f"{captions!r}")
        texts.append(CAPTION_JOIN.join(parts))
    return texts


def reference_features(query_set: QuerySet, image_features: object) -> torch.Tensor:
    """L2-normalised features (n, d) of each query's reference image."""
    features = feature_matrix(image_features, f"image_features of {query_set.name}", len(query_set.images))
    return unit_rows(features[torch.as_tensor(query_set.reference)], "reference image features")


@dataclass(frozen=True)
class ImageOnly:
    """Image-only: the normalised reference-image feature; the text is ignored."""

    name: ClassVar[str] = "image-only"

    def query_features(self, backbone: Backbone, query_set: QuerySet, image_features: object) -> torch.Tensor:
        """Unit reference-image rows (n, d)."""
        return reference_features(query_set, image_features)


@dataclass(frozen=True)
class TextOnly:
    """Text-only: the normalised CLIP text feature of the modification text alone (no prompt template);
    several captions are joined with " and " (``CAPTION_JOIN``)."""

    name: ClassVar[str] = "text-only"

    def query_features(self, backbone: Backbone, query_set: QuerySet, image_features: object) -> torch.Tensor:
        """Unit text rows (n, d) from ``backbone.encode_texts``."""
        return backbone.encode_texts(modification_texts(query_set))


@dataclass(frozen=True)
class ImageText:
    """Image + text: normalize(normalize(reference image feature) + normalize(text feature))."""

    name: ClassVar[str] = "image + text"

    def query_features(self, backbone: Backbone, query_set: QuerySet, image_features: object) -> torch.Tensor:
        """Unit rows (n, d) of the sum of the image-only and text-only rows."""
        image = ImageOnly().query_features(backbone, query_set, image_features)
        text = TextOnly().query_features(backbone, query_set, image_features)
        return unit_rows(image + text, "image + text query features")


BASELINES: dict[str, ComposedMethod] = {m.name: m for m in (ImageOnly(), TextOnly(), ImageText())}
"""The three baselines by name, in the order papers list them."""


def resolve_method(method: ComposedMethod | str) -> ComposedMethod:
    """A method object, or a baseline looked up by name."""
    if isinstance(method, str):
        if method not in BASELINES:
            raise ConfigError(f"unknown composed-retrieval method {method!r}: use one of {list(BASELINES)} or pass "
                              "an object with a name and query_features(backbone, query_set, image_features)")
        return BASELINES[method]
    if not isinstance(method, ComposedMethod):
        raise ConfigError(f"method {method!r} is not a composed-retrieval method: it needs a name and "
                          "query_features(backbone, query_set, image_features)")
    return method


def gallery_features(method: ComposedMethod | str, backbone: Backbone, query_set: QuerySet,
                     image_features: object) -> torch.Tensor:
    """The image rows the method's queries are ranked against: its ``embed_images`` where it has one (a space of
    its own), else the raw features; float32 (m images, d), checked."""
    resolved = resolve_method(method)
    features = feature_matrix(image_features, f"image_features of {query_set.name}", len(query_set.images))
    embed = getattr(resolved, "embed_images", None)
    if embed is None:
        return features
    return feature_matrix(embed(backbone, query_set, features),
                          f"image embeddings of {resolved.name} on {query_set.name}", len(query_set.images))


def query_features(method: ComposedMethod | str, backbone: Backbone, query_set: QuerySet,
                   image_features: object, gallery: torch.Tensor | None = None) -> torch.Tensor:
    """The method's composed query features for ``query_set``: float32 unit rows (n queries, d), checked.

    ``gallery``: the method's ``gallery_features`` when already computed (their width is checked against)."""
    resolved = resolve_method(method)
    features = feature_matrix(image_features, f"image_features of {query_set.name}", len(query_set.images))
    if gallery is None:
        gallery = gallery_features(resolved, backbone, query_set, features)
    rows = resolved.query_features(backbone, query_set, features)
    rows = feature_matrix(rows, f"query features of {resolved.name} on {query_set.name}", len(query_set))
    if rows.shape[1] != gallery.shape[1]:
        raise ConfigError(f"{resolved.name} returned {rows.shape[1]}-dimensional query features for "
                          f"{gallery.shape[1]}-dimensional image features: use the same backbone for both")
    return unit_rows(rows, f"query features of {resolved.name}")
