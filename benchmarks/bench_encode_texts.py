"""Benchmark: ``Backbone.encode_texts`` (prompt-length context) against CLIP's 77-token ``encode_text``.

What it measures
    Prompt embedding with the real ViT-B/32 text tower size ("random-vit-b-32": OpenAI CLIP ViT-B/32
    architecture, random weights, CPU, float32) on ~600 typical short prompts (4-12 words, e.g.
    "a photo of a toyota corolla", "a red car parked on a street", "a car in front of a green background").
    Baseline, measured in the same run: ``bb.model.encode_text(clip.tokenize(batch))`` (77 tokens) in the
    same batches of 256 under ``torch.inference_mode``, rows L2-normalised afterwards. Tokenisation is timed
    in both. Each side gets one warm-up batch; timings are the median of ``--repeats`` interleaved runs.

    A second correctness check feeds a few prompts that tokenize to id 0 (CLIP's BPE token for "!" when
    followed by punctuation such as "!(" or "!/") and are the longest of their batch: the features must
    equal the 77-token ones as well (``--no-edge-cases`` leaves this out of the verdict).

Acceptance
    max |encode_texts - normalise(encode_text)| <= 1e-5 (on every prompt) AND speed-up
    (baseline seconds / encode_texts seconds) >= 4.0.

Run from the repository root: ``.venv/bin/python benchmarks/bench_encode_texts.py`` (about 2 minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import random
import sys

from _common import (OtherLoad, default_cache_dir, interleaved_medians, print_table, result_line, setup_torch,
                     time_call, warn_if_busy)

MAKES_MODELS = [
    "toyota corolla", "toyota prius", "honda civic", "honda accord", "ford focus", "ford mustang",
    "ford f-150", "chevrolet camaro", "chevrolet silverado", "volkswagen golf", "volkswagen beetle",
    "bmw 3 series", "bmw x5", "audi a4", "audi tt", "mercedes-benz c-class", "porsche 911", "tesla model 3",
    "nissan leaf", "mazda mx-5", "subaru impreza", "hyundai elantra", "kia sportage", "volvo xc90",
    "jeep wrangler", "fiat 500", "mini cooper", "land rover defender", "peugeot 208", "renault clio",
]
COLOURS = ["red", "blue", "green", "black", "white", "silver", "grey", "yellow", "orange", "brown", "purple",
           "dark blue"]
VIEWS = ["front", "side", "rear", "top", "three-quarter"]
PLACES = ["on a road", "on a street", "in a parking lot", "in a garage", "on a highway", "in the desert",
          "in the snow", "at night"]
TEMPLATES = [
    "a photo of a {mm}",
    "a photo of the {mm}",
    "a {colour} car {place}",
    "a photo of a {colour} car",
    "a car in front of a {colour} background",
    "a {colour} {mm}",
    "a {view} view of a {mm}",
    "a photo of a {colour} {mm} {place}",
    "a {mm} parked {place}",
    "a blurry photo of a {colour} car",
]
# Prompts that tokenize to id 0 ("!" before some punctuation), each the longest of its batch.
EDGE_CASE_BATCHES = [
    ["a photo of a red car!(sports model)", "a car"],
    ["a blue car!/truck", "a green car"],
    ["sale!{today} a black toyota corolla", "a photo of a car", "a white car"],
]


def make_prompts(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct typical prompts of 4-12 words from the word lists above, drawn evenly over the
    templates (round robin) in a seeded random order."""
    rng = random.Random(seed)
    per_template = []
    for template in TEMPLATES:
        filled = sorted({template.format(mm=mm, colour=colour, view=view, place=place)
                         for mm in MAKES_MODELS for colour in COLOURS for view in VIEWS for place in PLACES})
        filled = [p for p in filled if 4 <= len(p.split()) <= 12]
        rng.shuffle(filled)
        per_template.append(filled)
    chosen: list[str] = []
    seen: set[str] = set()
    while len(chosen) < n and any(per_template):
        for candidates in per_template:
            while candidates and len(chosen) < n:
                prompt = candidates.pop()
                if prompt not in seen:
                    seen.add(prompt)
                    chosen.append(prompt)
                    break
    rng.shuffle(chosen)
    return chosen


def baseline_encode(model, prompts: list[str], batch_size: int):
    """CLIP's own path: 77-token tokenisation, ``encode_text``, then unit rows."""
    import clip
    import torch

    outputs = []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            tokens = clip.tokenize(prompts[start:start + batch_size])
            outputs.append(model.encode_text(tokens).float())
    features = torch.cat(outputs)
    return features / features.norm(dim=1, keepdim=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="random-vit-b-32", help="backbone spec (default: random-vit-b-32)")
    parser.add_argument("--n-prompts", type=int, default=600, help="number of prompts (default 600)")
    parser.add_argument("--batch-size", type=int, default=256, help="batch size of both methods (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per method, median (default 3)")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="max abs difference allowed (1e-5)")
    parser.add_argument("--threshold", type=float, default=4.0, help="required speed-up (default 4.0)")
    parser.add_argument("--no-edge-cases", action="store_true",
                        help="leave the token-id-0 prompts out of the verdict (still printed)")
    parser.add_argument("--cache-dir", default=str(default_cache_dir()),
                        help="where the random-weight checkpoint is kept (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompt sample")
    args = parser.parse_args()

    setup_torch()
    warn_if_busy()
    load = OtherLoad()
    import torch

    import indirect_core as ic

    load_s, bb = time_call(lambda: ic.load_backbone(args.backbone, cache_dir=args.cache_dir))
    prompts = make_prompts(args.n_prompts, args.seed)
    words = [len(p.split()) for p in prompts]
    import clip
    tokens = clip.tokenize(prompts)
    lengths = (tokens.argmax(dim=1) + 1).float()
    print(f"backbone {bb.name} (random weights: {bb.random_weights}), loaded in {load_s:.1f}s; "
          f"torch threads {torch.get_num_threads()}")
    print(f"{len(prompts)} prompts, {min(words)}-{max(words)} words, {int(lengths.min())}-{int(lengths.max())} "
          f"tokens (mean {lengths.mean():.1f}) incl. start/end; batch size {args.batch_size}; "
          f"e.g. {prompts[:3]}")

    # Warm-up: one batch through each path (the first call of a fresh model is much slower).
    warm = prompts[:args.batch_size]
    baseline_encode(bb.model, warm, args.batch_size)
    bb.encode_texts(warm, batch_size=args.batch_size)

    medians, all_times, values = interleaved_medians({
        "clip encode_text (77 tokens)": lambda: baseline_encode(bb.model, prompts, args.batch_size),
        "encode_texts (prompt length)": lambda: bb.encode_texts(prompts, batch_size=args.batch_size),
    }, args.repeats)
    reference, ours = values["clip encode_text (77 tokens)"], values["encode_texts (prompt length)"]
    max_diff = float((reference - ours).abs().max())
    base_s, ours_s = medians["clip encode_text (77 tokens)"], medians["encode_texts (prompt length)"]
    ratio = base_s / ours_s

    edge_diffs = []
    for batch in EDGE_CASE_BATCHES:
        edge_diffs.append(float((baseline_encode(bb.model, batch, args.batch_size)
                                 - bb.encode_texts(batch, batch_size=args.batch_size)).abs().max()))
    edge_diff = max(edge_diffs)

    print()
    rows = []
    for name, seconds in medians.items():
        rows.append([name, seconds, len(prompts) / seconds, " ".join(f"{t:.2f}" for t in all_times[name])])
    print_table(["method", "median s", "prompts/s", "all runs s"], rows)
    print()
    print_table(["check", "value", "limit", "ok"], [
        ["max abs diff, typical prompts", max_diff, args.tolerance, max_diff <= args.tolerance],
        ["max abs diff, token-id-0 prompts" + (" (not in verdict)" if args.no_edge_cases else ""),
         edge_diff, args.tolerance, edge_diff <= args.tolerance],
        ["speed-up (baseline / encode_texts)", ratio, f">= {args.threshold}", ratio >= args.threshold],
    ])
    if edge_diff > args.tolerance:
        print(f"\nMISMATCH: encode_texts differs from encode_text by {edge_diff:.3g} on prompts containing token "
              f"id 0, e.g. {EDGE_CASE_BATCHES[0][0]!r} -> {clip.tokenize(EDGE_CASE_BATCHES[0][:1])[0, :12].tolist()}"
              ": the batch length (count of non-zero tokens) cuts off the end-of-text token.")
    passed = max_diff <= args.tolerance and ratio >= args.threshold
    if not args.no_edge_cases:
        passed = passed and edge_diff <= args.tolerance
    load.report()
    print(result_line("encode_texts", ratio, f">= {args.threshold:g}x, max abs diff <= {args.tolerance:g}", passed,
                      f"max_abs_diff={max_diff:.2e} edge_case_diff={edge_diff:.2e}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
