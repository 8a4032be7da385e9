"""Benchmark: image-feature caching throughput (``ic.image_features``) against the model alone.

What it measures
    ViT-B/32 architecture with random weights ("random-vit-b-32"), float32 on CPU, on N JPEG files of a
    realistic size (default 192 files, 500x375, smooth random content, quality 90) written to a temporary
    ``root/<label>/*.jpg`` folder and loaded with ``ic.load_dataset("image-folder", root=...)``.
      (a) model only: the images preprocessed beforehand and held in memory; ``bb.model.encode_image`` batch
          by batch (batch size B) under ``torch.inference_mode``. The ceiling for (b).
      (b) caching: ``ic.image_features(bb, dataset, cache_dir=<fresh temp dir>, batch_size=B, num_workers=W,
          progress=False)``: decoding, preprocessing, the forward passes and writing the shards, for
          W = 1 and 2 (``--workers``); the best W decides the verdict.
      (c) one image at a time, as the authors' code does: for each path
          ``preprocess(Image.open(p).convert("RGB")).unsqueeze(0)`` then ``encode_image``.
    Throughput = images / median seconds of ``--repeats`` interleaved runs after a warm-up.
    Sanity: the features from (b) equal those from (c) to 1e-4 (max abs difference).

Acceptance
    best (b) / (a) >= 0.85 AND best (b) / (c) > 1.0 AND the sanity check holds.

Run from the repository root: ``.venv/bin/python benchmarks/bench_image_cache.py`` (about 2-3 minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _common import (OtherLoad, default_cache_dir, interleaved_medians, print_table, result_line, setup_torch,
                     time_call, warn_if_busy)


def write_jpegs(root: Path, n: int, width: int, height: int, quality: int, n_labels: int, seed: int) -> None:
    """``n`` JPEGs of smooth random content (upsampled low-resolution noise plus a gradient) in label folders."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 60, width, dtype=np.float32)[None, :, None]
    for index in range(n):
        folder = root / f"label{index % n_labels}"
        folder.mkdir(parents=True, exist_ok=True)
        coarse = rng.integers(0, 256, size=(rng.integers(4, 10), rng.integers(4, 10), 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.float32)
        detail = rng.normal(0, 6, size=(height, width, 3)).astype(np.float32)  # a little texture, like photos
        pixels = np.clip(smooth * 0.8 + ramp + detail, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img{index:05d}.jpg", quality=quality)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-images", type=int, default=192, help="JPEG files to create (default 192)")
    parser.add_argument("--size", type=int, nargs=2, default=[500, 375], metavar=("W", "H"),
                        help="image size in pixels (default 500 375)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size B of (a) and (b) (default 32)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="num_workers values tried for (b) (default 1 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, median (default 3)")
    parser.add_argument("--threshold", type=float, default=0.85, help="min (b)/(a) throughput ratio (0.85)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max abs diff of (b) vs (c) (1e-4)")
    parser.add_argument("--backbone", default="random-vit-b-32", help="backbone spec (default random-vit-b-32)")
    parser.add_argument("--cache-dir", default=str(default_cache_dir()),
                        help="where the random-weight checkpoint is kept (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image content")
    args = parser.parse_args()

    setup_torch()
    warn_if_busy()
    load = OtherLoad()
    import torch
    from PIL import Image

    import indirect_core as ic

    work = Path(tempfile.mkdtemp(prefix="bench_image_cache_"))
    try:
        root = work / "images"
        seconds, _ = time_call(lambda: write_jpegs(root, args.n_images, args.size[0], args.size[1], args.quality,
                                                   n_labels=4, seed=args.seed))
        backbone = ic.load_backbone(args.backbone, cache_dir=args.cache_dir)
        dataset = ic.load_dataset("image-folder", root=root)
        paths = list(dataset.image_paths)
        size_kb = sum(p.stat().st_size for p in paths) / len(paths) / 1024
        print(f"{len(paths)} JPEGs {args.size[0]}x{args.size[1]} q{args.quality} (mean {size_kb:.0f} KiB) written "
              f"in {seconds:.1f}s; backbone {backbone.name}; batch size {args.batch_size}; "
              f"torch threads {torch.get_num_threads()}")
        model, preprocess, batch = backbone.model, backbone.preprocess, args.batch_size

        def decode(path):
            with Image.open(path) as image:
                return preprocess(image.convert("RGB"))

        pixels = torch.stack([decode(p) for p in paths])  # (a)'s input, prepared outside the timing

        def model_only():
            with torch.inference_mode():
                return torch.cat([model.encode_image(pixels[i:i + batch]).float()
                                  for i in range(0, len(pixels), batch)])

        def one_at_a_time():
            rows = []
            with torch.inference_mode():
                for path in paths:
                    rows.append(model.encode_image(
                        preprocess(Image.open(path).convert("RGB")).unsqueeze(0)).float())
            return torch.cat(rows)

        counter = iter(range(10 ** 6))

        def caching(workers, data=dataset):
            folder = work / f"cache{next(counter)}"  # fresh cache folder: everything is computed
            try:
                return ic.image_features(backbone, data, cache_dir=folder, batch_size=batch,
                                         num_workers=workers, progress=False).features
            finally:
                shutil.rmtree(folder, ignore_errors=True)

        # Warm-up on a couple of batches of each path.
        warm = dataset.subset(list(range(min(len(dataset), 2 * batch))))
        with torch.inference_mode():
            model.encode_image(pixels[:batch])
            model.encode_image(pixels[:1])
        for workers in args.workers:
            caching(workers, warm)

        methods = {"(a) model only, in-memory tensors": model_only}
        for workers in args.workers:
            methods[f"(b) image_features, num_workers={workers}"] = lambda w=workers: caching(w)
        methods["(c) one image at a time"] = one_at_a_time
        medians, all_times, values = interleaved_medians(methods, args.repeats)

        rate = {name: len(paths) / seconds for name, seconds in medians.items()}
        model_rate, single_rate = rate["(a) model only, in-memory tensors"], rate["(c) one image at a time"]
        cache_names = [name for name in methods if name.startswith("(b)")]
        best = max(cache_names, key=lambda name: rate[name])
        single = values["(c) one image at a time"]
        diffs = {name: float((values[name] - single).abs().max()) for name in cache_names}
        model_diff = float((values["(a) model only, in-memory tensors"] - single).abs().max())

        print()
        print_table(["method", "median s", "images/s", "vs (a)", "vs (c)", "max |diff| vs (c)", "all runs s"], [
            [name, medians[name], rate[name], f"{rate[name] / model_rate:.2f}", f"{rate[name] / single_rate:.2f}",
             diffs.get(name, model_diff if name.startswith("(a)") else 0.0),
             " ".join(f"{t:.2f}" for t in all_times[name])] for name in methods])
        ratio, speedup = rate[best] / model_rate, rate[best] / single_rate
        sane = max(diffs.values()) <= args.tolerance
        print()
        print_table(["check", "value", "limit", "ok"], [
            [f"best caching / model only ({best[4:]})", ratio, f">= {args.threshold}", ratio >= args.threshold],
            ["best caching / one at a time", speedup, "> 1.0", speedup > 1.0],
            ["max |features (b) - (c)|", max(diffs.values()), args.tolerance, sane],
        ])
        passed = ratio >= args.threshold and speedup > 1.0 and sane
        load.report()
        print(result_line("image_cache", ratio, f"(b)/(a) >= {args.threshold:g}, (b)/(c) > 1, diff <= "
                          f"{args.tolerance:g}", passed, f"vs_one_at_a_time={speedup:.2f} "
                          f"max_abs_diff={max(diffs.values()):.1e}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
