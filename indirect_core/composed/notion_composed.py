"""InDiReCT-CIR (method key ``notion-composed``): composed retrieval notion by notion, in InDiReCT's spaces.

A composed query keeps some notions of the reference image and changes others by words ("the same shape, but
red"). Each notion has its own InDiReCT space, fitted on the notion's prompts only (``fit_notion_spaces``: the
authors' procedure ``indirect`` by default, the solver recorded); no training image and no mapper.

**Routing** (which notions does the text change?), a rule fixed before anything was measured:
the text is split into clauses at " and " and at commas (``split_clauses``); each clause goes to the one notion
whose prompts are most similar to it: the largest cosine between the clause's CLIP text feature and the CLIP
text features of the notion's prompts, maximum over the prompts (``route_clauses``; ties go to the notion listed
first). Clauses routed to the same notion are joined with " and ". Every notion the text does not speak about
is kept. *Oracle* routing takes the query set's recorded changed factors instead (``QuerySet.info["changed"]``,
"+"-joined in the text's order; each factor is a notion's ``factor``) and pairs them with the clauses in order.
An explicit ``keep=[...]``, ``change={notion: text}`` overrides both (``route``).

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

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..backbone import Backbone
from .._util.errors import ConfigError
from .._util.validation import as_matrix
from ..core.models import INDIRECT_KEYS, Reducer, display_name, l2_normalize, make_model
from ..data.notions import Notion
from .evaluate import changed_groups
from .queries import QuerySet
from .ranking import feature_matrix

KEY = "notion-composed"
"""The method key plans and notebooks name."""
DISPLAY_NAME = "InDiReCT-CIR"
"""The method's name in tables and figures (the oracle-routing variant: ``ORACLE_NAME``)."""
ORACLE_NAME = "InDiReCT-CIR (oracle routing)"
ROUTINGS = ("auto", "oracle")
"""``auto``: routing from the text and the notions' prompts alone; ``oracle``: the recorded changed factors."""
DEFAULT_SOLVER = "indirect"
"""The authors' procedure, as in the paper's experiments (``indirect-lbfgs`` is our solver, recorded if chosen)."""
CLAUSE_SPLIT = re.compile(r"\s*,\s*|\s+and\s+")
"""Where a modification text splits into clauses: at commas and at the word "and"."""
GENECIS_TASKS: dict[str, str] = {"focus_attribute": "focus", "change_attribute": "change",
                                 "focus_object": "focus", "change_object": "change"}
"""GeneCIS: what each task's condition asks. ``focus``: the target matches the reference in the condition's
notion (keep that notion only); ``change``: the target shows the condition in its notion (change it by the
condition's text, keep every other notion)."""


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


# ---------------------------------------------------------------------- routing


def split_clauses(text: object, where: str = "the modification text") -> list[str]:
    """The clauses of a modification text (split at commas and " and "), stripped; an empty text is refused."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where} {text!r} is empty: give a text such as 'is red and has a navy background'")
    clauses = [c.strip() for c in CLAUSE_SPLIT.split(text.strip()) if c and c.strip()]
    if not clauses:
        raise ConfigError(f"{where} {text!r} holds no words besides separators: give a text such as 'is red'")
    return clauses


def route_clauses(clause_features: torch.Tensor, spaces: Sequence[NotionSpace]) -> list[int]:
    """Per clause, the index of the notion whose prompts are most similar to it: the largest cosine of CLIP text
    features, maximum over the notion's prompts (ties: the notion listed first)."""
    clauses = l2_normalize(as_matrix(clause_features, "clause features"))
    if not any(len(s.prompts) for s in spaces):
        raise ConfigError(f"none of the spaces {[s.name for s in spaces]} has prompts to route a text to: say "
                          "which notion the text changes, e.g. change={'colour': 'red'}")
    best = torch.stack([(clauses @ l2_normalize(s.prompt_features.float()).T).max(dim=1).values if len(s.prompts)
                        else torch.full((len(clauses),), -torch.inf) for s in spaces], dim=1)
    return [int(i) for i in best.argmax(dim=1)]  # argmax returns the first maximum


@dataclass(frozen=True)
class Route:
    """What a composed query asks: the notions kept from the reference and the text of each changed notion."""

    keep: tuple[str, ...]
    change: Mapping[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> frozenset[str]:
        return frozenset(self.change)


def _notion_names(spaces: Sequence[NotionSpace]) -> list[str]:
    return [s.name for s in spaces]


def route(spaces: Sequence[NotionSpace], backbone: Backbone | None = None, text: str | None = None,
          keep: Sequence[str] | None = None, change: Mapping[str, str] | None = None) -> Route:
    """One query's route. ``change`` (notion -> text) and ``keep`` are explicit and override routing; ``text``
    alone is routed automatically (``route_texts``). Notions not changed are kept unless ``keep`` says which."""
    spaces = check_spaces(spaces)
    names = _notion_names(spaces)
    if change is not None and text is not None:
        raise ConfigError("give the modification either as text='...' (routed automatically) or as change="
                          "{notion: text}, not both")
    if change is not None:
        if not isinstance(change, Mapping):
            raise ConfigError(f"change={change!r} must map notion names to texts, e.g. {{'{names[0]}': 'red'}}")
        for notion, words in change.items():
            _check_names([notion], names, "change")
            split_clauses(words, f"the text for notion {notion!r}")
        changed = {n: change[n].strip() for n in names if n in change}
    elif text is not None:
        split_clauses(text)
        if backbone is None:
            raise ConfigError("routing a text needs the backbone that encodes it")
        changed = route_texts(spaces, backbone, [text])[0]
    else:
        changed = {}
    if keep is None:
        kept = tuple(n for n in names if n not in changed)
    else:
        if isinstance(keep, str):
            keep = [keep]
        _check_names(keep, names, "keep")
        both = [n for n in keep if n in changed]
        if both:
            raise ConfigError(f"notion {both[0]!r} is both kept and changed: keep it or change it")
        kept = tuple(n for n in names if n in set(keep))
    if not kept and not changed:
        raise ConfigError("the query keeps no notion and changes none: keep at least one notion of the reference "
                          "or give a text")
    return Route(kept, changed)


def _check_names(given: Iterable[object], names: list[str], what: str) -> None:
    for name in given:
        if name not in names:
            raise ConfigError(f"{what} names notion {name!r}, which is not among the notion spaces: use some of "
                              f"{names}")


def encode(backbone: Backbone, texts: Sequence[str], encoded: dict[str, torch.Tensor] | None = None
           ) -> torch.Tensor:
    """CLIP text features of ``texts``, each distinct text encoded once; ``encoded`` (text -> feature) is reused
    and filled, so a clause that is also a changed notion's text is encoded once."""
    encoded = {} if encoded is None else encoded
    new = [t for t in dict.fromkeys(texts) if t not in encoded]
    if new:
        encoded.update(zip(new, backbone.encode_texts(new)))
    return torch.stack([encoded[t] for t in texts]) if len(texts) else torch.zeros(0, 0)


def route_texts(spaces: Sequence[NotionSpace], backbone: Backbone, texts: Sequence[str],
                encoded: dict[str, torch.Tensor] | None = None) -> list[dict[str, str]]:
    """Automatic routing of many texts: per text, notion -> its clauses joined with " and " (notion order)."""
    spaces = check_spaces(spaces)
    clauses = [split_clauses(t, f"the modification text of query {i}") for i, t in enumerate(texts)]
    unique = list(dict.fromkeys(c for cs in clauses for c in cs))
    chosen = dict(zip(unique, route_clauses(encode(backbone, unique, encoded), spaces)))
    routed = []
    for parts in clauses:
        by_notion: dict[int, list[str]] = {}
        for clause in parts:
            by_notion.setdefault(chosen[clause], []).append(clause)
        routed.append({spaces[i].name: " and ".join(by_notion[i]) for i in sorted(by_notion)})
    return routed


def oracle_changes(spaces: Sequence[NotionSpace], text: str, changed: str) -> dict[str, str]:
    """Oracle routing of one query: the recorded changed factors ("+"-joined, in the text's order) as notions,
    paired with the clauses in order (with another number of clauses, each changed notion gets the whole text)."""
    by_factor = {s.factor: s.name for s in spaces if s.factor}
    factors = [f for f in str(changed).split("+") if f]
    missing = [f for f in factors if f not in by_factor]
    if missing:
        raise ConfigError(f"the query set records changed factor {missing[0]!r} but no notion space stands for it "
                          f"(spaces stand for {sorted(by_factor)}): add that notion, or route automatically")
    if not factors:
        raise ConfigError(f"oracle routing needs the changed factors of every query; one records {changed!r}")
    clauses = split_clauses(text)
    pairs = zip(factors, clauses) if len(clauses) == len(factors) else ((f, text.strip()) for f in factors)
    out: dict[str, list[str]] = {}
    for factor, clause in pairs:
        out.setdefault(by_factor[factor], []).append(clause)
    order = _notion_names(spaces)
    return {n: " and ".join(out[n]) for n in order if n in out}


def pick_notion(spaces: Sequence[NotionSpace], backbone: Backbone, word: str) -> str:
    """The notion a condition word picks (GeneCIS): the notion of that name (case and "colour"/"color" spelling
    aside), else the notion automatic routing sends the word to."""
    def plain(text: str) -> str:
        return " ".join(text.lower().replace("colour", "color").split())

    for space in spaces:
        if plain(space.name) == plain(word):
            return space.name
    return spaces[route_clauses(backbone.encode_texts([word.strip()]), spaces)[0]].name


def query_routes(spaces: Sequence[NotionSpace], backbone: Backbone, query_set: QuerySet,
                 routing: str = "auto", encoded: dict[str, torch.Tensor] | None = None) -> list[Route]:
    """Every query's route on ``query_set``: GeneCIS by its task's rule (``GENECIS_TASKS``), the others by
    ``routing`` ("auto": from the text; "oracle": the recorded changed factors)."""
    from .baselines import modification_texts

    spaces = check_spaces(spaces)
    if routing not in ROUTINGS:
        raise ConfigError(f"routing={routing!r} must be one of {list(ROUTINGS)}")
    texts = modification_texts(query_set)
    names = _notion_names(spaces)
    if query_set.benchmark == "genecis":
        if routing == "oracle":
            raise ConfigError("GeneCIS records no changed factors: its condition picks the notion, so route it with "
                              "routing='auto'")
        if query_set.subset not in GENECIS_TASKS:
            raise ConfigError(f"GeneCIS task {query_set.subset!r} has no rule: use one of {list(GENECIS_TASKS)}")
        picked = {t: pick_notion(spaces, backbone, t) for t in dict.fromkeys(texts)}
        if GENECIS_TASKS[query_set.subset] == "focus":
            return [Route((picked[t],), {}) for t in texts]
        return [Route(tuple(n for n in names if n != picked[t]), {picked[t]: t.strip()}) for t in texts]
    if routing == "oracle":
        if "changed" not in query_set.info.columns:
            raise ConfigError(f"{query_set.name} records no changed factors (info['changed']): oracle routing needs "
                              "them; use routing='auto'")
        changes = [oracle_changes(spaces, t, c) for t, c in zip(texts, query_set.info["changed"])]
    else:
        changes = route_texts(spaces, backbone, texts, encoded)
    return [Route(tuple(n for n in names if n not in c), c) for c in changes]


# ---------------------------------------------------------------------- scoring


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
