"""Top-k selection with one answer: the k best scores per row, best first, and among equal scores the lower
position first. The exact index (``core.index``), composed retrieval's ranking (``composed.ranking``) and the
neighbour figures (``core.neighbours``) all choose their results with it, so a tie never depends on the
hardware or the thread count."""
from __future__ import annotations

import torch


def top_k(scores: torch.Tensor, k: int, largest: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, positions), each (n, k): per row of the (n, m) ``scores`` the k largest (``largest=False``: the
    k smallest), best first; among equal scores the lower position comes first. ``k`` must lie in 0..m.

    ``torch.topk`` picks an arbitrary member of a tie at the k-th place. Where such a tie reaches past the k
    chosen scores, those rows take the lowest positions of the tie instead; then a stable sort orders the k.
    """
    n = len(scores)
    if k == 0:
        return scores[:, :0], torch.zeros((n, 0), dtype=torch.long)
    ranked = scores if largest else -scores
    values, positions = ranked.topk(k, dim=1)
    kth = values[:, -1:]
    open_tie = (ranked == kth).sum(dim=1) > (values == kth).sum(dim=1)
    if bool(open_tie.any()):
        rows = open_tie.nonzero()[:, 0]
        positions[rows] = _lowest_positions_of_ties(ranked[rows], kth[rows], k)
    positions = positions.sort(dim=1).values
    order = ranked.gather(1, positions).sort(dim=1, descending=True, stable=True).indices
    positions = positions.gather(1, order)
    return scores.gather(1, positions), positions


def _lowest_positions_of_ties(ranked: torch.Tensor, kth: torch.Tensor, k: int) -> torch.Tensor:
    """(n, k) positions, ascending: every score above the row's k-th value ``kth``, then the lowest positions of
    those equal to it (found sparsely: ties are few)."""
    n = len(ranked)
    keep = ranked > kth
    needed = k - keep.sum(dim=1)
    rows, columns = (ranked == kth).nonzero(as_tuple=True)  # row-major: ascending columns within a row
    first = torch.searchsorted(rows, torch.arange(n))  # every row ties at least with itself
    chosen = torch.arange(len(rows)) - first[rows] < needed[rows]
    keep[rows[chosen], columns[chosen]] = True
    return keep.nonzero()[:, 1].view(n, k)
