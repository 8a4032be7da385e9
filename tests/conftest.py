"""Shared fixtures: a random-tiny CLIP loaded through clip.load(path), and a small synthetic-shapes copy.

Numbers from random weights are pipeline checks, never results: no test relies on them being meaningful.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# The suite runs at the thread count the caller sets (OMP_NUM_THREADS=1 make test checks one thread), default 2.
os.environ.setdefault("OMP_NUM_THREADS", "2")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One cache folder for the whole session (random-tiny checkpoint, feature shards)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def tiny_backbone(cache_dir):
    """random-tiny: a small clip.model.CLIP with a fixed seed, saved as a state dict, loaded by clip.load."""
    import indirect_core as ic

    return ic.load_backbone("random-tiny", cache_dir=cache_dir)


@pytest.fixture(scope="session")
def small_shapes(tmp_path_factory):
    """A 60-image synthetic-shapes dataset (64 px) generated into a temp folder."""
    import indirect_core as ic

    root = tmp_path_factory.mktemp("data") / "synthetic-shapes"
    return ic.load_dataset("synthetic-shapes", root=root, n_images=60, image_size=64, seed=0, progress=False)


@pytest.fixture(autouse=True)
def _offline_clip_dir(tmp_path, monkeypatch):
    """Never touch the user's ~/.cache/clip or the network from tests: CLIP's weight folder is empty."""
    monkeypatch.setenv("INDIRECT_CLIP_DIR", str(tmp_path / "clip-weights"))
    monkeypatch.delenv("INDIRECT_CLIP_CHECKPOINT", raising=False)


SMOKE_UNREADABLE = 7
"""Index of the smoke data's image that is overwritten with bytes no decoder reads (on_error: skip)."""


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """plans/smoke.yaml (every notebook, random-tiny, 60 small images of which one is unreadable, with
    on_error: skip) run once for the whole session: (run folder, base folder, batch log lines)."""
    import yaml

    import indirect_core as ic
    from indirect_core import batch

    root = Path(__file__).resolve().parents[1]
    base = tmp_path_factory.mktemp("batch")
    data = ic.load_dataset("synthetic-shapes", root=base / "data" / "synthetic-shapes-n60-px64-seed0",
                           n_images=60, image_size=64, seed=0, progress=False)
    data.image_paths[SMOKE_UNREADABLE].write_bytes(b"this is not an image")
    plan = yaml.safe_load((root / "plans" / "smoke.yaml").read_text())
    plan["on_error"] = "skip"
    plan["include"] = [str(root / "plans" / name) for name in plan.get("include", [])]  # the copy lives elsewhere
    (base / "smoke.yaml").write_text(yaml.safe_dump(plan))
    logs: list[str] = []
    run_dir = batch.run_plan(base / "smoke.yaml", run_dir=base / "runs" / "smoke", n_jobs=2,
                             data_dir=base / "data", figures_dir=base / "figures", log=logs.append)
    return run_dir, base, logs


class ImageZoo:
    """A labelled folder holding one file of every kind the loader must handle (see ``image_zoo``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.expected: dict[str, "np.ndarray"] = {}   # relative path -> the RGB array it must read as
        self.unreadable: dict[str, str] = {}          # relative path -> a word its reason must contain
        self.passed_over: dict[str, str] = {}         # relative path -> a word its reason must contain


def _png_48bit(path: Path, pixels) -> None:
    """A 16-bit-per-channel RGB PNG written by hand (Pillow cannot write one): IHDR bit depth 16, colour type 2."""
    import struct
    import zlib

    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="session")
def image_zoo(tmp_path_factory) -> ImageZoo:
    """root/<label>/...: 8-bit, 16-bit grey (PNG, TIFF) and colour, palette with and without transparency, RGBA,
    LA, CMYK (.tiff), EXIF orientations 6 (JPEG) and 8 (PNG), an image three folders deep; a truncated, an empty
    and a fake image; a text file, a hidden file, a loose image in the root and a symlink to another image.

    Each readable file's expected pixels are computed here with numpy from the array it was written from: the
    loader's rules (16-bit keeps the high byte, transparency on white, Pillow's CMYK formula, EXIF rotation)."""
    import numpy as np
    from PIL import Image

    zoo = ImageZoo(tmp_path_factory.mktemp("zoo") / "zoo")
    rng = np.random.default_rng(17)
    height, width = 12, 20  # not square, so a rotation shows

    def place(relative: str) -> Path:
        path = zoo.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(place("eight/rgb.png"))
    zoo.expected["eight/rgb.png"] = rgb
    grey16 = rng.integers(0, 65536, (height, width), dtype=np.uint16)
    grey16[0, :4] = [0, 255, 256, 65535]
    for name in ("sixteen/grey.png", "sixteen/grey.tif"):
        Image.fromarray(grey16).save(place(name))
        zoo.expected[name] = np.repeat((grey16 // 256).astype(np.uint8)[..., None], 3, axis=2)
    colour16 = rng.integers(0, 65536, (height, width, 3), dtype=np.uint16)
    _png_48bit(place("sixteen/colour.png"), colour16)
    zoo.expected["sixteen/colour.png"] = (colour16 // 256).astype(np.uint8)
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    indices = rng.integers(0, 16, (height, width), dtype=np.uint8)
    for name, transparent in (("palette/opaque.png", None), ("palette/transparent.png", 3)):
        image = Image.fromarray(indices, "P")
        image.putpalette(palette.reshape(-1).tolist())
        image.save(place(name), **({} if transparent is None else {"transparency": transparent}))
        want = palette[indices]
        if transparent is not None:
            want = np.where((indices == transparent)[..., None], 255, want).astype(np.uint8)
        zoo.expected[name] = want
    alpha = rng.integers(0, 256, (height, width, 1), dtype=np.int64)
    alpha[0, 0], alpha[0, 1] = 0, 255

    def on_white(colour):
        return np.round((colour.astype(np.int64) * alpha + 255 * (255 - alpha)) / 255).astype(np.uint8)

    Image.fromarray(np.concatenate([rgb, alpha.astype(np.uint8)], axis=2), "RGBA").save(place("alpha/rgba.png"))
    zoo.expected["alpha/rgba.png"] = on_white(rgb)
    grey = rgb[..., 0]
    Image.fromarray(np.stack([grey, alpha[..., 0].astype(np.uint8)], axis=2), "LA").save(place("alpha/la.png"))
    zoo.expected["alpha/la.png"] = on_white(np.repeat(grey[..., None], 3, axis=2))
    cmyk = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    Image.fromarray(cmyk, "CMYK").save(place("cmyk/print.tiff"))
    ink, black = cmyk[..., :3].astype(np.int64), 255 - cmyk[..., 3:].astype(np.int64)
    zoo.expected["cmyk/print.tiff"] = (black - np.round(ink * black / 255)).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.fromarray(rgb).save(place("rotated/six.jpg"), exif=exif, quality=95)
    with Image.open(zoo.root / "rotated/six.jpg") as stored:  # the JPEG's own decoded pixels, unrotated
        zoo.expected["rotated/six.jpg"] = np.rot90(np.asarray(stored.convert("RGB")), k=-1)
    exif[0x0112] = 8  # "rotate 90° counter-clockwise to view"
    Image.fromarray(rgb).save(place("rotated/eight.png"), exif=exif)
    zoo.expected["rotated/eight.png"] = np.rot90(rgb, k=1)
    deep = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(deep).save(place("nested/one/two/deep.png"))
    zoo.expected["nested/one/two/deep.png"] = deep

    whole = (zoo.root / "eight/rgb.png").read_bytes()
    place("broken/truncated.png").write_bytes(whole[:len(whole) // 2])
    zoo.unreadable["broken/truncated.png"] = "truncated"
    place("broken/empty.jpg").write_bytes(b"")
    zoo.unreadable["broken/empty.jpg"] = "empty file"
    place("broken/fake.webp").write_text("not a picture")
    zoo.unreadable["broken/fake.webp"] = "not an image format"
    place("eight/notes.txt").write_text("a note")
    zoo.passed_over["eight/notes.txt"] = "not an image file name"
    Image.fromarray(rgb).save(place("eight/.thumbnail.png"))
    zoo.passed_over["eight/.thumbnail.png"] = "hidden file"
    place("eight/same-as-rgb.png").symlink_to("rgb.png")
    Image.fromarray(deep[::-1]).save(place("loose.png"))  # an image in the root: no label folder
    zoo.expected["loose.png"] = deep[::-1]
    zoo.passed_over["eight/same-as-rgb.png"] = "same file as eight/rgb.png"
    return zoo
