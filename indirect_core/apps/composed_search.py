"""Composed search over several saved spaces of one backbone: keep what the reference image shows in some
notions, change others by words (InDiReCT-CIR for your own collection).

``search_composed(spaces, image="ref.jpg", keep=["shape"], change={"object colour": "red"}, k=10)`` returns the
DataFrame ``Space.search`` returns (``rank``, ``path``, ``score``). Each kept space scores an image by its cosine
to the reference in that space, each changed space by its cosine to the text in that space; every part is
z-scored over the collection's images and the parts are summed (``score`` is that sum), the rule of
``composed.notion_composed``, nothing fitted. ``text="..."`` instead of ``change`` routes the text's clauses to
the spaces whose prompts they resemble most; spaces the text does not change are kept unless ``keep`` says which.
Every space must index the same images (e.g. ``notion_spaces(bb, notions, images)``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .._util.errors import ConfigError
from ..composed.notion_spaces import NotionSpace, check_spaces
from ..composed.routing import Route, route
from ..core.index import check_k
from ..core.search import top_k
from .space import Space
from .space_inputs import image_query_feature

CHUNK = 65536
"""Images scored at a time (memory: chunk × the spaces' dimensions)."""


def _as_list(spaces: Sequence[Space] | Mapping[str, Space]) -> list[Space]:
    listed = list(spaces.values()) if isinstance(spaces, Mapping) else list(spaces)
    if not listed:
        raise ConfigError("give at least one space to search")
    bad = [s for s in listed if not isinstance(s, Space)]
    if bad:
        raise ConfigError(f"spaces must be ic.Space objects (Space.load(folder, backbone)), got "
                          f"{type(bad[0]).__name__}")
    first = listed[0]
    for space in listed[1:]:
        if space.backbone["sha256"] != first.backbone["sha256"]:
            raise ConfigError(f"space {space.name!r} uses backbone {space.backbone['name']} "
                              f"({space.backbone['sha256'][:12]}) but space {first.name!r} uses "
                              f"{first.backbone['name']} ({first.backbone['sha256'][:12]}): a composed search needs "
                              "spaces of one backbone")
    return listed


def notion_spaces_of(spaces: Sequence[Space] | Mapping[str, Space]) -> list[NotionSpace]:
    """The spaces as InDiReCT-CIR's notion spaces (their prompts encoded once, for routing)."""
    listed = _as_list(spaces)
    backbone = listed[0]._backbone
    out = []
    for space in listed:
        prompts = tuple(space.prompts)
        features = backbone.encode_texts(list(prompts)) if prompts else torch.zeros(0, backbone.embed_dim)
        out.append(NotionSpace(space.name, prompts, space.model, features, space.solver, space.backbone,
                               word_source=getattr(space._notion, "word_source", "") or ""))
    check_spaces(out)
    return out


def _aligned_rows(spaces: list[Space]) -> tuple[list[str], list[np.ndarray]]:
    """The first space's paths and, per space, the row of each of those images in it (every space must hold
    the same images)."""
    paths = spaces[0].paths
    if not paths:
        raise ConfigError(f"space {spaces[0].name!r} has no images yet: add the same images to every space first")
    rows = []
    for space in spaces:
        position = {p: i for i, p in enumerate(space.paths)}
        missing = [p for p in paths if p not in position]
        extra = len(space) - (len(paths) - len(missing))
        if missing or extra:
            example = missing[0] if missing else next(p for p in space.paths if p not in set(paths))
            raise ConfigError(f"space {space.name!r} does not index the same images as space {spaces[0].name!r} "
                              f"({len(missing)} of its images missing, {extra} others, e.g. {example}): add the "
                              "same images to every space of a composed search")
        rows.append(np.asarray([position[p] for p in paths], dtype=np.int64))
    return paths, rows


def composed_route(spaces: Sequence[Space] | Mapping[str, Space], text: str | None = None,
                   keep: Sequence[str] | None = None, change: Mapping[str, str] | None = None) -> Route:
    """What the query keeps and changes (``route`` over the spaces: explicit keep/change, or the text routed)."""
    notion_spaces = notion_spaces_of(spaces)
    backbone = _as_list(spaces)[0]._backbone
    return route(notion_spaces, backbone, text=text, keep=keep, change=change)


def search_composed(spaces: Sequence[Space] | Mapping[str, Space], image: str | Path | None = None,
                    text: str | None = None, keep: Sequence[str] | None = None,
                    change: Mapping[str, str] | None = None, k: int = 10) -> pd.DataFrame:
    """The ``k`` images that best keep the reference ``image`` in the kept spaces and match the text in the
    changed ones: a DataFrame with ``rank`` (1 = best), ``path`` and ``score`` (the sum of the parts' z-scores),
    best first; ties keep the first space's index order."""
    k = check_k(k)
    listed = _as_list(spaces)
    notion_spaces = notion_spaces_of(listed)
    backbone = listed[0]._backbone
    query = route(notion_spaces, backbone, text=text, keep=keep, change=change)
    if query.keep and image is None:
        raise ConfigError(f"the query keeps {list(query.keep)} of the reference: give image='reference.jpg' (or keep "
                          "nothing: keep=[])")
    paths, rows = _aligned_rows(listed)
    reference = image_query_feature(backbone, image) if query.keep else None
    texts = list(dict.fromkeys(query.change.values()))
    text_features = dict(zip(texts, backbone.encode_texts(texts))) if texts else {}
    total = torch.zeros(len(paths), dtype=torch.float64)
    for space, notion, order in zip(listed, notion_spaces, rows):
        if notion.name in query.change:
            part = notion.embed(text_features[query.change[notion.name]][None])[0]
        elif notion.name in query.keep:
            part = notion.embed(reference)[0]
        else:
            continue
        embeddings = space.embeddings
        scores = torch.cat([torch.from_numpy(embeddings[order[i:i + CHUNK]]).double() @ part.double()
                            for i in range(0, len(order), CHUNK)])
        sigma = scores.std(unbiased=False)
        if sigma > 1e-12:
            total += (scores - scores.mean()) / sigma
    values, ids = top_k(total[None], min(k, len(paths)))
    return pd.DataFrame({"rank": np.arange(1, ids.shape[1] + 1), "path": [paths[i] for i in ids[0].tolist()],
                         "score": values[0].numpy().astype(np.float64)})
