"""Pixel attribution for a notion space: which pixels move an image's embedding away from a black image's.

The attributed function, as in the paper's explainer, is the Euclidean distance between an image's embedding
(raw CLIP or projected into a notion space) and the embedding of a preprocessed black image. Attribution
methods are Captum's, composed rather than hand-written: SmoothGrad (NoiseTunnel over Saliency, the paper's
choice), Integrated Gradients from the black image, and Occlusion with black patches.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from .._util.errors import ConfigError
from .._util.validation import check_int, check_number
from ..backbone.images import read_rgb
from ..backbone.model import CLIP_MEAN, CLIP_STD
from .._util.progress import progress_bar

METHODS = ("smoothgrad", "integrated_gradients", "occlusion")
METHOD_NAMES = {"smoothgrad": "SmoothGrad", "integrated_gradients": "Integrated Gradients", "occlusion": "Occlusion"}
"""Each method's name as the paper and Captum write it."""



def black_baseline(preprocess: Callable[[Image.Image], torch.Tensor], size: int = 500) -> torch.Tensor:
    """The preprocessed black size×size RGB image (3, H, W): the paper's reference point for distances."""
    size = check_int("size", size, hint="the paper uses a 500×500 black image")
    black = Image.fromarray(np.zeros((size, size, 3), dtype=np.uint8))
    return preprocess(black)


class EmbeddingDistance(torch.nn.Module):
    """Distance from each image's (projected) embedding to the baseline's: the function being explained.

    ``project=None`` measures in CLIP's own space; e.g. ``InDiReCT.transform`` measures in a notion's space.
    """

    def __init__(self, encode_image: Callable[[torch.Tensor], torch.Tensor],
                 project: Callable[[torch.Tensor], torch.Tensor] | None, baseline: torch.Tensor) -> None:
        super().__init__()
        if not isinstance(baseline, torch.Tensor) or baseline.ndim != 3:
            shape = tuple(baseline.shape) if isinstance(baseline, torch.Tensor) else type(baseline).__name__
            raise ConfigError(f"baseline must be a (3, H, W) tensor, got {shape}: use black_baseline(preprocess)")
        self.encode_image = encode_image
        self.project = project
        self.register_buffer("baseline", baseline.detach().clone())
        with torch.no_grad():
            self.register_buffer("baseline_embedding", self.embed(self.baseline.unsqueeze(0)).detach())

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, d) float32 embedding: the encoder's output, projected when a projection is set."""
        embedding = self.encode_image(pixels).float()
        if self.project is not None:
            embedding = self.project(embedding).float()
        return embedding

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B,) Euclidean distance to the baseline embedding; keeps the autograd graph for attribution."""
        embedding = self.embed(pixels)
        target = self.baseline_embedding.to(embedding.device)
        return torch.linalg.vector_norm(embedding - target, dim=1).to(pixels.device)


def attribute(forward: EmbeddingDistance, pixels: torch.Tensor, method: str = "smoothgrad",
              samples: int = 25, noise: float = 0.15, window: int = 32, seed: int = 0,
              batch_size: int = 8) -> torch.Tensor:
    """Non-negative (B, H, W) heat maps: |attribution| summed over channels, one image at a time.

    ``samples``: SmoothGrad noisy copies or Integrated-Gradients steps; ``noise``: SmoothGrad std as a share of
    each image's value range; ``window``: occlusion patch side (stride half of it); ``batch_size`` bounds how
    many copies/steps/patches go through the model at once.
    """
    _check_attribute_args(forward, pixels, method, samples, noise, window, batch_size)
    maps = [_attribute_one(forward, image.unsqueeze(0), method, samples, noise, window, seed, batch_size)
            for image in pixels]
    return torch.cat(maps)


def _check_attribute_args(forward: Callable, pixels: torch.Tensor, method: str, samples: int, noise: float,
                          window: int, batch_size: int) -> None:
    """Validate ``attribute``'s arguments up front, with messages that name the parameter."""
    if method not in METHODS:
        raise ConfigError(f"method={method!r} is not known: use one of {METHODS}")
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4:
        shape = tuple(pixels.shape) if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise ConfigError(f"pixels must be a 4-D (B, 3, H, W) tensor, got {shape}: add a batch dimension "
                          "with pixels.unsqueeze(0)")
    check_int("samples", samples, hint="e.g. 25 as in the paper")
    check_int("window", window, hint="e.g. 32")
    check_int("batch_size", batch_size, hint="e.g. 8")
    check_number("noise", noise, minimum=0, hint="the paper uses 0.15")
    if window > min(pixels.shape[-2:]):
        raise ConfigError(f"window={window} is larger than the image ({pixels.shape[-2]}×{pixels.shape[-1]}): "
                          "choose a smaller occlusion window")
    baseline = getattr(forward, "baseline", None)
    if method != "smoothgrad" and (baseline is None or baseline.shape != pixels.shape[1:]):
        got = None if baseline is None else tuple(baseline.shape)
        raise ConfigError(f"method={method!r} needs forward.baseline of shape {tuple(pixels.shape[1:])}, got "
                          f"{got}: build forward as EmbeddingDistance(..., baseline=black_baseline(preprocess))")


def describe_method(method: str, samples: int = 25, noise: float = 0.15, window: int = 32) -> str:
    """One sentence saying how the maps are made with these settings (the ones that method uses)."""
    if method not in METHODS:
        raise ConfigError(f"method={method!r} is not known: use one of {METHODS}")
    if method == "smoothgrad":
        return (f"{METHOD_NAMES[method]} (Captum's NoiseTunnel(Saliency)): the mean absolute gradient over {samples} "
                f"noisy copies of the image, noise std {noise:g} × the image's range.")
    if method == "integrated_gradients":
        return (f"{METHOD_NAMES[method]}: gradients integrated in {samples} steps along the straight path from the "
                "black image to the image.")
    return (f"{METHOD_NAMES[method]}: the change of the distance when a black {window}×{window} px window covers "
            f"each part of the image (stride {max(1, window // 2)} px).")


def _attribute_one(forward: EmbeddingDistance, image: torch.Tensor, method: str, samples: int, noise: float,
                   window: int, seed: int, batch_size: int) -> torch.Tensor:
    """(1, H, W) heat map of one image with the chosen Captum method."""
    if method == "smoothgrad":
        raw = _smoothgrad(forward, image, samples, noise, seed, batch_size)
    elif method == "integrated_gradients":
        raw = _integrated_gradients(forward, image, samples, batch_size)
    else:
        raw = _occlusion(forward, image, window, batch_size)
    return raw.detach().abs().sum(dim=1).float()


def _smoothgrad(forward: Callable, image: torch.Tensor, samples: int, noise: float, seed: int,
                batch_size: int) -> torch.Tensor:
    """NoiseTunnel(Saliency): mean |gradient| over noisy copies, noise std = noise × the image's range.

    The noise is drawn from a forked RNG seeded with ``seed``: the same seed gives the same map, and the
    caller's random state is left untouched.
    """
    from captum.attr import NoiseTunnel, Saliency

    stdev = float(noise * (image.max() - image.min()))
    devices = [image.device.index or 0] if image.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return NoiseTunnel(Saliency(forward)).attribute(
            _grad_input(image), nt_type="smoothgrad", nt_samples=samples,
            nt_samples_batch_size=min(samples, batch_size), stdevs=stdev)


def _integrated_gradients(forward: EmbeddingDistance, image: torch.Tensor, samples: int,
                          batch_size: int) -> torch.Tensor:
    """Integrated Gradients along the straight path from the black baseline, ``samples`` steps."""
    from captum.attr import IntegratedGradients

    baseline = forward.baseline.to(image.device, image.dtype).unsqueeze(0)
    return IntegratedGradients(forward).attribute(_grad_input(image), baselines=baseline, n_steps=samples,
                                                  internal_batch_size=batch_size)


def _occlusion(forward: EmbeddingDistance, image: torch.Tensor, window: int, batch_size: int) -> torch.Tensor:
    """Occlusion with black (baseline) window×window patches at stride window // 2, all channels at once."""
    from captum.attr import Occlusion

    stride = max(1, window // 2)
    baseline = forward.baseline.to(image.device, image.dtype).unsqueeze(0)
    return Occlusion(forward).attribute(image.detach(), sliding_window_shapes=(image.shape[1], window, window),
                                        strides=(image.shape[1], stride, stride), baselines=baseline,
                                        perturbations_per_eval=batch_size)


def _grad_input(image: torch.Tensor) -> torch.Tensor:
    """A leaf copy that requires grad, so Captum neither warns nor touches the caller's tensor."""
    return image.detach().clone().requires_grad_(True)


def normalize_heatmap(heatmap: torch.Tensor, percentile: float = 99.0) -> torch.Tensor:
    """Scale to [0, 1] as the authors do: v_min = min, v_max = the percentile, then clip (outliers saturate)."""
    heatmap = _as_map(heatmap, "heatmap")
    check_number("percentile", percentile, above=0, maximum=100, hint="the authors use 99")
    values = heatmap.double().flatten()
    v_min = values.min()
    v_max = torch.quantile(values, percentile / 100.0)
    if v_max <= v_min:
        return torch.zeros_like(heatmap, dtype=torch.float32)
    return ((heatmap.double() - v_min) / (v_max - v_min)).clamp(0.0, 1.0).float()


def _as_map(values: torch.Tensor, name: str) -> torch.Tensor:
    """A 2-D (H, W) tensor from a tensor/array, or a ConfigError naming ``name``."""
    tensor = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
    if tensor.ndim != 2:
        raise ConfigError(f"{name} must be a 2-D (H, W) map, got shape {tuple(tensor.shape)}: "
                          "pass one image's map, e.g. maps[0]")
    return tensor.detach().cpu()


def transform_mask(mask: Image.Image, size: int = 224) -> torch.Tensor:
    """(size, size) bool object mask under CLIP's preprocess geometry, so it aligns with attribution maps.

    Same steps as CLIP: shorter side resized to ``size`` (NEAREST, so labels stay crisp), centre crop.
    """
    from torchvision.transforms import CenterCrop, InterpolationMode, Resize

    if not isinstance(mask, Image.Image):
        raise ConfigError(f"mask must be a PIL image, got {type(mask).__name__}: open it with PIL.Image.open")
    check_int("size", size, hint="CLIP ViT-B/32 uses 224")
    resized = Resize(int(size), interpolation=InterpolationMode.NEAREST)(mask.convert("L"))
    cropped = CenterCrop(int(size))(resized)
    return torch.from_numpy(np.asarray(cropped) > 0)


def mask_share(heatmap: torch.Tensor, mask: torch.Tensor) -> float:
    """Share (0..1) of the total attribution that falls inside the object mask."""
    heatmap = _as_map(heatmap, "heatmap").double()
    mask = _as_map(mask, "mask")
    if heatmap.shape != mask.shape:
        raise ConfigError(f"heatmap shape {tuple(heatmap.shape)} and mask shape {tuple(mask.shape)} differ: "
                          "map the mask through transform_mask(mask, size) with the map's size")
    if (heatmap < 0).any():
        raise ConfigError("heatmap has negative values: pass a non-negative map such as attribute()'s output")
    total = heatmap.sum()
    if not total > 0:
        raise ConfigError("heatmap is all zero, so no share can be computed: check the image and the model")
    return float(heatmap[mask.bool()].sum() / total)


def summarize_mask_share(shares: pd.DataFrame) -> pd.DataFrame:
    """Per space, the mean share of attribution inside the object and the mean object area (the share a uniform
    map would give), with readable column names, rounded for reading."""
    table = shares.groupby("space", sort=False)[["mask_share", "object_area"]].mean()
    return table.rename(columns={"mask_share": "attribution inside the object",
                                 "object_area": "object area (uniform map)"}).round(3)


def describe_mask_share(shares: pd.DataFrame) -> str:
    """What the mask shares show, as measured, in one sentence per space: the mean share of attribution inside the
    object against the object's area (what a uniform map gives), and whether the background-colour space, if any,
    looks less at the object than the other notion spaces (the paper's expectation)."""
    table = shares.groupby("space", sort=False)[["mask_share", "object_area"]].mean()
    area = float(table["object_area"].mean())
    lines = [f"{space}: {100 * row.mask_share:.1f} % of the attribution inside the object "
             f"({'more' if row.mask_share > row.object_area else 'not more'} than a uniform map's "
             f"{100 * row.object_area:.1f} %)." for space, row in table.iterrows()]
    background = [s for s in table.index if "background" in str(s).lower()]
    others = [s for s in table.index if s not in background and str(s) != "CLIP"]
    if background and others:
        low = table.loc[background, "mask_share"].max() < table.loc[others, "mask_share"].min()
        lines.append(f"The paper expects the background-colour space to look less at the object than the other notion "
                     f"spaces; here it {'does' if low else 'does not'}.")
    return f"Mean over {shares['image'].nunique()} image(s), object area {100 * area:.1f} %: " + " ".join(lines)


def explain_images(backbone, paths: Sequence[str | Path],
                   project: Callable[[torch.Tensor], torch.Tensor] | None = None,
                   method: str = "smoothgrad", samples: int = 25, noise: float = 0.15, window: int = 32,
                   seed: int = 0, batch_size: int = 8, progress: bool = True,
                   space: str | None = None) -> torch.Tensor:
    """Raw (N, H, W) heat maps of image files, one image at a time, with the backbone's preprocessing.

    ``project`` picks the space (``None``: CLIP's; e.g. ``space.transform`` for a fitted InDiReCT space);
    ``space`` names it in the progress bar.
    """
    if isinstance(paths, (str, Path)):
        raise ConfigError("paths must be a list of image paths, got one path: wrap it as [path]")
    paths = list(paths)
    if not paths:
        raise ConfigError("paths is empty: give at least one image path")
    device = getattr(backbone, "device", torch.device("cpu"))
    baseline = black_baseline(backbone.preprocess).to(device)
    forward = EmbeddingDistance(backbone.model.encode_image, project, baseline)
    maps = []
    name = METHOD_NAMES.get(method, method)
    desc = f"{name} · {space}" if space else f"attribution ({name})"
    for path in progress_bar(paths, desc=desc, unit="img", disable=not progress, leave=False):
        pixels = _load_pixels(path, backbone.preprocess).unsqueeze(0).to(device)
        maps.append(attribute(forward, pixels, method=method, samples=samples, noise=noise, window=window,
                              seed=seed, batch_size=batch_size).cpu())
    return torch.cat(maps)


def _load_pixels(path: str | Path, preprocess: Callable[[Image.Image], torch.Tensor]) -> torch.Tensor:
    """Decode one image as RGB and preprocess it, or a DatasetError naming the file."""
    return preprocess(read_rgb(path))


def unnormalize_image(pixels: torch.Tensor) -> np.ndarray:
    """(H, W, 3) float array in [0, 1]: CLIP's normalisation undone, for drawing under a heat map."""
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 3 or pixels.shape[0] != 3:
        shape = tuple(pixels.shape) if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise ConfigError(f"pixels must be one preprocessed (3, H, W) image, got {shape}: index a batch "
                          "with pixels[i]")
    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1)
    std = torch.tensor(CLIP_STD).view(3, 1, 1)
    image = pixels.detach().cpu().float() * std + mean
    return image.clamp(0.0, 1.0).permute(1, 2, 0).numpy()
