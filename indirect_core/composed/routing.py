"""InDiReCT-CIR's routing: which notions a modification text changes, and which it keeps.

A rule fixed before anything was measured: the text is split into clauses at " and " and at commas
(``split_clauses``); each clause goes to the one notion whose prompts are most similar to it: the largest cosine
between the clause's CLIP text feature and the CLIP text features of the notion's prompts, maximum over the prompts
(``route_clauses``; ties go to the notion listed first). Clauses routed to the same notion are joined with " and ".
Every notion the text does not speak about is kept. *Oracle* routing takes the query set's recorded changed factors
instead (``QuerySet.info["changed"]``, "+"-joined in the text's order; each factor is a notion's ``factor``) and
pairs them with the clauses in order. An explicit ``keep=[...]``, ``change={notion: text}`` overrides both
(``route``). GeneCIS's condition picks one notion by its task's rule (``GENECIS_TASKS``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import torch

from ..backbone import Backbone
from .._util.errors import ConfigError
from .._util.validation import as_matrix
from ..core.models import l2_normalize
from .queries import QuerySet
from .notion_spaces import NotionSpace, check_spaces

ROUTINGS = ("auto", "oracle")
"""``auto``: routing from the text and the notions' prompts alone; ``oracle``: the recorded changed factors."""
GENECIS_TASKS: dict[str, str] = {"focus_attribute": "focus", "change_attribute": "change",
                                 "focus_object": "focus", "change_object": "change"}
"""GeneCIS: what each task's condition asks. ``focus``: the target matches the reference in the condition's
notion (keep that notion only); ``change``: the target shows the condition in its notion (change it by the
condition's text, keep every other notion)."""
CLAUSE_SPLIT = re.compile(r"\s*,\s*|\s+and\s+")
"""Where a modification text splits into clauses: at commas and at the word "and"."""


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
