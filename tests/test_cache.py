"""Embedding cache: reuse, invalidation on backbone/file changes, kill -9 resume, unreadable images and the
files a folder scan passed over."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import indirect_core as ic
from indirect_core import backbone as bbmod
from indirect_core.data import datasets as ds
from indirect_core.features.cache import image_features
from indirect_core._util.errors import BackboneError, DatasetError


def _count_forward_calls(backbone, monkeypatch) -> list[int]:
    calls: list[int] = []
    real = backbone.model.encode_image

    def counting(pixels):
        calls.append(len(pixels))
        return real(pixels)

    monkeypatch.setattr(backbone.model, "encode_image", counting)
    return calls


def test_second_call_reads_the_cache_without_the_model(tiny_backbone, small_shapes, tmp_path, monkeypatch):
    first = ic.image_features(tiny_backbone, small_shapes, cache_dir=tmp_path, batch_size=16, shard_size=25,
                              progress=False)
    assert first.features.shape == (60, tiny_backbone.embed_dim) and not first.skipped
    assert sorted(p.name[:11] for p in first.location.glob("shard-*.pt")) == [
        "shard-00000", "shard-00001", "shard-00002"]
    manifest = json.loads((first.location / "manifest.json").read_text())
    assert manifest["backbone"]["sha256"] == tiny_backbone.weights_sha256 and manifest["n_features"] == 60
    assert manifest["warning"] == ic.backbone.RANDOM_WEIGHTS_MARKER
    calls = _count_forward_calls(tiny_backbone, monkeypatch)
    second = ic.image_features(tiny_backbone, small_shapes, cache_dir=tmp_path, batch_size=16, shard_size=25,
                               progress=False)
    assert calls == [] and torch.equal(first.features, second.features)
    direct = tiny_backbone.encode_images(small_shapes.image_paths, batch_size=16, progress=False)
    assert torch.allclose(first.features, direct, atol=1e-5)


def test_changed_backbone_or_image_list_never_returns_stale_features(tiny_backbone, small_shapes, tmp_path):
    base = ic.image_features(tiny_backbone, small_shapes, cache_dir=tmp_path, progress=False)
    other_weights = bbmod.random_clip_checkpoint("random-tiny", tmp_path / "other", seed=1)
    other = ic.load_backbone(str(other_weights))
    assert other.identity()["sha256"] != tiny_backbone.identity()["sha256"]
    with_other = ic.image_features(other, small_shapes, cache_dir=tmp_path, progress=False)
    assert with_other.location != base.location
    assert not torch.allclose(with_other.features, base.features)
    subset = small_shapes.subset(range(10, 30))
    sub = ic.image_features(tiny_backbone, subset, cache_dir=tmp_path, progress=False)
    assert sub.location != base.location and torch.allclose(sub.features, base.features[10:30], atol=1e-5)


def test_rewritten_image_recomputes_only_its_shard(tiny_backbone, tmp_path, monkeypatch):
    data = ic.load_dataset("synthetic-shapes", root=tmp_path / "shapes", n_images=20, image_size=64, seed=3,
                           progress=False)
    first = ic.image_features(tiny_backbone, data, cache_dir=tmp_path / "c", batch_size=5, shard_size=10,
                              progress=False)
    target = data.image_paths[13]
    from PIL import Image

    before = target.stat().st_mtime_ns
    Image.open(data.image_paths[0]).save(target)  # same size class of file, different content and mtime
    os.utime(target, ns=(before, before + 10**9))  # a later mtime whatever the file system's clock granularity
    data = ic.load_dataset("synthetic-shapes", root=tmp_path / "shapes", n_images=20, image_size=64, seed=3,
                           progress=False)
    calls = _count_forward_calls(tiny_backbone, monkeypatch)
    second = ic.image_features(tiny_backbone, data, cache_dir=tmp_path / "c", batch_size=5, shard_size=10,
                               progress=False)
    assert calls == [5, 5]  # only the second shard (images 10..19) ran again
    assert torch.equal(second.features[:10], first.features[:10])
    assert torch.allclose(second.features[13], second.features[0], atol=1e-5)
    assert len(list(second.location.glob("shard-*.pt"))) == 2  # the stale shard was removed


CHILD = textwrap.dedent("""
    import sys, time
    import indirect_core as ic
    backbone = ic.load_backbone("random-tiny", cache_dir=sys.argv[1])
    data = ic.load_dataset("synthetic-shapes", root=sys.argv[2], n_images=60, image_size=64, seed=0,
                           progress=False)
    real = backbone.model.encode_image
    def slow(pixels):
        time.sleep(0.4)
        return real(pixels)
    backbone.model.encode_image = slow
    ic.image_features(backbone, data, cache_dir=sys.argv[3], batch_size=5, shard_size=10, progress=False)
""")


def test_kill_9_during_caching_resumes_without_recomputing(tiny_backbone, small_shapes, cache_dir, tmp_path,
                                                           monkeypatch):
    interrupted = tmp_path / "interrupted"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(cache_dir), str(small_shapes.root),
                              str(interrupted)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    shards: list[Path] = []
    while time.time() < deadline and child.poll() is None:
        shards = list(interrupted.glob("features/*/*/shard-*.pt"))
        if len(shards) >= 2:
            break
        time.sleep(0.05)
    assert child.poll() is None, child.stderr.read().decode()
    child.send_signal(signal.SIGKILL)
    child.wait()
    finished = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in interrupted.glob("features/*/*/shard-*.pt")}
    assert 2 <= len(finished) < 6
    calls = _count_forward_calls(tiny_backbone, monkeypatch)
    resumed = ic.image_features(tiny_backbone, small_shapes, cache_dir=interrupted, batch_size=5, shard_size=10,
                                progress=False)
    assert sum(calls) == 60 - 10 * len(finished)  # finished shards were not recomputed
    for path in interrupted.glob("features/*/*/shard-*.pt"):
        if path.name in finished:
            assert (path.stat().st_ino, path.stat().st_mtime_ns) == finished[path.name]
    assert not list(interrupted.glob("features/*/*/.shard-*.tmp*"))
    monkeypatch.undo()
    uninterrupted = ic.image_features(tiny_backbone, small_shapes, cache_dir=tmp_path / "clean", batch_size=5,
                                      shard_size=10, progress=False)
    assert torch.equal(resumed.features, uninterrupted.features)


def test_unreadable_image_is_skipped_recorded_and_applied_to_labels(tiny_backbone, tmp_path):
    data = ic.load_dataset("synthetic-shapes", root=tmp_path / "shapes", n_images=12, image_size=64, seed=5,
                           progress=False)
    data.image_paths[4].write_bytes(b"\x89PNG truncated")
    with pytest.raises(ic.DatasetError, match=r"000004\.png.*on_error='skip'"):
        ic.image_features(tiny_backbone, data, cache_dir=tmp_path / "c", progress=False)
    result = ic.image_features(tiny_backbone, data, cache_dir=tmp_path / "c2", on_error="skip", progress=False)
    assert list(result.skipped) == ["images/000004.png"] and result.features.shape[0] == 11
    assert np.array_equal(result.kept, [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11])
    manifest = json.loads((result.location / "manifest.json").read_text())
    assert "images/000004.png" in manifest["skipped"]
    kept = result.apply_to(data)
    assert len(kept) == 11 and kept.labels["shape"].tolist() == data.labels["shape"].drop(index=4).tolist()
    # a later strict run does not silently reuse the record of the skip
    with pytest.raises(ic.DatasetError, match="000004.png"):
        ic.image_features(tiny_backbone, data, cache_dir=tmp_path / "c2", on_error="raise", progress=False)


def test_bad_cache_parameters(tiny_backbone, small_shapes, tmp_path):
    with pytest.raises(ic.ConfigError, match="shard_size=0"):
        ic.image_features(tiny_backbone, small_shapes, cache_dir=tmp_path, shard_size=0, progress=False)
    with pytest.raises(ic.ConfigError, match="on_error='ignore'"):
        ic.image_features(tiny_backbone, small_shapes, cache_dir=tmp_path, on_error="ignore", progress=False)


def test_every_file_of_a_folder_is_used_or_listed_with_its_reason(tiny_backbone, image_zoo, tmp_path):
    data = ds.load_image_folder(image_zoo.root)
    cached = image_features(tiny_backbone, data, cache_dir=tmp_path, on_error="skip", progress=False)
    used = [data.file_list()[i] for i in cached.kept]
    assert sorted(used) == sorted(set(image_zoo.expected) - {"loose.png"})
    assert set(cached.skipped) == set(image_zoo.unreadable) | set(image_zoo.passed_over) | {"loose.png"}
    for relative, word in {**image_zoo.unreadable, **image_zoo.passed_over}.items():
        assert word in cached.skipped[relative], relative
    manifest = json.loads((cached.location / "manifest.json").read_text())
    assert manifest["skipped"] == cached.skipped and len(cached.apply_to(data)) == len(used)
    with pytest.raises(DatasetError, match=r"cannot read image .*broken/empty\.jpg: empty file \(0 bytes\)"):
        image_features(tiny_backbone, data, cache_dir=tmp_path, progress=False)  # on_error="raise"


def test_a_worker_refuses_weights_whose_sha256_differs_from_the_drivers(tiny_backbone, tmp_path, monkeypatch):
    """What a Ray worker does with a shard's recipe, here in-process: the driver's weights load (once per process);
    other weights at the recipe's path (a node with another file there) are refused, naming both hashes."""
    from indirect_core.features import cache

    monkeypatch.setattr(cache, "_WORKER_BACKBONES", {})
    recipe = cache.backbone_recipe(tiny_backbone)
    loaded = cache.worker_backbone(recipe)
    assert loaded.weights_sha256 == tiny_backbone.weights_sha256 and cache.worker_backbone(recipe) is loaded
    other = bbmod.random_clip_checkpoint("random-tiny", tmp_path / "other", seed=1)  # same architecture, other weights
    with pytest.raises(BackboneError, match=rf"with sha256 [0-9a-f]{{16}}\.\.\., not the driver's "
                                            rf"{tiny_backbone.weights_sha256[:16]}"):
        cache.worker_backbone({**recipe, "path": str(other)})
    with pytest.raises(BackboneError, match="are not visible on node"):
        cache.worker_backbone({**recipe, "path": str(tmp_path / "missing.pt"), "name": "my-own-clip"})
