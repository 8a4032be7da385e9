"""Backbone loading through clip.load, identity, text and image encoding, and loading errors."""
from __future__ import annotations

import hashlib
import re
import socket
import time

import clip
import numpy as np
import pytest
import torch
from PIL import Image

import indirect_core as ic
from indirect_core import backbone as bbmod


def _no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket, "create_connection", refuse)


def test_random_tiny_is_a_state_dict_loaded_through_clip_load(tiny_backbone, cache_dir, monkeypatch):
    path = tiny_backbone.weights_path
    assert path.parent == cache_dir / "backbones" and path.suffix == ".pt"
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert isinstance(state, dict) and "visual.proj" in state and state["token_embedding.weight"].shape[0] == 49408
    assert tiny_backbone.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    calls = []
    real_load = clip.load
    monkeypatch.setattr(clip, "load", lambda name, **kw: calls.append(name) or real_load(name, **kw))
    again = ic.load_backbone("random-tiny", cache_dir=cache_dir)
    assert calls == [str(path)]
    assert again.identity() == tiny_backbone.identity() and again.random_weights
    widths = [tiny_backbone.model.visual.conv1.out_channels, tiny_backbone.model.ln_final.weight.shape[0]]
    assert all(w % 64 == 0 for w in widths)


def test_random_checkpoint_is_deterministic_per_seed(tmp_path):
    first = bbmod.random_clip_checkpoint("random-tiny", tmp_path / "a")
    second = bbmod.random_clip_checkpoint("random-tiny", tmp_path / "b")
    other = bbmod.random_clip_checkpoint("random-tiny", tmp_path / "c", seed=1)
    assert bbmod.sha256_file(first) == bbmod.sha256_file(second) != bbmod.sha256_file(other)


def test_encode_texts_matches_77_token_clip(tiny_backbone):
    prompts = ["a photo of a circle", "a red shape!!", "a shape in front of a navy background",
               "a photo of a very small and slightly rotated heart in the top left corner", "!!!! a"]
    ours = tiny_backbone.encode_texts(prompts)
    with torch.inference_mode():
        reference = tiny_backbone.model.encode_text(clip.tokenize(prompts)).float()
    reference = reference / reference.norm(dim=1, keepdim=True)
    assert ours.shape == (5, tiny_backbone.embed_dim) and ours.dtype == torch.float32
    assert torch.allclose(ours.norm(dim=1), torch.ones(5), atol=1e-6)
    assert (ours - reference).abs().max() < 1e-5
    # "!" before some punctuation is token id 0: the cut must follow the end-of-text token, not non-zero ids
    tricky = ["a blue car!/truck", "a car"]
    assert 0 in clip.tokenize(tricky)[0, 1:6].tolist()
    with torch.inference_mode():
        expected = tiny_backbone.model.encode_text(clip.tokenize(tricky)).float()
    assert (tiny_backbone.encode_texts(tricky) - expected / expected.norm(dim=1, keepdim=True)).abs().max() < 1e-5
    # one row per prompt, in order, even with duplicates and across batch boundaries
    swapped = tiny_backbone.encode_texts(prompts[::-1] + prompts[:1], batch_size=2)
    assert torch.allclose(swapped[:5], ours.flip(0), atol=1e-6) and torch.allclose(swapped[5], ours[0], atol=1e-6)


def test_encode_texts_rejects_bad_prompts(tiny_backbone):
    with pytest.raises(ic.ConfigError, match="empty prompt list"):
        tiny_backbone.encode_texts([])
    with pytest.raises(ic.ConfigError, match="list of strings"):
        tiny_backbone.encode_texts("a photo of a circle")
    with pytest.raises(ic.ConfigError, match="shorten the prompt"):
        tiny_backbone.encode_texts(["word " * 100])


def test_encode_images_equals_one_at_a_time(tiny_backbone, small_shapes):
    paths = small_shapes.image_paths[:7]
    batched = tiny_backbone.encode_images(paths, batch_size=3, progress=False)
    with_workers = tiny_backbone.encode_images(paths, batch_size=4, num_workers=1, progress=False)
    with torch.inference_mode():
        single = torch.cat([tiny_backbone.model.encode_image(
            tiny_backbone.preprocess(Image.open(p).convert("RGB")).unsqueeze(0)) for p in paths])
    assert batched.shape == (7, tiny_backbone.embed_dim)
    assert torch.allclose(batched, single, atol=1e-4) and torch.allclose(with_workers, single, atol=1e-4)


def test_unreadable_image_raises_or_is_skipped(tiny_backbone, small_shapes, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    paths = [small_shapes.image_paths[0], broken, small_shapes.image_paths[1]]
    with pytest.raises(ic.DatasetError, match="broken.png.*on_error='skip'"):
        tiny_backbone.encode_images(paths, progress=False)
    with pytest.warns(UserWarning, match="broken.png"):
        kept = tiny_backbone.encode_images(paths, on_error="skip", progress=False)
    assert kept.shape[0] == 2


def test_unknown_backbone_and_missing_checkpoint(tmp_path):
    with pytest.raises(ic.BackboneError, match="unknown backbone 'ViT-X/99'.*ViT-B/32"):
        ic.load_backbone("ViT-X/99")
    with pytest.raises(ic.BackboneError, match="does not exist"):
        ic.load_backbone(str(tmp_path / "missing.pt"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(ic.BackboneError, match="CLIP checkpoint .*bad.pt is damaged: its 7 bytes"):
        ic.load_backbone(str(bad))
    with pytest.raises(ic.ConfigError, match="device='quantum'"):
        ic.load_backbone("random-tiny", device="quantum", cache_dir=tmp_path)


def test_damaged_clip_checkpoints_say_so_and_what_to_do(tmp_path, tiny_backbone, monkeypatch):
    good = tiny_backbone.weights_path.read_bytes()
    cases = {"empty.pt": (b"", r"is empty \(0 bytes\)"), "truncated.pt": (good[:len(good) // 2], "is damaged: its"),
             "random.pt": (np.random.default_rng(2).bytes(4000), "is damaged: its 4000 bytes")}
    for name, (content, reason) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ic.BackboneError) as info:
            ic.load_backbone(str(tmp_path / name))
        message = str(info.value)
        assert message.startswith(f"CLIP checkpoint {tmp_path / name} ") and re.search(reason, message)
        assert message.endswith(": copy or download it again") and "weights_only" not in message
    _no_network(monkeypatch)
    clip_dir = tmp_path / "clip-weights"
    clip_dir.mkdir(exist_ok=True)
    (clip_dir / "ViT-B-32.pt").write_bytes(good[:1000])   # an interrupted copy under ViT-B/32's name
    with pytest.raises(ic.BackboneError, match=r"ViT-B-32.pt is damaged: .*: delete it and load ViT-B/32 again"):
        ic.load_backbone("ViT-B/32")
    random_tiny = bbmod.random_clip_checkpoint("random-tiny", tmp_path)
    random_tiny.write_bytes(b"")
    with pytest.raises(ic.BackboneError, match=r"is empty \(0 bytes\): delete it; the next load writes it again"):
        ic.load_backbone("random-tiny", cache_dir=tmp_path)
    random_tiny.unlink()
    assert ic.load_backbone("random-tiny", cache_dir=tmp_path).weights_sha256 == tiny_backbone.weights_sha256


def test_named_model_offline_fails_fast_saying_where_to_put_the_file(tmp_path, monkeypatch):
    _no_network(monkeypatch)
    start = time.perf_counter()
    with pytest.raises(ic.BackboneError) as info:
        ic.load_backbone("ViT-B/32")
    assert time.perf_counter() - start < 10  # fails fast rather than hanging on a download
    message = str(info.value)
    assert "ViT-B-32.pt" in message and str(tmp_path / "clip-weights") in message
    assert "INDIRECT_CLIP_DIR" in message


def test_auto_falls_back_to_the_shipped_shapes_clip_loudly(tmp_path, monkeypatch):
    from indirect_core._util.caveats import SHAPES_CLIP_MARKER, StandInWarning

    _no_network(monkeypatch)
    with pytest.warns(StandInWarning, match="FALLING BACK TO SHAPES-CLIP") as caught:
        backbone = ic.load_backbone("auto", cache_dir=tmp_path)
    assert backbone.name == "shapes-clip" and not backbone.random_weights and len(caught) == 1
    assert backbone.caveat == SHAPES_CLIP_MARKER and backbone.identity()["caveat"] == SHAPES_CLIP_MARKER
    assert backbone.weights_path == ic.backbone.SHIPPED_DIR / "shapes-clip.pt"
    assert backbone.weights_sha256 == ic.backbone.read_card()["checkpoint"]["sha256"]
    assert ic.backbone.spec_weights("shapes-clip") == ("shapes-clip", backbone.weights_path)
    assert ic.load_backbone("random-tiny", cache_dir=tmp_path).random_weights  # random-tiny stays, by name


def test_auto_prefers_cached_weights_and_env_checkpoint(tmp_path, monkeypatch, tiny_backbone):
    _no_network(monkeypatch)
    clip_dir = tmp_path / "clip-weights"
    clip_dir.mkdir(exist_ok=True)
    # a file under ViT-B/32's name in the CLIP cache is what 'auto' loads (any valid checkpoint here)
    (clip_dir / "ViT-B-32.pt").write_bytes(tiny_backbone.weights_path.read_bytes())
    backbone = ic.load_backbone("auto", cache_dir=tmp_path)
    assert backbone.name == "ViT-B/32" and not backbone.random_weights
    assert backbone.weights_sha256 == tiny_backbone.weights_sha256
    monkeypatch.setenv("INDIRECT_CLIP_CHECKPOINT", str(tiny_backbone.weights_path))
    assert ic.load_backbone("auto").weights_path == tiny_backbone.weights_path
    monkeypatch.setenv("INDIRECT_CLIP_CHECKPOINT", str(tmp_path / "nope.pt"))
    with pytest.raises(ic.BackboneError, match="INDIRECT_CLIP_CHECKPOINT=.*nope.pt"):
        ic.load_backbone("auto")
