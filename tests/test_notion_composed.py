"""InDiReCT-CIR (``composed.notion_composed``) on planted features, where the right answer is known by
construction: each notion lives in its own block of dimensions, each prompt and each clause of a modification
text is one direction of its notion's block, and an image is the sum of its three factors' directions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from indirect_core._util.errors import ConfigError
from indirect_core.composed import QuerySet, evaluate, evaluate_methods, gallery_features, query_features
from indirect_core.composed import notion_composed as nc
from indirect_core.composed import notion_spaces as ns
from indirect_core.composed import routing
from indirect_core.data.datasets import Dataset
from indirect_core.data.notions import Notion

SHAPES = ("circle", "square", "star", "heart")
COLOURS = ("red", "green", "blue", "navy")
BLOCK = 4
D = 3 * BLOCK


def direction(block: int, index: int) -> torch.Tensor:
    row = torch.zeros(D)
    row[block * BLOCK + index] = 1.0
    return row


class PlantedBackbone:
    """What InDiReCT-CIR asks of a backbone (identity, encode_texts) with texts planted on known directions."""

    name = "planted"
    random_weights = False
    caveat = None
    embed_dim = D

    def __init__(self, sha: str = "a" * 64) -> None:
        self.sha = sha
        self.table: dict[str, torch.Tensor] = {}
        for i, shape in enumerate(SHAPES):
            self.table[f"a photo of a {shape}"] = direction(0, i)
            self.table[f"a {shape}"] = direction(0, i)
            for j, old in enumerate(SHAPES):
                self.table[f"is a {shape} instead of a {old}"] = direction(0, i) - 0.2 * direction(0, j)
        for i, colour in enumerate(COLOURS):
            self.table[f"a {colour} shape"] = direction(1, i)
            self.table[f"is {colour}"] = direction(1, i) + 0.1 * direction(2, i)
            self.table[colour] = direction(1, i)
            self.table[f"a shape in front of a {colour} background"] = direction(2, i)
            self.table[f"has a {colour} background"] = direction(2, i) + 0.1 * direction(1, i)

    def identity(self) -> dict:
        return {"name": self.name, "sha256": self.sha, "random_weights": False, "embed_dim": D}

    def encode_texts(self, texts, batch_size: int = 256) -> torch.Tensor:
        # a text of several clauses is the sum of its clauses' directions
        rows = [sum(self.table[c] for c in t.split(" and ")) for t in texts]
        return torch.nn.functional.normalize(torch.stack(rows), dim=1)


NOTIONS = (Notion("shape", "planted", "shape", "a photo of a {}", SHAPES),
           Notion("object colour", "planted", "object_colour", "a {} shape", COLOURS),
           Notion("background colour", "planted", "background_colour", "a shape in front of a {} background", COLOURS))


@pytest.fixture(scope="module")
def backbone() -> PlantedBackbone:
    return PlantedBackbone()


@pytest.fixture(scope="module")
def spaces(backbone) -> list[ns.NotionSpace]:
    # Our deterministic solver: with 4 prompts spanning a 4-dimensional block and k = 4, each space is exactly
    # its block (the authors' procedure has its own test below).
    return ns.fit_notion_spaces(backbone, NOTIONS, solver="indirect-lbfgs", n_components=BLOCK)


def image(shape: int, colour: int, background: int, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    x = direction(0, shape) + direction(1, colour) + direction(2, background)
    return x + noise * torch.randn(D, generator=torch.Generator().manual_seed(seed))


def gallery_of(tuples: list[tuple[int, int, int]], noise: float = 0.02) -> torch.Tensor:
    return torch.stack([image(*t, noise=noise, seed=i) for i, t in enumerate(tuples)])


def planted_query_set(tuples, references, captions, targets, changed=None, candidates=None) -> QuerySet:
    labels = pd.DataFrame({"name": [f"g{i}" for i in range(len(tuples))]})
    images = Dataset(name="planted", root=".", image_paths=tuple(f"g{i}.png" for i in range(len(tuples))),
                     labels=labels)
    info = pd.DataFrame({"changed": changed}) if changed is not None else pd.DataFrame()
    return QuerySet(benchmark="synthetic-shapes-cir", split="test", subset="", images=images,
                    reference=np.asarray(references), captions=tuple((c,) for c in captions),
                    targets=tuple(tuple(t) for t in targets), gallery=np.arange(len(tuples)),
                    candidates=candidates, exclude_reference=True, info=info)


# ---------------------------------------------------------------- the answer known by construction


def test_the_target_keeping_the_reference_and_matching_the_text_ranks_first(backbone, spaces):
    # reference: a red circle on green; "is blue" keeps shape and background, changes the object colour.
    tuples = [(0, 0, 1),   # 0 reference
              (0, 0, 1),   # 1 twin of the reference (what image-only finds)
              (1, 2, 3),   # 2 blue, but another shape and background
              (0, 2, 1),   # 3 the target: same shape and background, blue
              (2, 2, 1),   # 4 blue on green, but a star
              (0, 2, 3),   # 5 blue circle, other background
              (3, 1, 0)]   # 6 unrelated
    qs = planted_query_set(tuples, [0], ["is blue"], [[3]], changed=["object_colour"])
    images = gallery_of(tuples)
    for routing in ("auto", "oracle"):
        method = nc.NotionComposed(tuple(spaces), routing=routing)
        gallery = gallery_features(method, backbone, qs, images)
        queries = query_features(method, backbone, qs, images, gallery)
        assert evaluate(qs, gallery, queries, ks={"recall": (1,), "recall_subset": ()})["R@1"] == 1.0
    # image-only finds the twin, image + text does not separate the target from its one-factor neighbours here
    only = query_features("image-only", backbone, qs, images)
    assert evaluate(qs, images, only, ks={"recall": (1,), "recall_subset": ()})["R@1"] == 0.0


def test_every_one_and_two_factor_change_of_a_planted_gallery_is_answered(backbone, spaces):
    rng = np.random.default_rng(0)
    tuples = [tuple(int(v) for v in rng.integers(0, 4, 3)) for _ in range(40)]
    references, captions, targets, changed = [], [], [], []
    factors = ("shape", "object_colour", "background_colour")
    for number in range(12):
        ref = number
        before = tuples[ref]
        which = [number % 3] if number < 6 else [number % 3, (number + 1) % 3]
        after = list(before)
        parts = []
        for f in which:
            after[f] = (before[f] + 1 + number % 3) % 4
            parts.append({0: f"is a {SHAPES[after[0]]} instead of a {SHAPES[before[0]]}",
                          1: f"is {COLOURS[after[1]]}", 2: f"has a {COLOURS[after[2]]} background"}[f])
        tuples.append(tuple(after))
        references.append(ref)
        captions.append(" and ".join(parts))
        changed.append("+".join(factors[f] for f in which))
    for i in range(len(references)):
        wanted = tuples[40 + i]
        targets.append([j for j, t in enumerate(tuples) if t == wanted and j != references[i]])
    qs = planted_query_set(tuples, references, captions, targets, changed=changed)
    images = gallery_of(tuples)
    result = evaluate_methods([nc.NotionComposed(tuple(spaces)), nc.NotionComposed(tuple(spaces), "oracle"),
                               "image + text"], backbone, [qs], [images], ks={"recall": (1,), "recall_subset": ()},
                              progress=False)
    by_method = dict(zip(result["method"], result["R@1"]))
    assert by_method["InDiReCT-CIR"] == 1.0 and by_method["InDiReCT-CIR (oracle routing)"] == 1.0
    assert nc.routing_accuracy(nc.NotionComposed(tuple(spaces)), backbone, qs)["routing accuracy"].tolist()[0] == 1.0


def test_the_linear_form_ranks_by_the_explicit_sum_of_z_scores(backbone, spaces):
    rng = np.random.default_rng(1)
    tuples = [tuple(int(v) for v in rng.integers(0, 4, 3)) for _ in range(30)]
    captions = ["is red", "has a navy background and is a star instead of a circle", "is green"]
    qs = planted_query_set(tuples, [0, 1, 2], captions, [[3], [4], [5]])
    images = gallery_of(tuples, noise=0.3)
    method = nc.NotionComposed(tuple(spaces))
    gallery = method.embed_images(backbone, qs, images)
    rows = method.query_features(backbone, qs, images)
    assert torch.allclose(gallery.norm(dim=1), torch.full((len(tuples),), 3 ** 0.5), atol=1e-5)
    parts = [s.embed(images) for s in spaces]
    routes = method.routes(backbone, qs)
    explicit = nc.explicit_scores(routes, spaces, parts, [p[torch.as_tensor(qs.reference)] for p in parts],
                                  nc.text_embeddings(spaces, backbone, routes))
    linear = rows.double() @ gallery.double().T
    offset = explicit - linear          # Σ μ_n / σ_n: one constant per query
    assert float(offset.std(dim=1).max()) < 1e-5
    assert torch.equal(explicit.argsort(dim=1, descending=True, stable=True),
                       linear.argsort(dim=1, descending=True, stable=True))


# ---------------------------------------------------------------- routing


def test_clauses_go_to_the_notion_whose_prompts_they_resemble(backbone, spaces):
    assert routing.split_clauses(" is red ,has a navy background and is a star instead of a circle ") == [
        "is red", "has a navy background", "is a star instead of a circle"]
    routed = routing.route_texts(spaces, backbone, ["is red and has a navy background",
                                               "is a star instead of a circle", "is red, is blue"])
    assert routed == [{"object colour": "is red", "background colour": "has a navy background"},
                      {"shape": "is a star instead of a circle"}, {"object colour": "is red and is blue"}]
    query = routing.route(spaces, backbone, text="has a navy background")
    assert query.keep == ("shape", "object colour") and dict(query.change) == {"background colour":
                                                                                "has a navy background"}


def test_explicit_keep_and_change_override_routing(backbone, spaces):
    query = routing.route(spaces, change={"shape": "a star"})
    assert query.keep == ("object colour", "background colour") and dict(query.change) == {"shape": "a star"}
    assert routing.route(spaces, keep=["shape"]) == routing.Route(("shape",), {})
    query = routing.route(spaces, backbone, text="is red", keep=["shape"])
    assert query.keep == ("shape",) and dict(query.change) == {"object colour": "is red"}
    oracle = routing.oracle_changes(spaces, "is red and has a navy background", "object_colour+background_colour")
    assert oracle == {"object colour": "is red", "background colour": "has a navy background"}


def test_bad_input_names_the_culprit(backbone, spaces):
    with pytest.raises(ConfigError, match=r"keep names notion 'texture', which is not among the notion spaces"):
        routing.route(spaces, keep=["texture"])
    with pytest.raises(ConfigError, match=r"change names notion 'size'"):
        routing.route(spaces, change={"size": "bigger"})
    with pytest.raises(ConfigError, match=r"the text for notion 'shape' '  ' is empty"):
        routing.route(spaces, change={"shape": "  "})
    with pytest.raises(ConfigError, match=r"the modification text '' is empty"):
        routing.route(spaces, backbone, text="")
    with pytest.raises(ConfigError, match="'shape' is both kept and changed"):
        routing.route(spaces, keep=["shape"], change={"shape": "a star"})
    with pytest.raises(ConfigError, match="keeps no notion and changes none"):
        routing.route(spaces, keep=[])
    other = ns.fit_notion_spaces(PlantedBackbone(sha="b" * 64), NOTIONS[:1], solver="indirect-lbfgs",
                                 n_components=BLOCK)[0]
    import dataclasses
    renamed = dataclasses.replace(other, name="other shape")
    with pytest.raises(ConfigError, match="notion space 'other shape' was made with backbone planted but 'shape'"):
        nc.NotionComposed((*spaces, renamed))
    with pytest.raises(ConfigError, match="records changed factor 'size_class' but no notion space stands for it"):
        routing.oracle_changes(spaces, "is bigger", "size_class")


def test_the_authors_procedure_is_the_default_and_recorded(backbone):
    (space,) = ns.fit_notion_spaces(backbone, NOTIONS[1:2], n_components=BLOCK)
    assert space.solver == "indirect" and space.solver_name == "InDiReCT"
    assert space.prompts == ("a red shape", "a green shape", "a blue shape", "a navy shape")
    assert space.factor == "object_colour"
    method = nc.NotionComposed((space,))
    assert method.describe()["solver"].tolist() == ["InDiReCT"] and method.solver == "indirect"


def test_the_images_are_embedded_again_for_other_or_changed_features(backbone, spaces):
    tuples = [(0, 0, 1), (1, 2, 3), (2, 1, 0)]
    qs = planted_query_set(tuples, [0], ["is blue"], [[1]])
    method = nc.NotionComposed(tuple(spaces))
    first = gallery_of(tuples)
    other = first.clone()
    other[0] = image(3, 3, 3)
    assert not torch.allclose(method.embed_images(backbone, qs, first)[0], method.embed_images(backbone, qs, other)[0])
    first[0] = image(3, 3, 3)   # changed in place: embedded again
    assert torch.allclose(method.embed_images(backbone, qs, first)[0], method.embed_images(backbone, qs, other)[0])
