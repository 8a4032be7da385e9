"""shapes-clip's training on a tiny configuration (seconds): the stream and its captions, determinism, exact resume
after a kill or Ctrl-C, clear errors, the card, the shipped folder's checks and the command line.

The numbers of these tiny runs mean nothing; what the shipped checkpoint knows is tested in
test_shapes_clip_answers.py.
"""
from __future__ import annotations

import inspect
import json
import os
import signal

import clip
import pytest
import torch
import yaml

import indirect_core as ic
from indirect_core.backbone import shipped
from indirect_core.data import synthetic_shapes as shapes
from indirect_core.shapes_clip import captions, training, zero_shot
from indirect_core.shapes_clip.make import train_shapes_clip

TINY = {"steps": 6, "architecture": "tiny", "n_groups": 2, "warmup": 2, "text_freeze": 2, "eval_every": None,
        "progress": False}


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("INDIRECT_DATA_DIR", str(tmp_path / "data"))


def weights(folder) -> dict:
    return torch.load(folder / shipped.CHECKPOINT_FILE, weights_only=True)


def run(folder, **changes):
    """A tiny run trained into ``folder`` (its model kept in memory, no card)."""
    return training.train(folder, **{**TINY, **changes})


# ------------------------------------------------------------------------------------------------ data


def test_batches_depend_only_on_seed_and_step():
    assert captions.training_batch(0, 3) == captions.training_batch(0, 3)
    assert captions.training_batch(0, 3) != captions.training_batch(0, 4)
    assert captions.training_batch(0, 3) != captions.training_batch(1, 3)


@pytest.mark.parametrize("design", ["pairs", "random"])
def test_every_caption_fits_exactly_the_images_with_what_it_names(design):
    rows = captions.training_batch(0, 0, n_groups=3, design=design)
    targets = captions.positives(rows)
    assert torch.equal(targets.diagonal(), torch.ones(24))  # every caption fits its own image
    for j, text in enumerate(rows):
        fits = [all(captions.named_values(image, [f]).get(f) == v for f, v in text["named"].items()) for image in rows]
        assert targets[:, j].tolist() == [float(x) for x in fits]
        assert all(value in text["caption"] for value in text["named"].values())
    kinds = {tuple(sorted(r["named"])) for step in range(10) for r in captions.training_batch(0, step, 3, design)}
    assert ("shape",) in kinds and ("object_colour",) in kinds and len(kinds) >= 6


def test_a_pairs_group_shares_its_colours_and_caption_kind():
    for step in range(5):
        rows = captions.training_batch(0, step, n_groups=3, design="pairs")
        for g in range(3):
            group = rows[8 * g:8 * (g + 1)]
            assert sorted(r["shape"] for r in group) == sorted(shapes.DRAWN_SHAPES)
            assert len({(r["object_colour"], r["background_colour"]) for r in group}) == 1
            assert len({tuple(sorted(set(r["named"]) - {"size"})) for r in group}) == 1


def test_no_size_word_for_sizes_between_the_classes():
    assert (captions.size_word(0.15), captions.size_word(0.23), captions.size_word(0.3)) == ("small", "", "large")
    row = {"shape": "star", "object_colour": "red", "background_colour": "navy", "size": 0.23}
    assert captions.named_values(row, captions.FACTORS) == {"shape": "star", "object_colour": "red",
                                                              "background_colour": "navy"}
    assert captions.caption(row, captions.FULL_TEMPLATES[0]) == "a photo of a red star in front of a navy background"


def test_training_pixels_equal_clip_preprocessing_of_a_synthetic_shapes_image():
    row = captions.training_batch(0, 0)[5]
    image, _ = shapes.render(row["shape"], row["object_colour"], row["background_colour"], row["size"], row["x"],
                             row["y"], row["rotation"], 224)
    assert torch.equal(training.render_pixels([row], 64)[0], clip.clip._transform(64)(image))


def test_held_out_and_training_seeds_are_disjoint_from_every_evaluation_split():
    from indirect_core.composed.synthetic import DEFAULTS
    from indirect_core.data.datasets.synthetic import load_synthetic_shapes
    from indirect_core.data.example_collection import write_example_collection

    def default(function):
        return inspect.signature(function).parameters["seed"].default

    assert zero_shot.EVALUATION_SEEDS == {"synthetic-shapes": default(load_synthetic_shapes),
                                          "synthetic-shapes-cir": DEFAULTS["seed"],
                                          "example collection": default(write_example_collection)}
    plan_seeds = set()
    for plan in (shipped.Path(__file__).parents[1] / "plans").glob("*.yaml"):
        for options in ((yaml.safe_load(plan.read_text()) or {}).get("datasets") or {}).values():
            plan_seeds.add(((options or {}).get("options") or {}).get("seed", 0))
    assert zero_shot.HELD_OUT_SEED not in set(zero_shot.EVALUATION_SEEDS.values()) | plan_seeds
    with pytest.raises(ic.ConfigError, match="seed of an evaluation split"):
        zero_shot.held_out_split(n_images=4, seed=0)
    held_out = shapes.sample_factors(200, 224, zero_shot.HELD_OUT_SEED)
    evaluation = shapes.sample_factors(1000, 224, 0)
    nuisances = {(r["size"], r["x"], r["y"], r["rotation"]) for r in held_out + evaluation}
    trained = [r for step in range(20) for r in captions.training_batch(0, step)]
    assert not nuisances & {(r["size"], r["x"], r["y"], r["rotation"]) for r in trained}


def test_the_loss_is_clips_with_one_positive_per_caption():
    torch.manual_seed(0)
    model = training.build_model("tiny", 0)
    rows = captions.training_batch(0, 0, n_groups=2)
    pixels = training.render_pixels(rows, 32)
    tokens = training.tokenize([r["caption"] for r in rows], model)
    embed = model.token_embedding
    identity = training.clip_loss(model, pixels, tokens, torch.eye(16), embed)
    image = torch.nn.functional.normalize(model.encode_image(pixels), dim=1)
    text = torch.nn.functional.normalize(model.encode_text(tokens), dim=1)
    logits = model.logit_scale.exp() * image @ text.T
    clip_reference = (torch.nn.functional.cross_entropy(logits, torch.arange(16))
                      + torch.nn.functional.cross_entropy(logits.T, torch.arange(16))) / 2
    assert torch.allclose(identity, clip_reference, atol=1e-5)
    two = torch.eye(16)
    two[0, 1] = two[1, 0] = 1  # images 0 and 1 both fit captions 0 and 1: each target is half on each
    spread = -(torch.log_softmax(logits, 1)[:2, :2].mean(1).sum() + torch.log_softmax(logits, 1).diagonal()[2:].sum()
               + torch.log_softmax(logits.T, 1)[:2, :2].mean(1).sum()
               + torch.log_softmax(logits.T, 1).diagonal()[2:].sum()) / 32
    assert torch.allclose(training.clip_loss(model, pixels, tokens, two, embed), spread, atol=1e-5)


# ------------------------------------------------------------------------------------------------ training


def test_training_is_seeded_deterministic_and_restores_the_thread_count(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        first, second, other = run(tmp_path / "a"), run(tmp_path / "b"), run(tmp_path / "c", seed=1)
        assert torch.get_num_threads() == 2  # the run pinned its own count (1) and gave the caller's back
    finally:
        torch.set_num_threads(before)
    assert first.losses == second.losses and len(first.losses) == 6
    assert all(torch.equal(v, second.model.state_dict()[k]) for k, v in first.model.state_dict().items())
    assert first.losses != other.losses and first.settings["threads"] == 1


def test_the_text_tower_is_held_fixed_for_the_first_steps(tmp_path):
    initial = training.build_model("tiny", 0).state_dict()
    after_two = run(tmp_path / "a", steps=2, text_freeze=2).model.state_dict()
    after_three = run(tmp_path / "b", steps=3, text_freeze=2).model.state_dict()
    for name in ("transformer.resblocks.0.attn.in_proj_weight", "text_projection", "token_embedding.weight"):
        assert torch.equal(after_two[name], initial[name]), name
    assert not torch.equal(after_three["text_projection"], initial["text_projection"])
    assert not torch.equal(after_two["visual.layer1.0.conv1.weight"], initial["visual.layer1.0.conv1.weight"])


def test_a_killed_run_resumes_bit_identical(tmp_path):
    reference = run(tmp_path / "ref", eval_every=3, eval_images=20)

    def die(step, loss):
        if step == 5:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path / "run", checkpoint_every=2, callback=die, eval_every=3, eval_images=20)
    assert torch.load(tmp_path / "run" / training.STATE_FILE, weights_only=True)["step"] == 4
    resumed = run(tmp_path / "run", checkpoint_every=2, eval_every=3, eval_images=20)
    assert resumed.resumed_from == 4 and resumed.losses == reference.losses
    assert all(torch.equal(v, reference.model.state_dict()[k]) for k, v in resumed.model.state_dict().items())
    assert [e["shape"] for e in resumed.evaluations] == [e["shape"] for e in reference.evaluations]


def test_ctrl_c_saves_the_state_and_says_how_to_continue(tmp_path):
    reference = run(tmp_path / "ref")
    handler = signal.getsignal(signal.SIGINT)

    def interrupt(step, loss):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(training.TrainingInterrupted, match="after step 3 of 6.*Run the same command again"):
        run(tmp_path / "run", checkpoint_every=100, callback=interrupt)
    assert signal.getsignal(signal.SIGINT) is handler
    resumed = run(tmp_path / "run")
    assert resumed.resumed_from == 3 and resumed.losses == reference.losses


def test_a_damaged_training_state_gives_one_clear_message_and_is_kept(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / training.STATE_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ic.ConfigError, match="cannot read the shapes-clip training state .*Delete it"):
        run(folder)
    assert (folder / training.STATE_FILE).read_bytes() == b"not a checkpoint"


def test_resuming_with_other_settings_is_refused(tmp_path):
    run(tmp_path / "run", steps=2)
    with pytest.raises(ic.ConfigError, match="other settings: lr="):
        run(tmp_path / "run", steps=2, lr=1e-4)


@pytest.mark.parametrize(("changes", "message"), [
    ({"steps": 0}, "steps=0 must be a positive integer"),
    ({"design": "grid"}, "design='grid' must be one of"),
    ({"architecture": "rn50"}, "unknown architecture 'rn50'"),
    ({"lr": -1}, "lr=-1"),
    ({"step": 5}, "unknown shapes-clip setting\\(s\\) \\['step'\\]"),
])
def test_bad_settings_are_named(tmp_path, changes, message):
    with pytest.raises(ic.ConfigError, match=message):
        run(tmp_path / "run", **changes)


# ------------------------------------------------------------------------------------------------ checkpoint, card


@pytest.fixture(scope="module")
def tiny_shipped(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shipped")
    os.environ["INDIRECT_DATA_DIR"] = str(folder / "data")
    try:
        card = train_shapes_clip(folder / "weights", held_out_images=30, **TINY)
    finally:
        del os.environ["INDIRECT_DATA_DIR"]
    return folder / "weights", card


def test_the_card_records_data_seed_architecture_time_machine_and_accuracy(tiny_shipped):
    folder, card = tiny_shipped
    assert json.loads((folder / shipped.CARD_FILE).read_text()) == json.loads(json.dumps(card))
    assert card["checkpoint"]["sha256"] == ic.backbone.sha256_file(folder / shipped.CHECKPOINT_FILE)
    assert card["data"]["seed"] == 0 and card["training"]["steps"] == 6 and card["training"]["threads"] == 1
    assert card["architecture"]["vision_width"] == 8 and card["training"]["machine"]["torch"] == torch.__version__
    assert card["held_out"]["split"]["seed"] == zero_shot.HELD_OUT_SEED
    assert {n: (r["n_classes"], r["n_words"]) for n, r in card["held_out"]["zero_shot"].items()} == {
        "shape": (8, 33), "object colour": (10, 17), "background colour": (10, 17)}
    assert card["checkpoint"]["sha256"] in (folder / shipped.CARD_MARKDOWN).read_text()
    assert not (folder / training.STATE_FILE).exists()  # a finished run's state is removed
    assert all((folder / name).is_file() for name in ("loss.csv", "loss.png", "loss.pdf"))


def test_the_saved_file_loads_through_clip_load_with_the_in_memory_features(tiny_shipped, tmp_path):
    folder, _ = tiny_shipped
    state = weights(folder)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    backbone = ic.load_backbone(str(folder / shipped.CHECKPOINT_FILE))
    model = training.build_model("tiny", 0)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model.eval()
    pixels = training.render_pixels(captions.training_batch(0, 0)[:4], 32)
    with torch.inference_mode():
        assert torch.allclose(backbone.model.encode_image(pixels), model.encode_image(pixels), atol=1e-6)
        prompts = ["a photo of a star", "a red shape"]
        assert torch.allclose(backbone.encode_texts(prompts),
                              torch.nn.functional.normalize(training.encode_texts(model, prompts), dim=1), atol=1e-6)


def test_a_changed_damaged_or_missing_shipped_file_gives_one_clear_message(tiny_shipped, tmp_path, monkeypatch):
    folder, _ = tiny_shipped
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / shipped.CARD_FILE).write_text((folder / shipped.CARD_FILE).read_text())
    data = bytearray((folder / shipped.CHECKPOINT_FILE).read_bytes())
    data[-100] ^= 1
    (copy / shipped.CHECKPOINT_FILE).write_bytes(bytes(data))
    monkeypatch.setattr(ic.backbone.loading, "SHIPPED_DIR", copy)
    with pytest.raises(ic.BackboneError, match="sha256 .* but its model card says .*retrain with `make shapes-clip`"):
        ic.load_backbone("shapes-clip")
    (copy / shipped.CHECKPOINT_FILE).write_bytes(b"\x00" * 100)
    card = json.loads((copy / shipped.CARD_FILE).read_text())
    card["checkpoint"]["sha256"] = ic.backbone.sha256_file(copy / shipped.CHECKPOINT_FILE)
    (copy / shipped.CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ic.BackboneError, match="shapes-clip.pt is (empty|not|truncated|damaged).*make shapes-clip"):
        ic.load_backbone("shapes-clip")
    (copy / shipped.CHECKPOINT_FILE).unlink()
    with pytest.raises(ic.BackboneError, match="is missing"):
        ic.load_backbone("shapes-clip")
    (copy / shipped.CARD_FILE).write_text("{")
    with pytest.raises(ic.BackboneError, match="cannot read the model card"):
        ic.load_backbone("shapes-clip")
    (copy / shipped.CARD_FILE).unlink()
    with pytest.raises(ic.BackboneError, match="no shapes-clip model card"):
        ic.load_backbone("shapes-clip")


def test_a_run_killed_while_shipping_ships_again_without_training(tmp_path, monkeypatch):
    from indirect_core.shapes_clip import make

    def fail(*args, **kwargs):
        raise RuntimeError("killed while shipping")

    monkeypatch.setattr(make, "ship", fail)
    with pytest.raises(RuntimeError, match="killed while shipping"):
        make.train_shapes_clip(tmp_path / "out", held_out_images=20, **TINY)
    assert torch.load(tmp_path / "out" / training.STATE_FILE, weights_only=True)["step"] == 6
    monkeypatch.undo()
    card = make.train_shapes_clip(tmp_path / "out", held_out_images=20, **TINY)
    assert card["training"]["resumed_from_step"] == 6


def test_zero_shot_accuracy_counts_labels_present_and_all_words():
    words = ["circle", "square", "pentagon"]
    images = torch.tensor([[1.0, 0, 0], [0, 0.4, 0.6], [0, 1, 0]])
    result = zero_shot.zero_shot_accuracy(images, ["circle", "square", "square"], words, torch.eye(3))
    assert result["accuracy"] == 1.0 and result["accuracy_all_words"] == pytest.approx(2 / 3)
    assert result["n_classes"] == 2 and result["n_words"] == 3
    with pytest.raises(ic.ConfigError, match="not among the prompt words"):
        zero_shot.zero_shot_accuracy(images, ["circle", "square", "moon"], words, torch.eye(3))


def test_the_command_line_trains_and_prints_the_card(tmp_path, capsys):
    from indirect_core.apps.cli import main

    assert main(["train-backbone", str(tmp_path / "out"), "--steps", "2", "--architecture", "tiny",
                 "--n-groups", "2", "--eval-every", "2", "--held-out-images", "20"]) == 0
    printed = capsys.readouterr().out
    assert "held-out zero-shot top-1 (20 images" in printed and "sha256" in printed
    assert main(["train-backbone", str(tmp_path / "out"), "--steps", "0"]) == 2
    assert "--steps=0 must be a positive integer" in capsys.readouterr().err


@pytest.mark.slow
def test_notebook_08_trains_resumes_and_shows_the_card(tmp_path):
    """The notebook path: a tiny run with its card, loss curve and accuracy tables; run again after a finished
    run, it trains anew into the same folder with identical weights."""
    from indirect_core.batch.notebook_execution import execute_notebook

    notebook = shipped.Path(__file__).parents[1] / "notebooks" / "08_train_backbone.ipynb"
    parameters = {"architecture": "tiny", "steps": 4, "n_groups": 2, "eval_every": 2, "held_out_images": 20,
                  "output_dir": str(tmp_path / "out")}
    execute_notebook(notebook, tmp_path / "run.ipynb", parameters, cwd=tmp_path)
    card = json.loads((tmp_path / "out" / shipped.CARD_FILE).read_text())
    assert card["training"]["steps"] == 4 and [e["step"] for e in card["evaluations_during_training"]] == [2, 4]
    text = (tmp_path / "run.ipynb").read_text()
    assert "held-out zero-shot top-1 (20 images" in text and "accuracy_all_words" in text
    first = (tmp_path / "out" / shipped.CHECKPOINT_FILE).read_bytes()
    execute_notebook(notebook, tmp_path / "again.ipynb", parameters, cwd=tmp_path)
    assert (tmp_path / "out" / shipped.CHECKPOINT_FILE).read_bytes() == first
