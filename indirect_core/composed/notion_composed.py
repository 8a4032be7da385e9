"""InDiReCT-CIR (method key ``notion-composed``): composed retrieval notion by notion, in InDiReCT's spaces.

A composed query keeps some notions of the reference image and changes others by words ("the same shape, but
red"). Each notion has its own InDiReCT space, fitted on the notion's prompts only (``fit_notion_spaces``: the
authors' procedure ``indirect`` by default, the solver recorded); no training image and no mapper.

**Routing** (which notions does the text change?) is a rule fixed before anything was measured: each clause of
the text goes to the notion whose prompts it most resembles, every other notion is kept (``routing``).

**Scoring**, fixed in the code, nothing fitted: an image g has a unit embedding u_n(g) in every notion space n.
For a kept notion the query's part is q_n = u_n(reference), for a changed one q_n = the notion's embedding of
the CLIP text feature of its text; a notion neither kept nor changed has no part. The score of g is the sum
over the parts of the z-scored cosine, z_n(g) = (q_n·u_n(g) − μ_n) / σ_n, where μ_n and σ_n are the mean and
standard deviation of q_n·u_n(g) over the query set's images (σ_n² = q_nᵀ Σ_n q_n, with Σ_n the covariance of
the u_n over those images: exact, no pass over the images per query). Because μ_n does not change the ranking,
the method is one linear form that the shared ranking and metrics use unchanged (``embed_images`` and
``query_features``): the image side is the concatenation of the u_n(g) (norm √N for every image with non-zero
embeddings), the query side the concatenation of q_n / σ_n; cosine ranking in that space ranks by Σ_n z_n(g).
A part whose σ_n is 0 (every image scores the same) gets no weight.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..backbone import Backbone
from .._util.errors import ConfigError
from .evaluate import changed_groups
from .queries import QuerySet
from .notion_spaces import NotionSpace, check_spaces
from .routing import ROUTINGS, Route, encode, query_routes
from .ranking import feature_matrix
KEY = "notion-composed"
"""The method key plans and notebooks name."""
DISPLAY_NAME = "InDiReCT-CIR"
"""The method's name in tables and figures (the oracle-routing variant: ``ORACLE_NAME``)."""
ORACLE_NAME = "InDiReCT-CIR (oracle routing)"


def part_statistics(embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (k,) and population covariance (k, k) of one notion's image embeddings, in float64."""
    rows = embeddings.double()
    mean = rows.mean(dim=0)
    centred = rows - mean
    return mean, centred.T @ centred / len(rows)


def part_weights(parts: torch.Tensor, covariance: torch.Tensor) -> torch.Tensor:
    """1/σ per query row of one part (0 where the part is absent or σ is 0): σ² = qᵀ Σ q is the variance over the
    images of the part's cosine."""
    variance = ((parts.double() @ covariance) * parts.double()).sum(dim=1).clamp(min=0)
    sigma = variance.sqrt()
    return torch.where(sigma > 1e-12, 1.0 / sigma.clamp(min=1e-12), torch.zeros_like(sigma)).float()


def compose(routes: Sequence[Route], spaces: Sequence[NotionSpace], reference_parts: Sequence[torch.Tensor],
            text_parts: Mapping[str, Mapping[str, torch.Tensor]], covariances: Sequence[torch.Tensor]
            ) -> torch.Tensor:
    """The linear form's query rows (n, Σk): per notion, q_n / σ_n (zeros where the notion has no part).

    ``reference_parts[n]``: the references' unit embeddings in notion n (n_queries, k_n); ``text_parts[name]``:
    text -> its unit embedding in that notion; ``covariances[n]``: Σ_n over the images."""
    blocks = []
    for index, space in enumerate(spaces):
        parts = torch.zeros_like(reference_parts[index])
        for row, query in enumerate(routes):
            if space.name in query.change:
                parts[row] = text_parts[space.name][query.change[space.name]]
            elif space.name in query.keep:
                parts[row] = reference_parts[index][row]
        blocks.append(parts * part_weights(parts, covariances[index])[:, None])
    return torch.cat(blocks, dim=1)


def text_embeddings(spaces: Sequence[NotionSpace], backbone: Backbone, routes: Sequence[Route],
                    encoded: dict[str, torch.Tensor] | None = None) -> dict[str, dict[str, torch.Tensor]]:
    """Each changed notion's texts embedded in its space (each distinct text encoded once, ``encode``)."""
    texts = list(dict.fromkeys(t for r in routes for t in r.change.values()))
    features = dict(zip(texts, encode(backbone, texts, encoded))) if texts else {}
    out: dict[str, dict[str, torch.Tensor]] = {}
    for space in spaces:
        mine = list(dict.fromkeys(r.change[space.name] for r in routes if space.name in r.change))
        if mine:
            out[space.name] = dict(zip(mine, space.embed(torch.stack([features[t] for t in mine]))))
    return out


def explicit_scores(routes: Sequence[Route], spaces: Sequence[NotionSpace], image_parts: Sequence[torch.Tensor],
                    reference_parts: Sequence[torch.Tensor], text_parts: Mapping[str, Mapping[str, torch.Tensor]]
                    ) -> torch.Tensor:
    """(n queries, m images) Σ_n z_n written out (cosine per part, minus its mean over the images, over its
    standard deviation over the images): what the linear form ranks by, for checking and explaining."""
    total = torch.zeros(len(routes), len(image_parts[0]), dtype=torch.float64)
    for index, space in enumerate(spaces):
        for row, query in enumerate(routes):
            if space.name in query.change:
                q = text_parts[space.name][query.change[space.name]]
            elif space.name in query.keep:
                q = reference_parts[index][row]
            else:
                continue
            cosine = image_parts[index].double() @ q.double()
            sigma = cosine.std(unbiased=False)
            if sigma > 1e-12:
                total[row] += (cosine - cosine.mean()) / sigma
    return total


@dataclass(frozen=True, eq=False)
class NotionComposed:
    """InDiReCT-CIR as a composed method (the ``ComposedMethod`` interface with its own image space): spaces
    fitted on prompts only, routing ``auto`` or ``oracle``, scoring by the sum of z-scored similarities."""

    spaces: tuple[NotionSpace, ...]
    routing: str = "auto"
    name: str = ""
    key: ClassVar[str] = KEY

    def __post_init__(self) -> None:
        object.__setattr__(self, "spaces", check_spaces(self.spaces))
        if self.routing not in ROUTINGS:
            raise ConfigError(f"routing={self.routing!r} must be one of {list(ROUTINGS)}")
        if not self.name:
            object.__setattr__(self, "name", ORACLE_NAME if self.routing == "oracle" else DISPLAY_NAME)
        object.__setattr__(self, "_cache", {})

    @property
    def solver(self) -> str:
        """The solver(s) the spaces were fitted with (model keys)."""
        return "+".join(dict.fromkeys(s.solver for s in self.spaces))

    def describe(self) -> pd.DataFrame:
        """One row per notion space: its prompts (first three and how many), word source, solver, dimensions."""
        return pd.DataFrame([{"notion": s.name, "factor": s.factor or "", "prompts": len(s.prompts),
                              "first prompts": " | ".join(s.prompts[:3]), "words": s.word_source,
                              "solver": s.solver_name, "dimensions": s.n_components}
                             for s in self.spaces])

    def _parts(self, image_features: Any, query_set_name: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The images' unit embeddings in every notion space and their covariances (computed once per image
        feature tensor, like an index: what every query on those images shares)."""
        features = feature_matrix(image_features, f"image_features of {query_set_name}")
        # The cache holds the tensor it was computed from, so its memory cannot be reused by another tensor
        # while the key (address, shape, strides, in-place version) stands for it.
        key = (features.data_ptr(), tuple(features.shape), features.stride(), features._version)
        cache = self.__dict__["_cache"]
        if cache.get("key") != key:
            cache.clear()
            self._check_backbone(image_features)
            parts = [s.embed(features) for s in self.spaces]
            cache.update(key=key, source=features, value=(parts, [part_statistics(p)[1] for p in parts]))
        return cache["value"]

    def _check_backbone(self, image_features: Any) -> None:
        other = getattr(image_features, "backbone", None)
        own = self.spaces[0].backbone
        if isinstance(other, dict) and other.get("sha256") != own.get("sha256"):
            raise ConfigError(f"the image features come from backbone {other.get('name')} but the notion spaces of "
                              f"{self.name} from {own.get('name')}: use one backbone for both")

    def embed_images(self, backbone: Backbone, query_set: QuerySet, image_features: Any) -> torch.Tensor:
        """(m, Σk) the images in the method's space: the concatenation of their unit embeddings per notion."""
        self._check_backbone_of(backbone)
        return torch.cat(self._parts(image_features, query_set.name)[0], dim=1)

    def applicable(self, query_set: QuerySet) -> str | None:
        """Why this method cannot run on ``query_set`` (oracle routing without recorded changed factors), or None."""
        if self.routing == "oracle" and (query_set.benchmark == "genecis" or "changed" not in query_set.info.columns):
            return f"{self.name} needs the changed factors each query records, which {query_set.name} does not have"
        return None

    def prompt_table(self, query_set: QuerySet | None = None) -> pd.DataFrame:
        """What the method's spaces are made of, one row per notion: solver, prompts (how many, the first three),
        where the words come from and, on ``query_set``, how many prompt words equal an evaluation label (its
        images' label column of the notion's factor) or, on GeneCIS, a condition word of the task."""
        table = self.describe()
        if query_set is None:
            return table
        overlap = []
        conditions = {" ".join(t.lower().split()) for c in query_set.captions
                      for t in ((c,) if isinstance(c, str) else c)} if query_set.benchmark == "genecis" else set()
        for space in self.spaces:
            words = {" ".join(w.lower().split()) for w in space.words}
            labels = query_set.images.labels
            if conditions:
                shared = sorted(words & conditions)
                overlap.append(f"{len(shared)} of {len(conditions)} condition words of the task are prompt words"
                               + (f" ({', '.join(shared[:5])}{', ...' if len(shared) > 5 else ''})" if shared else ""))
            elif space.factor and space.factor in labels.columns:
                values = {" ".join(str(v).lower().split()) for v in labels[space.factor]}
                shared = sorted(words & values)
                overlap.append(f"{len(shared)} of {len(space.words)} prompt words equal an evaluation label "
                               f"({len(shared)} of {len(values)} labels)")
            else:
                overlap.append("")
        table["overlap"] = overlap
        return table

    def routes(self, backbone: Backbone, query_set: QuerySet) -> list[Route]:
        """Every query's route (what is kept, what is changed by which text)."""
        return query_routes(self.spaces, backbone, query_set, self.routing)

    def query_features(self, backbone: Backbone, query_set: QuerySet, image_features: Any) -> torch.Tensor:
        """(n, Σk) query rows of the linear form: per notion q_n / σ_n."""
        self._check_backbone_of(backbone)
        parts, covariances = self._parts(image_features, query_set.name)
        encoded: dict[str, torch.Tensor] = {}
        routes = query_routes(self.spaces, backbone, query_set, self.routing, encoded)
        reference = torch.as_tensor(query_set.reference)
        return compose(routes, self.spaces, [p[reference] for p in parts],
                       text_embeddings(self.spaces, backbone, routes, encoded), covariances)

    def _check_backbone_of(self, backbone: Backbone) -> None:
        own = self.spaces[0].backbone
        if backbone.identity().get("sha256") != own.get("sha256"):
            raise ConfigError(f"{self.name}'s notion spaces were fitted with backbone {own.get('name')}, not "
                              f"{backbone.name}: fit them with the backbone that embeds the images")


def routing_accuracy(method: NotionComposed, backbone: Backbone, query_set: QuerySet,
                     groups: Mapping[str, Sequence[int]] | None = None) -> pd.DataFrame:
    """Share of queries whose changed notions automatic routing finds exactly (the recorded factors' notions),
    overall and per changed-factor combination: columns ``changed``, ``n_queries``, ``routing accuracy``."""
    if "changed" not in query_set.info.columns:
        raise ConfigError(f"{query_set.name} records no changed factors: routing accuracy needs info['changed']")
    auto = query_routes(method.spaces, backbone, query_set, "auto")
    oracle = query_routes(method.spaces, backbone, query_set, "oracle")
    hits = np.array([a.changed == o.changed for a, o in zip(auto, oracle)])
    groups = changed_groups(query_set) if groups is None else groups
    rows = [{"changed": "all", "n_queries": len(hits), "routing accuracy": float(hits.mean())}]
    for label, members in groups.items():
        members = np.asarray(members, dtype=np.int64)
        rows.append({"changed": label, "n_queries": len(members), "routing accuracy": float(hits[members].mean())})
    return pd.DataFrame(rows)
