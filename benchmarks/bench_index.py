"""Search benchmark: the exact index vs the faiss IVF index of ``indirect_core.index`` on 1M x 128 unit vectors.

Measures per-query latency (one query at a time, the way a user searches) and recall@10 of IVF against the
exact answer, which is also checked against faiss's brute-force ``IndexFlatIP``. The vectors are a seeded
mixture of clusters on the unit sphere (like image embeddings: neighbours share a cluster); an extra row on
structureless uniform vectors is printed for information, because IVF's recall depends on that structure.

RESULT ratio = exact ms / IVF ms per query (speed-up over the exact baseline measured in the same run).
PASS when IVF recall@10 >= 0.95 and IVF < 10 ms and exact < 150 ms per query.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from _common import OtherLoad, print_table, result_line, setup_torch, time_call, warn_if_busy


def clustered_unit_vectors(n: int, dim: int, clusters: int, seed: int, block: int = 100_000) -> np.ndarray:
    """``n`` unit vectors: a random cluster centre plus Gaussian noise of a per-cluster spread (0.6-1.2 of
    the centre's length), renormalised. Seeded, generated in blocks to bound the temporary memory."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spread = rng.uniform(0.6, 1.2, clusters).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, block):
        owner = rng.integers(0, clusters, min(block, n - start))
        rows = centres[owner] + (spread[owner, None] / np.sqrt(dim)) * rng.standard_normal(
            (len(owner), dim), dtype=np.float32)
        out[start:start + len(owner)] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def uniform_unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """``n`` unit vectors uniform on the sphere (no structure at all)."""
    rows = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def per_query(index, queries: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """Median milliseconds of one-query searches, and the ids found."""
    times, found = [], []
    for query in queries:
        seconds, (_, ids) = time_call(lambda: index.search(query[None], k))
        times.append(seconds * 1000)
        found.append(ids[0])
    return statistics.median(times), np.stack(found)


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the true top-k that was found."""
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / truth.shape[1] for f, t in zip(found, truth)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="indexed vectors (default 1000000)")
    parser.add_argument("--dim", type=int, default=128, help="dimension (default 128, the paper's k)")
    parser.add_argument("--clusters", type=int, default=2000, help="clusters of the mixture (default 2000)")
    parser.add_argument("--queries", type=int, default=200, help="queries for IVF latency and recall (200)")
    parser.add_argument("--exact-queries", type=int, default=50, help="of those, timed one by one exactly (50)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--nprobe", type=int, default=None, help="IVF cells scanned (default: the package's 32)")
    parser.add_argument("--uniform-n", type=int, default=200_000,
                        help="size of the information-only uniform-data row (0: leave it out; default 200000)")
    parser.add_argument("--recall", type=float, default=0.95, help="required IVF recall@k (0.95)")
    parser.add_argument("--ivf-ms", type=float, default=10.0, help="IVF per-query limit in ms (10)")
    parser.add_argument("--exact-ms", type=float, default=150.0, help="exact per-query limit in ms (150)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    setup_torch()
    import faiss

    from indirect_core.core.index import DEFAULT_NPROBE, ExactIndex, IVFIndex

    faiss.omp_set_num_threads(2)
    nprobe = args.nprobe or DEFAULT_NPROBE
    warn_if_busy()
    load = OtherLoad()
    made_s, data = time_call(lambda: clustered_unit_vectors(args.n + args.queries, args.dim, args.clusters,
                                                            args.seed))
    base, queries = data[:args.n], data[args.n:]
    print(f"{args.n} x {args.dim} clustered unit vectors ({args.clusters} clusters) + {args.queries} held-out "
          f"queries from the same mixture, made in {made_s:.1f}s; k={args.k}; faiss {faiss.__version__}, "
          f"2 threads")

    exact = ExactIndex(args.dim)
    exact_add_s, _ = time_call(lambda: exact.add(base))
    ivf = IVFIndex(args.dim, nprobe=nprobe, seed=args.seed)
    ivf_add_s, _ = time_call(lambda: ivf.add(base))
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(base)
    del data, base
    print(f"build: exact {exact_add_s:.1f}s, IVF (train + add) {ivf_add_s:.1f}s with nlist {ivf.nlist}, "
          f"trained on {min(args.n, 64 * ivf.nlist)} vectors")

    for index in (exact, ivf):  # warm-up
        index.search(queries[:3], args.k)
    truth_s, (truth_scores, truth) = time_call(lambda: exact.search(queries, args.k))
    _, flat_ids = flat.search(queries, args.k)
    agree = float(np.mean(np.sort(flat_ids, axis=1) == np.sort(truth, axis=1)))
    exact_ms, exact_found = per_query(exact, queries[:args.exact_queries], args.k)
    assert np.array_equal(exact_found, truth[:args.exact_queries])

    rows = []
    chosen_ms, chosen_recall = None, None
    for probes in sorted({8, 16, nprobe, 64, 128}):
        ivf.nprobe = probes
        ms, found = per_query(ivf, queries, args.k)
        recall = recall_at(found, truth)
        rows.append([f"IVF nprobe={probes}" + (" (default)" if probes == nprobe else ""), ms, recall,
                     exact_ms / ms])
        if probes == nprobe:
            chosen_ms, chosen_recall = ms, recall
    ivf.nprobe = nprobe
    rows.insert(0, ["exact (chunked)", exact_ms, 1.0, 1.0])

    if args.uniform_n:
        uniform = uniform_unit_vectors(args.uniform_n + args.queries, args.dim, args.seed + 1)
        u_exact, u_ivf = ExactIndex(args.dim), IVFIndex(args.dim, nprobe=nprobe, seed=args.seed)
        u_exact.add(uniform[:args.uniform_n])
        u_ivf.add(uniform[:args.uniform_n])
        u_queries = uniform[args.uniform_n:]
        _, u_truth = u_exact.search(u_queries, args.k)
        u_ms, u_found = per_query(u_ivf, u_queries, args.k)
        u_exact_ms, _ = per_query(u_exact, u_queries[:args.exact_queries], args.k)
        rows.append([f"info: uniform {args.uniform_n} x {args.dim}, IVF nprobe={nprobe} (nlist {u_ivf.nlist})",
                     u_ms, recall_at(u_found, u_truth), u_exact_ms / u_ms])

    print()
    print_table(["method", "ms / query", f"recall@{args.k}", "speed-up vs exact"], rows)
    print()
    passed = chosen_recall >= args.recall and chosen_ms < args.ivf_ms and exact_ms < args.exact_ms
    print_table(["check", "value", "limit", "ok"], [
        [f"IVF recall@{args.k} (nprobe {nprobe})", chosen_recall, f">= {args.recall}", chosen_recall >= args.recall],
        ["IVF ms per query", chosen_ms, f"< {args.ivf_ms}", chosen_ms < args.ivf_ms],
        ["exact ms per query", exact_ms, f"< {args.exact_ms}", exact_ms < args.exact_ms],
        ["exact == faiss IndexFlatIP (share of ids)", agree, "1.0 (ties aside)", agree == 1.0],
        [f"exact batch of {args.queries} queries, ms per query", truth_s * 1000 / args.queries, "-", True],
    ])
    load.report()
    ratio = exact_ms / chosen_ms
    print(result_line("index_ivf", ratio, f"recall@{args.k} >= {args.recall}, IVF < {args.ivf_ms:g} ms and exact "
                      f"< {args.exact_ms:g} ms per query", passed,
                      f"recall={chosen_recall:.4f} ivf_ms={chosen_ms:.3f} exact_ms={exact_ms:.1f} nprobe={nprobe} "
                      f"nlist={ivf.nlist}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
