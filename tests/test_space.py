"""ic.Space on your own collection (random-tiny, a generated folder): fit from colour prompts, index a plain
folder, search by text and by image against a reference computed here from U and the cached features, save
and load, grow the index, share the cache, the CLI, plans with a template + word file, and bad input."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

import indirect_core as ic
from indirect_core import batch
from indirect_core.batch import parameters
from indirect_core.apps.cli import main
from indirect_core.data.datasets import load_image_csv, load_image_folder
from indirect_core.data.datasets.user import load_plain_folder
from indirect_core._util.errors import ConfigError, DatasetError
from indirect_core.core.models.indirect import LBFGS_MAX_ITER
from indirect_core.data.example_collection import write_example_collection
from indirect_core.data.notions import CSS21_COLOUR_WORDS

ROOT = Path(__file__).resolve().parents[1]
N_IMAGES = 24


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """The example collection, small: 24 synthetic-shapes images of 32 px in one sub-folder per object colour."""
    return write_example_collection(tmp_path_factory.mktemp("collection") / "photos", n_images=N_IMAGES,
                                    image_size=32, seed=0)


@pytest.fixture(scope="module")
def colour_space(tiny_backbone, cache_dir, photos):
    """A space fitted on the 17 colour prompts, with the whole folder indexed (not modified by tests)."""
    space = ic.Space.from_prompts(tiny_backbone, template="a {} shape", words=list(CSS21_COLOUR_WORDS),
                                  n_components=16, cache_dir=cache_dir, name="object colour")
    return space.add_images(photos, progress=False)


def _reference_scores(backbone, space, cache_dir, photos, query_feature: torch.Tensor) -> pd.Series:
    """Cosine in the space by hand: unit raw features, times U^T, unit rows; path -> score."""
    data = load_plain_folder(photos)
    raw = ic.image_features(backbone, data, cache_dir=cache_dir, progress=False).features
    components = space.model.components_.double()

    def project(x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.normalize(x.double(), dim=1) @ components.T
        return torch.nn.functional.normalize(y, dim=1)

    scores = (project(raw) @ project(query_feature).T)[:, 0].numpy()
    return pd.Series(scores, index=[str(p) for p in data.image_paths])


def test_plain_folder_takes_nested_and_loose_images_and_nothing_else(tmp_path, photos):
    root = tmp_path / "mixed"
    shutil.copytree(photos, root)
    shutil.copy(next(photos.rglob("*.png")), root / "loose.png")
    (root / ".hidden").mkdir()
    shutil.copy(next(photos.rglob("*.png")), root / ".hidden" / "secret.png")
    shutil.copy(next(photos.rglob("*.png")), root / ".dotfile.png")
    (root / "notes.txt").write_text("not an image")
    data = load_plain_folder(root)
    assert len(data) == N_IMAGES + 1 and data.labels.shape == (N_IMAGES + 1, 0)
    assert data.file_list() == sorted(data.file_list()) and "loose.png" in data.file_list()
    assert not any(".hidden" in f or ".dotfile" in f for f in data.file_list())
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "a.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"no images found in .*empty or its sub-folders"):
        load_plain_folder(tmp_path / "empty")


def test_example_collection_is_a_labelled_folder_and_a_csv(photos):
    folder = load_image_folder(photos)
    table = load_image_csv(photos / "labels.csv")
    assert len(folder) == len(table) == N_IMAGES
    by_path = dict(zip([str(p) for p in table.image_paths], table.labels["object_colour"]))
    assert all(by_path[str(p)] == label for p, label in zip(folder.image_paths, folder.labels["label"]))
    assert set(table.labels.columns) == {"shape", "object_colour", "background_colour"}
    assert write_example_collection(photos, n_images=N_IMAGES, image_size=32, seed=0) == photos  # reused
    with pytest.raises(ConfigError, match="other settings"):
        write_example_collection(photos, n_images=10, image_size=32, seed=0)


def test_indexed_image_queried_by_its_path_comes_back_first(colour_space):
    assert len(colour_space) == N_IMAGES
    assert sorted(colour_space.skipped) == [str(colour_space.paths[0].rsplit("/", 2)[0] + f"/{name}")
                                            for name in ("example.json", "labels.csv")]
    assert all(why.startswith("not an image file name") for why in colour_space.skipped.values())
    for path in colour_space.paths[::5]:
        hits = colour_space.search(image=path, k=3)
        assert hits.loc[0, "path"] == path and hits.loc[0, "score"] >= 0.99


def test_text_query_ranks_by_the_cosine_computed_by_hand(tiny_backbone, cache_dir, photos, colour_space):
    hits = colour_space.search(text="a red shape", k=5)
    assert list(hits.columns) == ["rank", "path", "score"] and hits["rank"].tolist() == [1, 2, 3, 4, 5]
    assert (hits["score"].diff().dropna() <= 0).all()
    reference = _reference_scores(tiny_backbone, colour_space, cache_dir, photos,
                                  tiny_backbone.encode_texts(["a red shape"]))
    best = reference.sort_values(ascending=False, kind="stable")
    assert hits["path"].tolist() == best.index[:5].tolist()
    np.testing.assert_allclose(hits["score"].to_numpy(), best.to_numpy()[:5], atol=1e-5)
    assert colour_space.solver == "indirect-lbfgs" and colour_space.solver_name == "InDiReCT (L-BFGS)"
    assert colour_space.prompts == [f"a {w} shape" for w in CSS21_COLOUR_WORDS]
    assert "InDiReCT (L-BFGS)" in repr(colour_space) and ic.backbone.RANDOM_WEIGHTS_MARKER in repr(colour_space)


def test_save_then_load_gives_the_same_answers(tmp_path, tiny_backbone, cache_dir, colour_space):
    folder = colour_space.save(tmp_path / "space")
    record = json.loads((folder / "space.json").read_text())
    assert record["format"] == ic.apps.space.SPACE_FORMAT and record["solver"] == "indirect-lbfgs"
    assert record["random_state"] == 0 and record["n_images"] == N_IMAGES
    assert record["warning"] == ic.backbone.RANDOM_WEIGHTS_MARKER
    loaded = ic.Space.load(folder, tiny_backbone)
    for query in ({"text": "a blue shape"}, {"image": colour_space.paths[7]}):
        pd.testing.assert_frame_equal(loaded.search(**query, k=6), colour_space.search(**query, k=6))
    assert loaded.prompts == colour_space.prompts and loaded.template == "a {} shape"
    assert torch.equal(loaded.model.components_, colour_space.model.components_)
    assert not list(tmp_path.glob(".space*"))  # no temporary folder left behind
    colour_space.save(folder)  # replacing a saved space is allowed
    assert ic.Space.load(folder, "random-tiny", cache_dir=cache_dir).paths == colour_space.paths


def test_load_refuses_another_backbone_and_foreign_folders(tmp_path, cache_dir, colour_space):
    folder = colour_space.save(tmp_path / "space")
    other = ic.load_backbone(str(ic.backbone.random_clip_checkpoint("random-tiny", tmp_path / "other", seed=1)))
    with pytest.raises(ConfigError, match=r"was built with backbone random-tiny .* not random-tiny-seed1\.pt"):
        ic.Space.load(folder, other)
    with pytest.raises(DatasetError, match="is not a saved space"):
        ic.Space.load(tmp_path, "random-tiny", cache_dir=cache_dir)
    record = json.loads((folder / "space.json").read_text())
    (folder / "space.json").write_text(json.dumps({**record, "format": 99}))
    with pytest.raises(DatasetError, match="format 99; this version reads format 1"):
        ic.Space.load(folder, "random-tiny", cache_dir=cache_dir)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "holiday.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="is not a saved space"):
        colour_space.save(tmp_path / "mine")
    assert (tmp_path / "mine" / "holiday.txt").read_text() == "keep me"


def test_adding_later_extends_the_index_skips_unreadable_files_and_never_repeats(tmp_path, tiny_backbone,
                                                                                cache_dir, photos):
    colours = sorted(p for p in photos.iterdir() if p.is_dir())
    space = ic.Space.clip(tiny_backbone, cache_dir=cache_dir)
    space.add_images(colours[0], progress=False)
    first = len(space)
    assert first == len(list(colours[0].glob("*.png")))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    rest = [c for c in colours[1:]] + [broken, tmp_path / "gone.jpg"]
    space.add_images(rest, progress=False)
    assert len(space) == N_IMAGES and len(set(space.paths)) == N_IMAGES
    assert set(space.skipped) == {str(broken), str(tmp_path / "gone.jpg")}
    assert "does not exist" in space.skipped[str(tmp_path / "gone.jpg")]
    space.add_images(photos, progress=False)  # the whole folder again: nothing new
    assert len(space) == N_IMAGES
    hits = space.search(image=space.paths[-1], k=1)
    assert hits.loc[0, "path"] == space.paths[-1] and hits.loc[0, "score"] >= 0.99


def test_every_kind_of_file_is_indexed_as_its_reference_pixels_or_listed(tiny_backbone, cache_dir, image_zoo,
                                                                         tmp_path):
    space = ic.Space.clip(tiny_backbone, cache_dir=cache_dir).add_images(image_zoo.root, progress=False)
    names = sorted(image_zoo.expected)
    root = image_zoo.root.resolve()
    assert sorted(space.paths) == sorted(str(root / n) for n in names)
    twins = []
    for i, name in enumerate(names):  # the reference pixels as plain 8-bit PNGs
        twins.append(tmp_path / f"{i}.png")
        Image.fromarray(image_zoo.expected[name]).save(twins[-1])
    want = torch.nn.functional.normalize(tiny_backbone.encode_images(twins, progress=False), dim=1).numpy()
    rows = [space.paths.index(str(root / n)) for n in names]
    np.testing.assert_allclose(space.embeddings[rows], want, atol=1e-6)
    listed = {**image_zoo.unreadable, **image_zoo.passed_over}
    assert set(space.skipped) == {str(root / relative) for relative in listed}
    for relative, word in listed.items():
        assert word in space.skipped[str(root / relative)], relative


def test_an_image_is_its_resolved_path(tmp_path, tiny_backbone, cache_dir, photos, monkeypatch):
    space = ic.Space.clip(tiny_backbone, cache_dir=cache_dir).add_images(photos, progress=False)
    first, listed = space.paths[0], dict(space.skipped)  # labels.csv and example.json: not images
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    relative = Path(os.path.relpath(first, tmp_path / "work"))
    assert str(relative).startswith("..")
    (tmp_path / "link.png").symlink_to(first)
    pd.DataFrame({"path": [str(relative), "../link.png"]}).to_csv(tmp_path / "work" / "again.csv", index=False)
    (tmp_path / "linked-folder").symlink_to(photos, target_is_directory=True)
    space.add_images([relative, tmp_path / "link.png", "again.csv", tmp_path / "linked-folder"], progress=False)
    assert len(space) == N_IMAGES and space.paths[0] == first and space.skipped == listed
    fresh = ic.Space.clip(tiny_backbone, cache_dir=cache_dir).add_images(
        [tmp_path / "link.png", relative], progress=False)
    assert fresh.paths == [str(Path(first).resolve())]  # the link counts as its target, indexed once


def test_spaces_over_the_same_images_share_one_cache(tmp_path, tiny_backbone, photos):
    cache = tmp_path / "cache"
    notion = ic.data.notions.notion_from_words("mine", "label", "a photo of a {} object", ["red", "blue", "green"],
                                          name="colour")
    spaces = ic.apps.space.notion_spaces(tiny_backbone, [notion], photos, n_components=8, cache_dir=cache,
                                    progress=False)
    assert list(spaces) == ["CLIP", "colour"] and all(len(s) == N_IMAGES for s in spaces.values())
    folders = list((cache / "features" / tiny_backbone.key).iterdir())
    assert len(folders) == 1 and len(list(folders[0].glob("shard-*.pt"))) == 1
    raw = ic.image_features(tiny_backbone, load_plain_folder(photos), cache_dir=cache, progress=False).features
    unit = torch.nn.functional.normalize(raw.double(), dim=1)
    clip_hits = spaces["CLIP"].search(image=spaces["CLIP"].paths[3], k=4)
    want = (unit @ unit[3]).numpy()
    order = np.argsort(-want, kind="stable")[:4]
    assert clip_hits["path"].tolist() == [spaces["CLIP"].paths[i] for i in order]
    np.testing.assert_allclose(clip_hits["score"].to_numpy(), want[order], atol=1e-5)
    side_by_side = ic.apps.space.search_spaces(spaces, text="a red object", k=3)
    assert list(side_by_side) == ["CLIP", "colour"] and all(len(f) == 3 for f in side_by_side.values())


def test_solvers_and_model_options_are_recorded(tiny_backbone, cache_dir):
    adam = ic.Space.from_prompts(tiny_backbone, ["a red shape", "a blue shape", "a green shape"], n_components=4,
                                 solver="indirect", random_state=3, model_options={"max_iter": 5}, name="rgb")
    assert isinstance(adam.model, ic.InDiReCT) and adam.model.max_iter == 5 and adam.random_state == 3
    assert adam.model.n_iter_ == 5 and adam.info()["solver_name"] == "InDiReCT"
    assert adam.info()["model_options"]["max_iter"] == 5
    again = ic.Space.from_prompts(tiny_backbone, ["a red shape", "a blue shape", "a green shape"], n_components=4,
                                  solver="indirect", random_state=3, model_options={"max_iter": 5})
    assert torch.equal(again.model.components_, adam.model.components_)  # seeded
    lbfgs = ic.Space.from_prompts(tiny_backbone, ["a red shape", "a blue shape"], n_components=8)
    assert (lbfgs.model.components_[2:] == 0).all()  # more components than prompts: the prompts' span only
    with pytest.raises(ConfigError, match="solver='pca' must be 'indirect'"):
        ic.Space.from_prompts(tiny_backbone, ["a red shape"], solver="pca")
    with pytest.raises(ConfigError, match="n_components=600 is larger than the feature dimension 512"):
        ic.Space.from_prompts(tiny_backbone, ["a red shape"], n_components=600)
    with pytest.raises(ConfigError, match=r"has no option\(s\) \['momentum'\]"):
        ic.Space.from_prompts(tiny_backbone, ["a red shape"], model_options={"momentum": 0.9})


def test_ivf_space_agrees_with_the_exact_space_and_saves_its_index(tmp_path, tiny_backbone, cache_dir, photos):
    exact = ic.Space.clip(tiny_backbone, index="exact", cache_dir=cache_dir).add_images(photos, progress=False)
    ivf = ic.Space.clip(tiny_backbone, index="ivf", cache_dir=cache_dir).add_images(photos, progress=False)
    assert ivf.info()["index"]["kind"] == "ivf" and exact.info()["index"]["kind"] == "exact"
    for path in exact.paths[:3]:
        pd.testing.assert_frame_equal(ivf.search(image=path, k=5), exact.search(image=path, k=5), atol=1e-5)
    folder = ivf.save(tmp_path / "ivf")
    assert (folder / "index.faiss").is_file()
    loaded = ic.Space.load(folder, tiny_backbone)
    assert loaded.info()["index"]["kind"] == "ivf" and loaded.info()["index"]["nlist"] == 1
    pd.testing.assert_frame_equal(loaded.search(text="a shape", k=4), ivf.search(text="a shape", k=4))


def test_an_ivf_index_is_trained_again_once_the_collection_outgrows_it(tiny_backbone, cache_dir, photos):
    """REFIT_GROWTH = 4: trained on 3 images, the index takes additions up to 4 × 3 = 12 images as they come and
    is trained again on all of them at the 13th."""
    assert ic.apps.space.REFIT_GROWTH == 4
    paths = [str(p) for p in load_plain_folder(photos).image_paths]
    space = ic.Space.clip(tiny_backbone, index="ivf", cache_dir=cache_dir)
    trained = []
    for stop in (3, 8, 12, 13, 24):
        space.add_images(paths[len(space):stop], progress=False)
        index = space.info()["index"]
        assert index["kind"] == "ivf" and index["n_vectors"] == len(space) == stop
        trained.append(index["n_trained"])
    assert trained == [3, 3, 3, 13, 13]  # 24 <= 4 x 13: no second retraining
    for path in paths[::5]:  # every image, old or new, is found as its own nearest neighbour
        assert space.search(image=path, k=1)["path"].tolist() == [ic.apps.space.identity_path(path)]


def test_bad_input_gets_one_clear_message(tmp_path, tiny_backbone, cache_dir, colour_space):
    with pytest.raises(ConfigError, match="k=0 must be a positive integer"):
        colour_space.search(text="a red shape", k=0)
    with pytest.raises(ConfigError, match="give exactly one query"):
        colour_space.search(text="a red shape", image=colour_space.paths[0])
    with pytest.raises(ConfigError, match="give exactly one query"):
        colour_space.search()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DatasetError, match=rf"image query {broken} cannot be read"):
        colour_space.search(image=broken)
    with pytest.raises(DatasetError, match="image query .*nowhere.png does not exist"):
        colour_space.search(image=tmp_path / "nowhere.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        ic.Space.clip(tiny_backbone, cache_dir=cache_dir).add_images(tmp_path / "empty")
    words = tmp_path / "words.txt"
    words.write_text("# only a comment\n\n")
    with pytest.raises(DatasetError, match=rf"word file {words} holds no words"):
        ic.Space.from_prompts(tiny_backbone, template="a {} shape", words=words)
    with pytest.raises(ConfigError, match="has no images yet"):
        ic.Space.clip(tiny_backbone).search(text="a red shape")
    with pytest.raises(ConfigError, match="is one string and not a file"):
        ic.Space.from_prompts(tiny_backbone, "a red shape")


# ---------------------------------------------------------------------- command line


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_fit_add_info_search(tmp_path, capsys, cache_dir, photos, colour_space):
    words = tmp_path / "colours.txt"
    words.write_text("\n".join(CSS21_COLOUR_WORDS) + "\n")
    space = tmp_path / "space"
    colours = sorted(p for p in photos.iterdir() if p.is_dir())
    common = ("--backbone", "random-tiny", "--cache-dir", str(cache_dir))
    code, out, _ = _cli(capsys, "space", "fit", str(space), "--template", "a {} shape", "--words", str(words),
                        "--name", "object colour", "--n-components", "16", "--images", *map(str, colours[:2]),
                        *common)
    assert code == 0 and "InDiReCT (L-BFGS)" in out and ic.backbone.RANDOM_WEIGHTS_MARKER.upper() in out
    code, out, _ = _cli(capsys, "space", "add", str(space), str(photos), "--cache-dir", str(cache_dir))
    assert code == 0 and f"({N_IMAGES} in all)" in out
    code, out, _ = _cli(capsys, "space", "info", str(space), "--json")
    record = json.loads(out)
    assert record["n_images"] == N_IMAGES and record["solver"] == "indirect-lbfgs" and record["random_state"] == 0
    assert record["word_source"] == str(words) and record["backbone_spec"] == "random-tiny"
    target = colour_space.paths[4]
    code, out, _ = _cli(capsys, "search", str(space), "--image", target, "--k", "3", "--json")
    results = json.loads(out)["results"]
    assert code == 0 and results[0]["path"] == target and results[0]["score"] >= 0.99 and len(results) == 3
    code, out, _ = _cli(capsys, "search", str(space), "--text", "a red shape", "--k", "4", "--cache-dir",
                        str(cache_dir))
    expected = colour_space.search(text="a red shape", k=4)  # the same prompts, solver and images
    table = [line.split() for line in out.splitlines()[3:]]
    assert code == 0 and [row[1] for row in table] == expected["path"].tolist()
    assert [float(row[2]) for row in table] == pytest.approx(expected["score"].tolist(), abs=1e-4)


def test_cli_model_options_and_dataset_options_are_reachable(tmp_path, capsys, cache_dir, photos):
    space = tmp_path / "adam"
    code, out, err = _cli(capsys, "space", "fit", str(space), "--prompts", "a red shape", "a blue shape",
                          "--solver", "indirect", "--seed", "2", "--model-option", "max_iter=3",
                          "--model-option", "lr=0.05", "--n-components", "4", "--dataset", "image-csv",
                          "--data-root", str(photos / "labels.csv"), "--dataset-option", "label_columns=[shape]",
                          "--backbone", "random-tiny", "--cache-dir", str(cache_dir))
    assert code == 0, err
    record = ic.apps.space.read_space_record(space)
    assert record["solver"] == "indirect" and record["random_state"] == 2 and record["label_columns"] == ["shape"]
    assert record["model_options"]["max_iter"] == 3 and record["model_options"]["lr"] == 0.05


def test_cli_prints_warnings_as_one_line_without_source(tmp_path, capsys, cache_dir, photos, monkeypatch):
    def offline(name):
        raise ic.BackboneError(f"CLIP {name} weights are not here (test)")

    monkeypatch.setattr(ic.backbone.loading, "_named_weights", offline)
    folder = sorted(p for p in photos.iterdir() if p.is_dir())[0]
    code, out, err = _cli(capsys, "space", "fit", str(tmp_path / "clip"), "--clip", "--images", str(folder),
                          "--backbone", "auto", "--cache-dir", str(cache_dir))
    assert code == 0 and err.startswith("warning: ") and "FALLING BACK TO SHAPES-CLIP" in err
    assert not re.search(r"\.py:\d+", err) and "load_backbone(" not in err and "Warning:" not in err


def test_cli_info_lists_only_model_options_and_search_notes_a_short_result(tmp_path, capsys, cache_dir, photos):
    space = tmp_path / "space"
    code, _, err = _cli(capsys, "space", "fit", str(space), "--prompts", "a red shape", "a blue shape",
                        "--images", str(photos), "--backbone", "random-tiny", "--cache-dir", str(cache_dir))
    assert code == 0, err
    code, out, _ = _cli(capsys, "space", "info", str(space))
    assert code == 0 and f"  options:  {{'max_iter': {LBFGS_MAX_ITER}}}" in out.splitlines()
    assert ic.apps.space.read_space_record(space)["model_options"] == {"max_iter": LBFGS_MAX_ITER}
    code, out, _ = _cli(capsys, "search", str(space), "--text", "a red shape", "--k", "500")
    lines = out.splitlines()
    assert code == 0 and f"note: k=500 but the space holds {N_IMAGES} images: all of them are shown" in lines
    assert len(lines) == 4 + N_IMAGES and lines[-1].split()[0] == str(N_IMAGES)
    code, out, _ = _cli(capsys, "search", str(space), "--text", "a red shape", "--k", "500", "--json")
    record = json.loads(out)
    assert len(record["results"]) == N_IMAGES and record["note"].startswith("k=500 but the space holds")
    code, out, _ = _cli(capsys, "search", str(space), "--text", "a red shape", "--k", str(N_IMAGES), "--json")
    assert "note" not in json.loads(out)


def test_another_backbone_is_refused_before_it_is_built(tmp_path, cache_dir, colour_space, monkeypatch):
    folder = colour_space.save(tmp_path / "space")
    other = ic.backbone.random_clip_checkpoint("random-tiny", tmp_path / "other", seed=1)
    monkeypatch.setattr(ic.backbone.loading, "_load_path", lambda *a, **k: pytest.fail("a backbone was built"))
    monkeypatch.setattr(ic.backbone.loading, "random_clip_checkpoint", lambda *a, **k: pytest.fail("a backbone was built"))
    for spec, named in (("random-vit-b-32", "not random-vit-b-32:"), (str(other), "not random-tiny-seed1.pt (")):
        with pytest.raises(ConfigError, match=r"was built with backbone random-tiny .*" + re.escape(named)):
            ic.Space.load(folder, spec, cache_dir=tmp_path / "empty-cache")


@pytest.mark.parametrize("argv, message", [
    (("search", "{space}", "--text", "a red shape", "--k", "0"), "error: k=0 must be a positive integer"),
    (("search", "{space}", "--image", "{broken}"), "error: image query {broken} cannot be read"),
    (("search", "{space}", "--text", "x", "--backbone", "{other}"), "error: space {space} was built with backbone"),
    (("space", "fit", "{new}", "--template", "a {{}} shape", "--words", "{empty}"), "holds no words"),
    (("space", "fit", "{new}", "--clip", "--images", "{emptydir}"), "error: no images found in {emptydir}"),
    (("space", "fit", "{space}", "--clip"), "a space is already saved in {space}: pass --force"),
])
def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys, cache_dir, colour_space, argv, message):
    places = {"space": tmp_path / "space", "broken": tmp_path / "broken.png", "new": tmp_path / "new",
              "empty": tmp_path / "empty.txt", "emptydir": tmp_path / "nothing",
              "other": ic.backbone.random_clip_checkpoint("random-tiny", tmp_path / "other", seed=1)}
    colour_space.save(places["space"])
    places["broken"].write_bytes(b"garbage")
    places["empty"].write_text("\n# nothing\n")
    places["emptydir"].mkdir()
    argv = [a.format(**places) for a in argv]
    if argv[0] == "space" and "--backbone" not in argv:
        argv += ["--backbone", "random-tiny"]
    argv += ["--cache-dir", str(cache_dir)]
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert message.format(**places) in err


# ---------------------------------------------------------------------- own notions in plans and notebooks


def test_plans_take_a_template_and_a_word_file(tmp_path):
    (tmp_path / "colours.txt").write_text("red\nblue # a comment\n")
    plan_file = tmp_path / "mine.yaml"
    plan_file.write_text(yaml.safe_dump({"name": "mine", "datasets": {"image-csv": {"root": "shots/labels.csv",
        "notions": [{"name": "colour", "template": "a {} thing", "words": "colours.txt", "label_column": "colour"},
                    {"name": "kind", "template": "a photo of a {}", "words": ["cat", "dog"]}]}},
        "backbones": ["random-tiny"], "models": ["clip", "indirect-lbfgs"], "seeds": 1}))
    plan = batch.load_plan(plan_file)
    jobs = {job.id.rsplit("/", 1)[1]: job for job in batch.plan_jobs(plan, tmp_path / "run", data_dir=tmp_path / "d")}
    assert sorted(jobs) == ["01_cache", "02_fit-colour", "02_fit-kind", "03_evaluate"]
    fit = jobs["02_fit-colour"].parameters
    assert (fit["notion"], fit["template"], fit["words"], fit["label_column"]) == ("colour", "a {} thing",
                                                                                   ["red", "blue"], "colour")
    assert fit["data_root"] == str((tmp_path / "d" / "shots" / "labels.csv").resolve())
    notions = jobs["03_evaluate"].parameters["notions"]
    assert notions[0]["words"] == ["red", "blue"] and notions[0]["word_source"] == str(tmp_path / "colours.txt")
    assert jobs["01_cache"].parameters["notions"] == notions
    chosen = parameters.check_notions("image-csv", notions)  # what notebooks 01, 03 and 04 do with them
    assert [(n.name, n.label_column, n.prompts) for n in chosen] == [
        ("colour", "colour", ["a red thing", "a blue thing"]), ("kind", "kind", ["a photo of a cat", "a photo of a dog"])]
    demo = batch.plan_jobs(batch.load_plan(ROOT / "plans" / "demo.yaml"), tmp_path / "demo")
    evaluation = next(job for job in demo if job.id.endswith("/03_evaluate"))
    assert demo[0].parameters.get("notions") is None and evaluation.parameters["notions"] == [
        "shape", "object colour", "background colour"]  # registered notions still travel by name


def test_plan_check_counts_only_readable_images_and_lists_the_rest(tmp_path, image_zoo):
    plan = {"name": "zoo", "datasets": {"image-folder": {"root": str(image_zoo.root), "notions": [
        {"name": "kind", "template": "a {} image", "words": ["plain", "deep"], "label_column": "label"}]}},
        "backbones": ["random-tiny"], "models": ["clip"], "seeds": 1}
    readable = len(set(image_zoo.expected) - {"loose.png"})
    for on_error, state, ready_wanted in (("raise", "PROBLEM", False), ("skip", "ok", True)):
        (tmp_path / "zoo.yaml").write_text(yaml.safe_dump({**plan, "on_error": on_error}))
        text, ready = batch.check_plan(tmp_path / "zoo.yaml", run_dir=tmp_path / "run", data_dir=tmp_path)
        assert ready is ready_wanted
        assert f"[{state}] image-folder (1 notion(s): kind): {readable} readable images in {image_zoo.root}" in text
        for relative, word in {**image_zoo.unreadable, **image_zoo.passed_over}.items():
            assert re.search(rf"left out {re.escape(relative)}: .*{word}", text), relative
        assert "left out loose.png: not in a label sub-folder" in text


def test_shipped_plan_runs_on_the_example_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("INDIRECT_DATA_DIR", str(tmp_path / "data"))  # check_plan sets it; restored afterwards
    plan = batch.load_plan(ROOT / "plans" / "my-photos.yaml")
    (notion,) = plan["datasets"]["image-folder"]["notions"]
    assert sorted(notion["words"]) == sorted(ic.data.datasets.CSS21_COLOUR_NAMES) and notion["label_column"] == "label"
    jobs = batch.plan_jobs(plan, tmp_path / "run", data_dir=tmp_path / "data")
    assert jobs[0].parameters["data_root"] == str((tmp_path / "data" / "my-photos").resolve())
    text, ready = batch.check_plan(ROOT / "plans" / "my-photos.yaml", run_dir=tmp_path / "run",
                                   data_dir=tmp_path / "data")
    assert ready and "[ok] image-folder (1 notion(s): object colour): generated on first use" in text
    assert not (tmp_path / "data" / "my-photos").exists()  # --check writes nothing
    root = batch.plans.generate_dataset(plan["datasets"]["image-folder"], tmp_path / "data")  # what run_plan does first
    assert root == (tmp_path / "data" / "my-photos").absolute()
    folder = ic.load_dataset("image-folder", root=root)
    assert len(folder) == 120 and set(folder.labels["label"]) <= set(ic.data.datasets.CSS21_COLOUR_NAMES)
    assert batch.plans.generate_dataset(plan["datasets"]["image-folder"], tmp_path / "data") == root  # reused, not rewritten


@pytest.mark.parametrize("spec, message", [
    ({"name": "c", "template": "a thing", "words": ["red"]}, "parameter notions[0].template='a thing'"),
    ({"name": "c", "template": "a {}"}, "missing ['words']"),
    ({"name": "c", "template": "a {}", "words": [], "colour": 1}, "unknown key(s) ['colour']"),
    ({"name": "c", "template": "a {}", "words": []}, "parameter notions[0].words=[] must be a non-empty list"),
])
def test_own_notion_specs_are_checked(spec, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parameters.check_notions("image-folder", [spec])
