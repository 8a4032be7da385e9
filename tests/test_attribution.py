"""Attribution: known answers on toy encoders (every method), mask geometry, seeding, end to end, errors.

Known-answer checks use toy encoders whose true answer is clear; the random-tiny CLIP is only a pipeline check.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import indirect_core as ic
from indirect_core.analysis.attribution import (METHODS, EmbeddingDistance, attribute, black_baseline, explain_images,
                                       mask_share, normalize_heatmap, transform_mask, unnormalize_image)
from indirect_core._util.errors import ConfigError

SIZE, HALF = 224, 112
# Occlusion bleeds window - stride = window // 2 pixels past an edge; window 16 keeps the bleed at 8 px.
METHOD_OPTIONS = {"smoothgrad": {}, "integrated_gradients": {}, "occlusion": {"window": 16}}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Captum builds occlusion masks with many tiny ops: one intra-op thread avoids thread-pool overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _quadrant_encoder(rows: slice, cols: slice, seed: int = 0):
    """A fixed random linear map (8 outputs) of one quadrant only: the true attribution lies in it.

    Each image goes through the same vector-matrix product on its own, so an image whose quadrant is untouched
    gets bit-identical features whatever batch it is in (a batched product rounds by batch size: 1e-5 bleed).
    """
    weights = torch.randn(3 * HALF * HALF, 8, generator=torch.Generator().manual_seed(seed)) / HALF
    return lambda pixels: torch.stack([row @ weights for row in pixels[:, :, rows, cols].flatten(1)])


def _halves_encoder(seed: int = 0):
    """Two features: feature 0 reads only the left half, feature 1 only the right half."""
    g = torch.Generator().manual_seed(seed)
    left, right = torch.randn(3, SIZE, HALF, generator=g), torch.randn(3, SIZE, HALF, generator=g)

    def encode(pixels: torch.Tensor) -> torch.Tensor:
        f0 = (pixels[..., :HALF] * left).sum(dim=(1, 2, 3))
        f1 = (pixels[..., HALF:] * right).sum(dim=(1, 2, 3))
        return torch.stack([f0, f1], dim=1) / HALF
    return encode


def _box(top: int, bottom: int, left: int, right: int, size: int = SIZE) -> torch.Tensor:
    """Bool (size, size) mask, True on rows [top, bottom) and columns [left, right)."""
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[top:bottom, left:right] = True
    return mask


@pytest.fixture(scope="module")
def random_pixels() -> torch.Tensor:
    return torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def black() -> torch.Tensor:
    return torch.full((3, SIZE, SIZE), -1.5)


TOP_LEFT = _box(0, HALF, 0, HALF)
LEFT = _box(0, SIZE, 0, HALF)


@pytest.mark.parametrize("method", METHODS)
def test_toy_quadrant_encoder_attribution_lies_in_its_quadrant(method, random_pixels, black):
    seen = EmbeddingDistance(_quadrant_encoder(slice(0, HALF), slice(0, HALF)), None, black)
    unseen = EmbeddingDistance(_quadrant_encoder(slice(HALF, SIZE), slice(HALF, SIZE)), None, black)
    maps = attribute(seen, random_pixels, method, **METHOD_OPTIONS[method])
    other = attribute(unseen, random_pixels, method, **METHOD_OPTIONS[method])
    assert maps.shape == (2, SIZE, SIZE) and (maps >= 0).all() and (other >= 0).all()
    shares = [mask_share(m, TOP_LEFT) for m in maps]
    far = [mask_share(m, TOP_LEFT) for m in other]
    if method == "occlusion":  # measured 0.93-0.96 (bleed band of 8 px at about half strength)
        assert min(shares) > 0.9 and max(far) < 0.05
    else:  # gradients outside the quadrant are exactly zero, noise or not
        assert min(shares) > 0.9999 and max(far) < 1e-4


def test_occlusion_bleed_stays_within_half_a_window(random_pixels, black):
    forward = EmbeddingDistance(_quadrant_encoder(slice(0, HALF), slice(0, HALF)), None, black)
    maps = attribute(forward, random_pixels[:1], "occlusion", window=32)
    assert mask_share(maps[0], _box(0, HALF + 16, 0, HALF + 16)) == 1.0  # no window past 128 sees the quadrant
    assert 0.8 < mask_share(maps[0], TOP_LEFT) < 1.0  # window 32 bleeds 16 px: coarser than window 16
    # A 2×2 spot at (120, 120) lies in the windows starting at 96 and 112 (stride 16): support [96, 144)².
    spot = EmbeddingDistance(lambda p: p[:, :, 120:122, 120:122].flatten(1), None, black)
    support = attribute(spot, random_pixels[:1], "occlusion", window=32)[0] > 0
    assert torch.equal(support, _box(96, 144, 96, 144))


@pytest.mark.parametrize("method", METHODS)
def test_projection_selects_the_half_its_feature_reads(method, random_pixels, black):
    encode = _halves_encoder()
    keep_left = EmbeddingDistance(encode, lambda e: e[:, :1], black)
    keep_right = EmbeddingDistance(encode, lambda e: e[:, 1:], black)
    left_map = attribute(keep_left, random_pixels[:1], method, samples=4, **METHOD_OPTIONS[method])[0]
    right_map = attribute(keep_right, random_pixels[:1], method, samples=4, **METHOD_OPTIONS[method])[0]
    assert mask_share(left_map, LEFT) > 0.9
    assert mask_share(right_map, ~LEFT) > 0.9
    both = attribute(EmbeddingDistance(encode, None, black), random_pixels[:1], method, samples=4,
                     **METHOD_OPTIONS[method])[0]
    assert 0.05 < mask_share(both, LEFT) < 0.95  # without the projection both halves matter


def test_smoothgrad_is_seeded_and_leaves_global_rng_alone(random_pixels, black):
    forward = EmbeddingDistance(_quadrant_encoder(slice(0, HALF), slice(0, HALF)), None, black)
    state = torch.get_rng_state()
    first = attribute(forward, random_pixels, samples=4, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, attribute(forward, random_pixels, samples=4, seed=3))
    assert not torch.allclose(first, attribute(forward, random_pixels, samples=4, seed=4))
    assert torch.equal(first[1:], attribute(forward, random_pixels[1:], samples=4, seed=3))  # per image
    noiseless = attribute(forward, random_pixels, samples=4, noise=0.0, seed=3)
    single = attribute(forward, random_pixels, samples=1, noise=0.0, seed=9)
    assert torch.allclose(noiseless, single, rtol=1e-5, atol=1e-7)  # no noise: the plain |gradient|


def _rectangle_images(width: int = 64, height: int = 48) -> tuple[Image.Image, Image.Image]:
    """A black RGB image with a pure red rectangle (rows 10..37, columns 10..49) and its "L" mask."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[10:38, 10:50, 0] = 255
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[10:38, 10:50] = 255
    return Image.fromarray(pixels), Image.fromarray(mask)


def test_transform_mask_follows_resize_and_centre_crop_by_hand():
    _, mask = _rectangle_images()
    # 64×48 -> shorter side 48 to 224: height 224, width int(224 * 64 / 48) = 298; crop left round(74 / 2) = 37.
    # Nearest: output row y reads source floor((y + .5) * 48 / 224): rows 10..37 -> y in 47..176;
    # resized column x reads floor((x + .5) * 64 / 298): columns 10..49 -> x in 47..232 -> cropped 10..195.
    out = transform_mask(mask)
    assert out.dtype == torch.bool and out.shape == (SIZE, SIZE)
    assert torch.equal(out, _box(47, 177, 10, 196))
    assert transform_mask(mask, size=96).shape == (96, 96)


def test_transform_mask_aligns_with_clip_preprocess(tiny_backbone):
    image, mask = _rectangle_images()
    red = torch.from_numpy(unnormalize_image(tiny_backbone.preprocess(image))[..., 0] > 0.5)
    out = transform_mask(mask)
    grow = lambda m: torch.nn.functional.max_pool2d(m[None, None].float(), 5, 1, 2)[0, 0].bool()  # noqa: E731
    inside, outside = ~grow(~out), ~grow(out)  # the mask shrunk / its complement shrunk by 2 px
    assert inside.sum() > 10_000 and red[inside].all() and not red[outside].any()


def test_black_baseline_and_unnormalize(tiny_backbone):
    baseline = black_baseline(tiny_backbone.preprocess)
    assert baseline.shape == (3, SIZE, SIZE)
    assert np.abs(unnormalize_image(baseline)).max() < 1e-6
    white = unnormalize_image(tiny_backbone.preprocess(Image.new("RGB", (50, 80), (255, 255, 255))))
    assert white.shape == (SIZE, SIZE, 3) and np.allclose(white, 1.0, atol=1e-5)


def test_normalize_heatmap_uses_percentile_and_min():
    heatmap = torch.arange(100.0).reshape(10, 10) + 5.0
    out = normalize_heatmap(heatmap)
    # v_min = 5, v_max = 99th percentile = 5 + 0.99 * 99 = 103.01: only the top value (104) saturates.
    assert out[0, 0] == 0 and out[9, 9] == 1
    assert out[9, 8] == pytest.approx(98 / 98.01, rel=1e-5)
    assert out[0, 1] == pytest.approx(1 / 98.01, rel=1e-5)
    assert torch.equal(normalize_heatmap(torch.ones(4, 4)), torch.zeros(4, 4))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return ic.load_dataset("synthetic-shapes", root=tmp_path_factory.mktemp("attr") / "shapes", n_images=20,
                           image_size=64, seed=0, progress=False)


@pytest.mark.parametrize("method", METHODS)
def test_end_to_end_random_tiny_in_an_indirect_space(method, tiny_backbone, shapes):
    prompts = [f"a photo of a {c} shape" for c in ("red", "green", "blue", "yellow", "purple", "orange")]
    space = ic.InDiReCT(n_components=4).fit(tiny_backbone.encode_texts(prompts))
    paths = shapes.image_paths[:2]
    maps = explain_images(tiny_backbone, paths, project=space.transform, method=method, samples=2,
                          progress=False)
    assert maps.shape == (2, SIZE, SIZE) and torch.isfinite(maps).all() and (maps >= 0).all()
    assert (maps.flatten(1).sum(1) > 0).all()
    for heat, mask_path in zip(maps, shapes.masks[:2]):
        normalized = normalize_heatmap(heat)
        assert normalized.min() >= 0 and normalized.max() <= 1 and normalized.max() == 1
        with Image.open(mask_path) as mask:
            assert 0.0 <= mask_share(heat, transform_mask(mask)) <= 1.0
    baseline = black_baseline(tiny_backbone.preprocess)
    for project in (None, space.transform):
        forward = EmbeddingDistance(tiny_backbone.model.encode_image, project, baseline)
        with torch.no_grad():
            assert float(forward(baseline.unsqueeze(0))[0]) < 1e-4


def test_errors_name_the_parameter(black):
    forward = EmbeddingDistance(_quadrant_encoder(slice(0, HALF), slice(0, HALF)), None, black)
    pixels = torch.zeros(1, 3, SIZE, SIZE)
    with pytest.raises(ConfigError, match=r"method='gradcam'.*smoothgrad.*integrated_gradients.*occlusion"):
        attribute(forward, pixels, method="gradcam")
    with pytest.raises(ConfigError, match="samples=0 must be a positive integer"):
        attribute(forward, pixels, samples=0)
    with pytest.raises(ConfigError, match="noise=-0.1 must be a non-negative"):
        attribute(forward, pixels, noise=-0.1)
    with pytest.raises(ConfigError, match="pixels must be a 4-D"):
        attribute(forward, pixels[0])
    with pytest.raises(ConfigError, match="window=300 is larger than the image"):
        attribute(forward, pixels, method="occlusion", window=300)
    with pytest.raises(ConfigError, match=r"heatmap shape \(224, 224\) and mask shape \(64, 64\) differ"):
        mask_share(torch.ones(SIZE, SIZE), torch.ones(64, 64, dtype=torch.bool))
    with pytest.raises(ConfigError, match="all zero"):
        mask_share(torch.zeros(8, 8), torch.ones(8, 8, dtype=torch.bool))
    with pytest.raises(ConfigError, match="paths must be a list"):
        explain_images(None, "image.png")


def test_explain_images_names_an_unreadable_file(tiny_backbone, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(ic.DatasetError, match="broken.png"):
        explain_images(tiny_backbone, [broken], progress=False)
