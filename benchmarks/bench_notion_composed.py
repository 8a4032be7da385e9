"""Benchmark: InDiReCT-CIR's cost per query against image + text, at a gallery of 100 000 images.

What it measures
    Composed queries over a gallery of ``--gallery`` images (default 100 000; random unit features of the
    backbone's width stand in for CLIP image features: ranking costs the same whatever the pixels). Queries:
    ``--n-queries`` of synthetic-shapes-cir's modification texts (planned with ``plan_benchmark``, nothing
    rendered; half of them change two factors, so they have two clauses), each with a random reference image of
    the gallery. Both methods go through the evaluation's own path: ``baselines.query_features`` (text encoding;
    InDiReCT-CIR also routes each clause and composes its parts) and ``rank_gallery`` (top 50, chunked like every
    method). InDiReCT-CIR uses the four synthetic-shapes-cir notions (shape, object colour, background colour,
    size), each space fitted on its prompts before the timing, k = ``--n-components``.
    Its one-off work per gallery (embedding every image in the four spaces and their covariances, as an index is
    built once) is timed on its own and reported, amortised over the queries, beside the per-query ratio.
    Baseline, measured in the same run: image + text (normalize(image) + normalize(text)) on the raw features.
    Each side gets one warm-up; timings are the median of ``--repeats`` interleaved runs.

Acceptance
    per-query time ratio (InDiReCT-CIR / image + text, the gallery's one-off embedding excluded) <= 2.0.

Run from the repository root: ``.venv/bin/python benchmarks/bench_notion_composed.py`` (a few minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import sys

from _common import (OtherLoad, default_cache_dir, interleaved_medians, print_table, result_line, setup_torch,
                     time_call, warn_if_busy)


def query_set(n_queries: int, n_gallery: int, seed: int):
    """A QuerySet of synthetic-shapes-cir's texts over ``n_gallery`` stand-in images (no file is opened)."""
    import numpy as np
    import pandas as pd

    from indirect_core.composed import QuerySet
    from indirect_core.composed.synthetic import plan_benchmark
    from indirect_core.data.datasets import Dataset

    _, queries, _ = plan_benchmark(n_queries=n_queries, n_gallery=max(n_queries, 2000), n_train=1, seed=seed)
    names = [f"g{i:06d}" for i in range(n_gallery)]
    images = Dataset(name="stand-in gallery", root=".", image_paths=tuple(f"{n}.png" for n in names),
                     labels=pd.DataFrame({"name": names}))
    reference = np.random.default_rng(seed).choice(n_gallery, n_queries, replace=False)
    return QuerySet(benchmark="synthetic-shapes-cir", split="test", subset="", images=images, reference=reference,
                    captions=tuple((q["caption"],) for q in queries), targets=tuple((0,) for _ in queries),
                    gallery=np.arange(n_gallery), exclude_reference=True,
                    info=pd.DataFrame({"changed": [q["changed"] for q in queries]}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="random-vit-b-32", help="backbone spec (default: random-vit-b-32)")
    parser.add_argument("--gallery", type=int, default=100_000, help="gallery images (default 100000)")
    parser.add_argument("--n-queries", type=int, default=500, help="composed queries (default 500)")
    parser.add_argument("--n-components", type=int, default=128, help="k of each notion space (default 128)")
    parser.add_argument("--solver", default="indirect", help="InDiReCT solver of the spaces (default: indirect)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per method, median (default 3)")
    parser.add_argument("--threshold", type=float, default=2.0, help="largest allowed ratio (default 2.0)")
    parser.add_argument("--cache-dir", default=str(default_cache_dir()),
                        help="where the random-weight checkpoint is kept (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the texts, references and gallery")
    args = parser.parse_args()

    setup_torch()
    warn_if_busy()
    load = OtherLoad()
    import torch

    import indirect_core as ic
    from indirect_core.composed import query_features, rank_gallery
    from indirect_core.composed.notion_composed import NotionComposed
    from indirect_core.composed.notion_spaces import fit_notion_spaces
    from indirect_core.data.notions import SYNTHETIC_CIR_NOTIONS

    load_s, bb = time_call(lambda: ic.load_backbone(args.backbone, cache_dir=args.cache_dir))
    qs = query_set(args.n_queries, args.gallery, args.seed)
    gallery = torch.nn.functional.normalize(
        torch.randn(args.gallery, bb.embed_dim, generator=torch.Generator().manual_seed(args.seed)), dim=1)
    fit_s, spaces = time_call(lambda: fit_notion_spaces(bb, SYNTHETIC_CIR_NOTIONS, solver=args.solver,
                                                        n_components=args.n_components))
    print(f"backbone {bb.name} (random weights: {bb.random_weights}), loaded in {load_s:.1f}s; torch threads "
          f"{torch.get_num_threads()}; {len(spaces)} notion spaces ({args.solver}, k={args.n_components}) fitted "
          f"on their prompts in {fit_s:.1f}s")
    print(f"{len(qs)} queries over a gallery of {args.gallery} images; "
          f"{int((qs.info['changed'].str.count('[+]') + 1).sum())} changed factors in all; e.g. "
          f"{[c[0] for c in qs.captions[:2]]}")

    method = NotionComposed(tuple(spaces))
    embed_s, embedded = time_call(lambda: method.embed_images(bb, qs, gallery))  # the one-off per gallery
    k = 50

    def image_text():
        return rank_gallery(qs, gallery, query_features("image + text", bb, qs, gallery, gallery), k)

    def indirect_cir():
        return rank_gallery(qs, embedded, query_features(method, bb, qs, gallery, embedded), k)

    image_text()
    indirect_cir()
    baseline_name, ours_name = "image + text", "InDiReCT-CIR (routing + parts + ranking)"
    medians, all_times, _ = interleaved_medians({baseline_name: image_text, ours_name: indirect_cir}, args.repeats)
    ratio = medians[ours_name] / medians[baseline_name]
    amortised = (medians[ours_name] + embed_s) / medians[baseline_name]

    print()
    print_table(["method", "median s", "ms per query", "all runs s"],
                [[name, seconds, 1000 * seconds / len(qs), " ".join(f"{t:.2f}" for t in all_times[name])]
                 for name, seconds in medians.items()])
    print(f"\nInDiReCT-CIR's one-off work for this gallery (every image in the {len(spaces)} spaces, "
          f"{embedded.shape[1]} dimensions in all, and their covariances): {embed_s:.2f}s; with it spread over "
          f"these {len(qs)} queries the ratio would be {amortised:.2f}")
    print()
    print_table(["check", "value", "limit", "ok"],
                [["time per query, InDiReCT-CIR / image + text", ratio, f"<= {args.threshold}",
                  ratio <= args.threshold]])
    load.report()
    print(result_line("notion_composed", ratio, f"<= {args.threshold:g}x per query at {args.gallery} images",
                      ratio <= args.threshold, f"with_one_off={amortised:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
