"""Training shapes-clip end to end: train (or resume), ship the checkpoint with its card, then drop the state."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..backbone.shipped import SHIPPED_DIR
from .card import ship
from .training import STATE_FILE, train
from .zero_shot import HELD_OUT_IMAGES, HELD_OUT_SEED


def train_shapes_clip(output_dir: str | Path = SHIPPED_DIR, *, work_dir: str | Path | None = None,
                      held_out_images: int = HELD_OUT_IMAGES, held_out_seed: int = HELD_OUT_SEED,
                      progress: bool = True, **options: Any) -> dict:
    """Train shapes-clip (``options``: ``train``'s settings and controls), write it with its model card to
    ``output_dir`` and return the card. An interrupted run leaves its state in ``work_dir`` (default
    ``output_dir``) and the same call resumes it; the state is deleted once the card is written, and an existing
    checkpoint is replaced only by a finished one."""
    work_dir = Path(work_dir) if work_dir is not None else Path(output_dir)
    run = train(work_dir, held_out_seed=held_out_seed, progress=progress, **options)
    card = ship(run, output_dir, held_out_images=held_out_images, held_out_seed=held_out_seed, progress=progress)
    (work_dir / STATE_FILE).unlink(missing_ok=True)
    return card
