"""InDiReCT-CIR's notion spaces: one InDiReCT space per notion, fitted on the notion's prompts only (the authors'
procedure ``indirect`` by default, the solver recorded), with the prompts' CLIP text features kept for routing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import torch

from ..backbone import Backbone
from .._util.errors import ConfigError
from .._util.validation import as_matrix
from ..core.models import INDIRECT_KEYS, Reducer, display_name, l2_normalize, make_model
from ..data.notions import Notion


DEFAULT_SOLVER = "indirect"
"""The authors' procedure, as in the paper's experiments (``indirect-lbfgs`` is our solver, recorded if chosen)."""


@dataclass(frozen=True, eq=False)
class NotionSpace:
    """One notion's InDiReCT space: its prompts, the projection fitted on their CLIP text features alone, those
    features (for routing) and what made it (solver, backbone)."""

    name: str
    prompts: tuple[str, ...]
    model: Reducer | None           # None: the raw CLIP space (normalised features; no prompts, never routed to)
    prompt_features: torch.Tensor   # (n_prompts, d) unit CLIP text features of the prompts
    solver: str                     # model key: "indirect" (the authors' procedure) or "indirect-lbfgs"
    backbone: dict                  # identity of the backbone that encoded the prompts
    factor: str | None = None       # the factor (QuerySet.info["changed"] name) this notion stands for
    word_source: str = ""
    words: tuple[str, ...] = ()     # the prompt words (for the overlap with a benchmark's labels or conditions)

    @property
    def solver_name(self) -> str:
        return display_name(self.solver) if self.solver in INDIRECT_KEYS else self.solver

    def embed(self, features: Any) -> torch.Tensor:
        """Unit rows (n, k) of raw CLIP features (images or texts) in this notion's space."""
        features = as_matrix(features, f"features for {self.name}")
        if self.model is None:
            return l2_normalize(features)
        return l2_normalize(torch.as_tensor(self.model.transform(features)))

    @property
    def n_components(self) -> int:
        return int(self.prompt_features.shape[1] if self.model is None else self.model.components_.shape[0])


def fit_notion_spaces(backbone: Backbone, notions: Iterable[Notion], solver: str = DEFAULT_SOLVER,
                      n_components: int = 128, random_state: int | None = 0,
                      model_options: Mapping[str, Any] | None = None) -> list[NotionSpace]:
    """One space per notion, each fitted on its prompts' CLIP text features only
    (``make_model(solver, n_components, random_state).fit(backbone.encode_texts(prompts))``)."""
    if solver not in INDIRECT_KEYS:
        raise ConfigError(f"solver={solver!r} must be one of {list(INDIRECT_KEYS)} ('indirect': the authors' "
                          "procedure; 'indirect-lbfgs': our solver of its objective)")
    spaces, seen = [], set()
    for notion in notions:
        if not isinstance(notion, Notion):
            raise ConfigError(f"notions must be Notion objects (ic.data.notions), got {type(notion).__name__}")
        if notion.name in seen:
            raise ConfigError(f"two notions are named {notion.name!r}: give each its own name")
        seen.add(notion.name)
        prompts = notion.prompts
        features = backbone.encode_texts(prompts)
        model = make_model(solver, n_components, random_state, **dict(model_options or {})).fit(features)
        spaces.append(NotionSpace(notion.name, tuple(prompts), model, features, solver, backbone.identity(),
                                  notion.label_column, notion.word_source, tuple(notion.words)))
    if not spaces:
        raise ConfigError("give at least one notion to fit a space on")
    return spaces


def check_spaces(spaces: Sequence[NotionSpace]) -> tuple[NotionSpace, ...]:
    """The spaces as a tuple: at least one, distinct names, one backbone (else an error naming the culprit)."""
    spaces = tuple(spaces)
    if not spaces:
        raise ConfigError("InDiReCT-CIR needs at least one notion space")
    names = [s.name for s in spaces]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"two notion spaces are named {repeated[0]!r}: give each notion its own name")
    first = spaces[0].backbone
    for space in spaces[1:]:
        if space.backbone.get("sha256") != first.get("sha256"):
            raise ConfigError(f"notion space {space.name!r} was made with backbone {space.backbone.get('name')} "
                              f"but {spaces[0].name!r} with {first.get('name')}: every space of a composed query "
                              "must come from one backbone")
    return spaces
