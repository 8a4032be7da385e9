"""Composed search over saved spaces (``ic.search_composed``, ``search-composed`` on the command line): the
z-scored parts written out by hand from the spaces' own embeddings, one part alone ranks as that space's own
search, the explicit and the routed form, and bad input named (random-tiny: rankings are pipeline checks)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import indirect_core as ic
from indirect_core._util.errors import ConfigError
from indirect_core.apps.cli import main
from indirect_core.apps.composed_search import composed_route, search_composed
from indirect_core.data.example_collection import write_example_collection

SHAPES = ["circle", "square", "triangle", "star", "hexagon", "cross", "heart", "crescent"]
COLOURS = ["red", "green", "blue", "yellow", "white", "black", "orange", "purple"]


@pytest.fixture(scope="module")
def collection(tmp_path_factory, tiny_backbone, cache_dir):
    """A shape and a colour space over the same 16 images, saved: (folder, {name: Space}, a reference image)."""
    base = tmp_path_factory.mktemp("composed-search")
    photos = write_example_collection(base / "photos", n_images=16, image_size=32, seed=2)
    spaces = ic.apps.space.notion_spaces(tiny_backbone, [
        ic.data.notions.Notion("shape", "own", "shape", "a photo of a {}", SHAPES),
        ic.data.notions.Notion("object colour", "own", "object_colour", "a {} shape", COLOURS)],
        photos, clip=False, n_components=8, cache_dir=cache_dir, progress=False)
    for name, space in spaces.items():
        space.save(base / "spaces" / name)
    return base, spaces, spaces["shape"].paths[3]


def _z(scores: np.ndarray) -> np.ndarray:
    return (scores - scores.mean()) / scores.std()


def test_the_score_is_the_sum_of_the_parts_z_scores_written_out(collection, tiny_backbone):
    _, spaces, reference = collection
    result = search_composed(spaces, image=reference, keep=["shape"], change={"object colour": "a red shape"},
                             k=16)
    shape, colour = spaces["shape"], spaces["object colour"]
    by_hand = _z(shape.embeddings @ shape.query_embedding(image=reference)[0]) \
        + _z(colour.embeddings @ colour.query_embedding(text="a red shape")[0])
    order = np.argsort(-by_hand, kind="stable")
    assert result["path"].tolist() == [shape.paths[i] for i in order]
    assert np.allclose(result["score"].to_numpy(), by_hand[order], atol=1e-4)
    assert list(result.columns) == ["rank", "path", "score"] and result["rank"].tolist() == list(range(1, 17))


def test_one_part_alone_ranks_as_that_space_searches(collection):
    _, spaces, reference = collection
    kept = search_composed(spaces, image=reference, keep=["shape"], k=5)
    assert kept["path"].tolist() == spaces["shape"].search(image=reference, k=5)["path"].tolist()
    changed = search_composed(spaces, change={"object colour": "a blue shape"}, keep=[], k=5)
    assert changed["path"].tolist() == spaces["object colour"].search(text="a blue shape", k=5)["path"].tolist()


def test_a_text_is_routed_and_every_other_space_kept(collection, tiny_backbone):
    _, spaces, reference = collection
    query = composed_route(spaces, text="a photo of a star")
    assert query.keep == ("object colour",) and dict(query.change) == {"shape": "a photo of a star"}
    assert search_composed(spaces, image=reference, text="a photo of a star", k=4).equals(
        search_composed(spaces, image=reference, change={"shape": "a photo of a star"}, k=4))


def test_bad_input_names_the_culprit(collection, tmp_path, cache_dir, tiny_backbone):
    _, spaces, reference = collection
    with pytest.raises(ConfigError, match="keep names notion 'texture', which is not among the notion spaces"):
        search_composed(spaces, image=reference, keep=["texture"])
    with pytest.raises(ConfigError, match="change names notion 'size'"):
        search_composed(spaces, image=reference, change={"size": "big"})
    with pytest.raises(ConfigError, match="the modification text '' is empty"):
        search_composed(spaces, image=reference, text="")
    with pytest.raises(ConfigError, match=r"keeps \['shape'\] of the reference: give image="):
        search_composed(spaces, change={"object colour": "a red shape"})
    other = ic.Space.from_prompts(tiny_backbone, template="a {} shape", words=COLOURS, name="colour again",
                                  n_components=8, cache_dir=cache_dir)
    other.add_images(spaces["shape"].paths[:5], progress=False)
    with pytest.raises(ConfigError, match="space 'colour again' does not index the same images as space 'shape'"):
        search_composed([spaces["shape"], other], image=reference, keep=["shape"])

    class OtherBackbone:
        """The same model under another identity: a space of another backbone."""

        def __getattr__(self, name):
            return getattr(tiny_backbone, name)

        def identity(self):
            return {**tiny_backbone.identity(), "name": "ViT-B/32", "sha256": "f" * 64}

    other._backbone = OtherBackbone()
    with pytest.raises(ConfigError, match="space 'colour again' uses backbone ViT-B/32 .* but space 'shape' uses"):
        search_composed([spaces["shape"], other], image=reference, keep=["shape"])


def test_command_line(collection, capsys, cache_dir):
    base, spaces, reference = collection
    folders = [str(base / "spaces" / name) for name in spaces]
    assert main(["search-composed", *folders, "--image", reference, "--keep", "shape", "--change",
                 "object colour=a red shape", "--k", "3", "--cache-dir", str(cache_dir), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    expected = search_composed(spaces, image=reference, keep=["shape"], change={"object colour": "a red shape"}, k=3)
    assert [r["path"] for r in record["results"]] == expected["path"].tolist()
    assert record["keep"] == ["shape"] and record["change"] == {"object colour": "a red shape"}
    assert record["warning"] == ic.backbone.RANDOM_WEIGHTS_MARKER
    assert main(["search-composed", *folders, "--image", reference, "--text", "a photo of a star", "--k", "2",
                 "--cache-dir", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    assert "keep ['object colour']" in out and "change {'shape': 'a photo of a star'}" in out
    assert main(["search-composed", *folders, "--image", reference, "--change", "texture=rough",
                 "--cache-dir", str(cache_dir)]) == 2
    assert "change names notion 'texture'" in capsys.readouterr().err
    assert ic.search_composed is search_composed
