"""The one image loader (``indirect_core.images``): every PIL mode read as the pixels a numpy conversion written
in the test expects (16-bit high byte, transparency on white, CMYK, EXIF rotation), unreadable files refused
with their reason; embedding and thumbnails see exactly those pixels."""
from __future__ import annotations

import base64
import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from indirect_core.apps import explorer
from indirect_core.backbone import images
from indirect_core._util.errors import DatasetError, UnreadableImageError


def test_every_readable_kind_reads_as_the_reference_pixels(image_zoo):
    for relative, want in image_zoo.expected.items():
        got = images.read_rgb(image_zoo.root / relative)
        assert got.mode == "RGB", relative
        np.testing.assert_array_equal(np.asarray(got), want, err_msg=relative)
    sixteen = np.asarray(images.read_rgb(image_zoo.root / "sixteen/grey.png"))
    assert sixteen[0, :4, 0].tolist() == [0, 0, 1, 255] and sixteen.std() > 50  # not a white square
    assert images.unreadable_reason(image_zoo.root / "cmyk/print.tiff") is None


def test_unreadable_files_are_refused_with_their_reason(image_zoo, tmp_path):
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # the loader never flips Pillow's switch
    for relative, word in image_zoo.unreadable.items():
        path = image_zoo.root / relative
        with pytest.raises(UnreadableImageError) as info:
            images.read_rgb(path)
        assert word in info.value.reason and isinstance(info.value, DatasetError)
        assert str(info.value).startswith(f"cannot read image {path}: {word}")
        assert word in images.unreadable_reason(path)
    assert images.unreadable_reason(tmp_path / "gone.png") == "file does not exist"
    copy = pickle.loads(pickle.dumps(UnreadableImageError("a.png", "empty file (0 bytes)")))
    assert (copy.path, copy.reason) == ("a.png", "empty file (0 bytes)")  # crosses DataLoader/Ray processes


def test_opened_images_convert_by_the_same_rules():
    pixels = np.array([[[10, 20, 30, 0], [10, 20, 30, 255], [200, 100, 50, 128]]], dtype=np.uint8)
    got = np.asarray(images.to_rgb(Image.fromarray(pixels, "RGBA")))
    assert got.tolist() == [[[255, 255, 255], [10, 20, 30], [227, 177, 152]]]  # e.g. (200*128 + 255*127)/255
    floats = Image.fromarray(np.array([[-1.0, 0.0, 0.5, 1.0, 7.0, np.nan]], dtype=np.float32), "F")
    assert np.asarray(images.to_rgb(floats))[0, :, 0].tolist() == [0, 0, 128, 255, 255, 0]
    wide = Image.fromarray(np.array([[-5, 255, 65535, 70000]], dtype=np.int32), "I")
    assert np.asarray(images.to_rgb(wide))[0, :, 0].tolist() == [0, 0, 255, 255]


def test_embedding_sees_the_converted_pixels(tiny_backbone, image_zoo, tmp_path):
    """Each file's CLIP feature equals that of its reference pixels saved as a plain 8-bit PNG."""
    names = sorted(image_zoo.expected)
    twins = []
    for i, relative in enumerate(names):
        twins.append(tmp_path / f"{i}.png")
        Image.fromarray(image_zoo.expected[relative]).save(twins[-1])
    features = tiny_backbone.encode_images([image_zoo.root / n for n in names], progress=False)
    reference = tiny_backbone.encode_images(twins, progress=False)
    assert torch.equal(features, reference)


def test_thumbnails_show_the_converted_pixels(image_zoo):
    uri = explorer.thumbnail_uri(image_zoo.root / "sixteen/grey.png", size=64)
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as shown:
        want = Image.fromarray(image_zoo.expected["sixteen/grey.png"])
        want.thumbnail((64, 64))
        np.testing.assert_array_equal(np.asarray(shown.convert("RGB")), np.asarray(want))
    assert explorer.thumbnail_uri(image_zoo.root / "broken/truncated.png") == ""
