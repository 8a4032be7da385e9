"""Benchmark: ``encode_with_pseudo_tokens`` (prompt-length context) against the official 77-token computation.

What it measures
    Composed-prompt embedding with a pseudo-word token in place of ``*`` (what Pic2Word and LinCIR do for every
    query) on the real ViT-B/32 text tower size ("random-vit-b-32": OpenAI CLIP ViT-B/32 architecture, random
    weights, CPU, float32). Prompts: ``--n-prompts`` typical composed prompts "a photo of * , {modification}",
    the modifications drawn from synthetic-shapes-cir's templates ("is red", "has a navy background and is a
    star instead of a circle", ...; planned with ``plan_benchmark``, nothing rendered). Tokens: one random row
    per prompt (std 0.02, the scale of CLIP's token embeddings).
    Baseline, measured in the same run: the official computation written out here: ``clip.tokenize`` to 77
    tokens, the placeholder's embedding replaced with ``torch.where``, then ``encode_text``'s steps on the full
    context, rows L2-normalised; the same batches of 256 under ``torch.inference_mode``. Tokenisation is timed
    in both. Each side gets one warm-up batch; timings are the median of ``--repeats`` interleaved runs.

Acceptance
    max |ours - official| <= 1e-5 (on every prompt) AND speed-up (official seconds / ours) >= 3.0.

Run from the repository root: ``.venv/bin/python benchmarks/bench_pseudo_encoding.py`` (about 1.5 minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import sys

from _common import (OtherLoad, default_cache_dir, interleaved_medians, print_table, result_line, setup_torch,
                     time_call, warn_if_busy)


def composed_prompts(n: int, seed: int = 0) -> list[str]:
    """``n`` Pic2Word-style prompts over synthetic-shapes-cir's modification texts (one per planned query)."""
    from indirect_core.composed.synthetic import plan_benchmark

    _, queries, _ = plan_benchmark(n_queries=n, n_gallery=max(n, 2000), n_train=1, seed=seed)
    return [f"a photo of * , {q['caption']}" for q in queries]


def official_encode(model, prompts: list[str], tokens, batch_size: int):
    """The official path: 77-token ids, torch.where at the placeholder, CLIP's text transformer, unit rows."""
    import clip
    import torch

    token_id = int(clip.tokenize(["*"])[0, 1])
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            ids = clip.tokenize(prompts[start:start + batch_size], context_length=77)
            rows = tokens[start:start + batch_size]
            x = model.token_embedding(ids).type(model.dtype)
            x = torch.where((ids == token_id)[..., None], rows[:, None].type(model.dtype), x)
            x = x + model.positional_embedding.type(model.dtype)
            x = model.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
            x = model.ln_final(x).type(model.dtype)
            outputs.append((x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ model.text_projection).float())
    features = torch.cat(outputs)
    return features / features.norm(dim=1, keepdim=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="random-vit-b-32", help="backbone spec (default: random-vit-b-32)")
    parser.add_argument("--n-prompts", type=int, default=512, help="number of composed prompts (default 512)")
    parser.add_argument("--batch-size", type=int, default=256, help="batch size of both methods (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per method, median (default 3)")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="max abs difference allowed (1e-5)")
    parser.add_argument("--threshold", type=float, default=3.0, help="required speed-up (default 3.0)")
    parser.add_argument("--cache-dir", default=str(default_cache_dir()),
                        help="where the random-weight checkpoint is kept (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompts and tokens")
    args = parser.parse_args()

    setup_torch()
    warn_if_busy()
    load = OtherLoad()
    import clip
    import torch

    import indirect_core as ic
    from indirect_core.composed import encode_with_pseudo_tokens

    load_s, bb = time_call(lambda: ic.load_backbone(args.backbone, cache_dir=args.cache_dir))
    prompts = composed_prompts(args.n_prompts, args.seed)
    tokens = 0.02 * torch.randn(len(prompts), bb.token_width, generator=torch.Generator().manual_seed(args.seed))
    lengths = (clip.tokenize(prompts).argmax(dim=1) + 1).float()
    print(f"backbone {bb.name} (random weights: {bb.random_weights}), loaded in {load_s:.1f}s; "
          f"torch threads {torch.get_num_threads()}")
    print(f"{len(prompts)} prompts, {int(lengths.min())}-{int(lengths.max())} tokens (mean {lengths.mean():.1f}) "
          f"incl. start/end; batch size {args.batch_size}; e.g. {prompts[:2]}")

    warm = slice(0, args.batch_size)
    official_encode(bb.model, prompts[warm], tokens[warm], args.batch_size)
    encode_with_pseudo_tokens(bb, prompts[warm], tokens[warm], batch_size=args.batch_size)

    official_name, ours_name = "official (77 tokens)", "encode_with_pseudo_tokens (prompt length)"
    medians, all_times, values = interleaved_medians({
        official_name: lambda: official_encode(bb.model, prompts, tokens, args.batch_size),
        ours_name: lambda: encode_with_pseudo_tokens(bb, prompts, tokens, batch_size=args.batch_size),
    }, args.repeats)
    max_diff = float((values[official_name] - values[ours_name]).abs().max())
    ratio = medians[official_name] / medians[ours_name]

    print()
    print_table(["method", "median s", "prompts/s", "all runs s"],
                [[name, seconds, len(prompts) / seconds, " ".join(f"{t:.2f}" for t in all_times[name])]
                 for name, seconds in medians.items()])
    print()
    print_table(["check", "value", "limit", "ok"], [
        ["max abs diff", max_diff, args.tolerance, max_diff <= args.tolerance],
        ["speed-up (official / ours)", ratio, f">= {args.threshold}", ratio >= args.threshold],
    ])
    passed = max_diff <= args.tolerance and ratio >= args.threshold
    load.report()
    print(result_line("pseudo_encoding", ratio, f">= {args.threshold:g}x, max abs diff <= {args.tolerance:g}",
                      passed, f"max_abs_diff={max_diff:.2e}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
