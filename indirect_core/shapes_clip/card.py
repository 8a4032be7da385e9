"""Shipping a trained shapes-clip: the fp16 checkpoint, its loss curve and the model card (JSON and Markdown) with
data, seed, architecture, steps, time, machine, sha256 and held-out zero-shot accuracy per factor."""
from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from .._util.atomic import write_json_atomic, write_text_atomic
from .._util.caveats import SHAPES_CLIP_MARKER
from ..backbone import load_backbone, sha256_file
from ..backbone.shipped import CARD_FILE, CARD_MARKDOWN, CHECKPOINT_FILE, SHAPES_CLIP
from ..report.plots import plot_loss_curve, save_figure
from .captions import (CAPTION_KINDS, FULL_TEMPLATES, PARTIAL_TEMPLATES, RENDER_SIZE, SIZE_WORDS, TRAINING_STREAM,
                       batch_size)
from .training import TrainingRun, save_checkpoint
from .zero_shot import FACTOR_NOTIONS, HELD_OUT_IMAGES, HELD_OUT_SEED, evaluate_zero_shot, held_out_split


def _machine() -> dict:
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": device,
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()}


def ship(run: TrainingRun, output_dir: str | Path, held_out_images: int = HELD_OUT_IMAGES,
         held_out_seed: int = HELD_OUT_SEED, progress: bool = True) -> dict:
    """Write ``run``'s model to ``output_dir`` (shapes-clip.pt, loss.csv, loss.png / loss.pdf, the card as
    shapes-clip.card.json and MODEL_CARD.md), measure it loaded through ``load_backbone`` on the held-out split,
    and return the card. The card is written last, so a folder whose card names a checkpoint holds a finished one."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = save_checkpoint(run.model, output_dir / CHECKPOINT_FILE)
    sha = sha256_file(checkpoint)
    dataset = held_out_split(held_out_images, held_out_seed, progress=progress)
    backbone = load_backbone(str(checkpoint))
    zero_shot = evaluate_zero_shot(backbone, dataset, progress=progress)
    write_text_atomic(output_dir / "loss.csv", "step,loss\n" + "".join(f"{i + 1},{v!r}\n"
                                                                        for i, v in enumerate(run.losses)))
    figure = plot_loss_curve(run.losses, title=f"{SHAPES_CLIP}: CLIP loss per training step", x_label="step")
    save_figure(figure, output_dir / "loss")
    plt.close(figure)
    settings, spent, steps = run.settings, run.spent, run.settings["steps"]
    architecture = settings["architecture"]
    card = {
        "name": SHAPES_CLIP,
        "caveat": SHAPES_CLIP_MARKER,
        "checkpoint": {"file": CHECKPOINT_FILE, "sha256": sha, "bytes": checkpoint.stat().st_size,
                       "storage": "float16 state dict of clip.model.CLIP (clip.load reads it)"},
        "architecture": {"name": settings["architecture_name"], **architecture,
                         "visual": "ModifiedResNet" if architecture["vision_patch_size"] is None else "ViT",
                         "parameters": int(sum(p.numel() for p in run.model.parameters()))},
        "data": {"generator": "indirect_core.data.synthetic_shapes.render", "render_size": RENDER_SIZE,
                 "preprocess": "CLIP's (bicubic resize to the input resolution, normalisation)",
                 "stream": f"step t draws from numpy default_rng([{TRAINING_STREAM}, seed, t])",
                 "seed": settings["seed"], "design": settings["design"], "n_groups": settings["n_groups"],
                 "batch_size": batch_size(settings["n_groups"]),
                 "images_seen": batch_size(settings["n_groups"]) * steps,
                 "caption_kinds": [{"factors": list(kind), "probability": p} for kind, p in CAPTION_KINDS],
                 "full_templates": list(FULL_TEMPLATES),
                 "partial_templates": {"+".join(k): list(v) for k, v in PARTIAL_TEMPLATES.items()},
                 "size_words": {k: list(v) for k, v in SIZE_WORDS.items()}},
        "training": {"objective": "CLIP: symmetric cross-entropy over image-caption cosine similarities times a "
                                  "learned temperature (logit scale at most ln 100); a caption's target spread over "
                                  "the images it fits",
                     "steps": steps, "optimizer": "AdamW (betas 0.9, 0.98; eps 1e-6)", "lr": settings["lr"],
                     "schedule": f"linear warmup {settings['warmup']} steps, cosine to 0",
                     "weight_decay": settings["weight_decay"], "grad_clip": settings["grad_clip"],
                     "text_freeze_steps": settings["text_freeze"], "threads": settings["threads"],
                     "final_loss_mean_last_100": float(np.mean(run.losses[-100:])),
                     "logit_scale": float(run.model.logit_scale.detach().exp()),
                     "wall_seconds": round(spent["wall_seconds"], 1), "cpu_seconds": round(spent["cpu_seconds"], 1),
                     "cpu_ms_per_step": round(1000 * spent["cpu_seconds"] / steps, 1),
                     "resumed_from_step": run.resumed_from, "machine": _machine(),
                     "note": "wall time on a machine shared with other jobs is an upper bound; CPU time is this "
                             "process's own"},
        "held_out": {"split": {"dataset": "synthetic-shapes", "seed": held_out_seed, "n_images": len(dataset),
                               "image_size": RENDER_SIZE},
                     "zero_shot": zero_shot,
                     "protocol": "top-1 among the notion's prompts (its template over its words) for the label "
                                 "values present (accuracy) and over all its words (accuracy_all_words)"},
        "evaluations_during_training": run.evaluations,
    }
    write_text_atomic(output_dir / CARD_MARKDOWN, card_markdown(card))
    write_json_atomic(output_dir / CARD_FILE, card)
    return card


def card_summary(card: dict) -> str:
    """The card's numbers in a few lines (what ``make shapes-clip`` prints)."""
    arch, training, data = card["architecture"], card["training"], card["data"]
    lines = [f"{card['name']}: {card['checkpoint']['file']} sha256 {card['checkpoint']['sha256']} "
             f"({card['checkpoint']['bytes'] / 1e6:.1f} MB)",
             f"architecture {arch['name']} ({arch['visual']}, {arch['image_resolution']} px, "
             f"{arch['parameters'] / 1e6:.1f}M parameters); {training['steps']} steps x {data['batch_size']} images, "
             f"seed {data['seed']}",
             f"training {training['wall_seconds'] / 60:.1f} min wall, {training['cpu_seconds'] / 60:.1f} min CPU "
             f"({training['cpu_ms_per_step']} ms/step), {training['threads']} thread(s), torch "
             f"{training['machine']['torch']}"]
    split = card["held_out"]["split"]
    lines.append(f"held-out zero-shot top-1 ({split['n_images']} images, seed {split['seed']}):")
    for name, r in card["held_out"]["zero_shot"].items():
        lines.append(f"  {name:<18} {100 * r['accuracy']:5.1f} % of {r['n_classes']} labels present   "
                     f"({100 * r['accuracy_all_words']:5.1f} % over all {r['n_words']} words)")
    return "\n".join(lines)


def card_markdown(card: dict) -> str:
    """The model card as Markdown."""
    arch, data, training, split = card["architecture"], card["data"], card["training"], card["held_out"]["split"]
    rows = "\n".join(f"| {name} | `{r['template']}` | {100 * r['accuracy']:.1f} % ({r['n_classes']}) | "
                     f"{100 * r['accuracy_all_words']:.1f} % ({r['n_words']}) |"
                     for name, r in card["held_out"]["zero_shot"].items())
    curve = "\n".join(f"| {e['step']} | {e['cpu_seconds']:.0f} | " + " | ".join(
        f"{100 * e[n]:.1f}" for n in FACTOR_NOTIONS.values()) + " |" for e in card["evaluations_during_training"])
    kinds = ", ".join(f"{' + '.join(k['factors']).replace('_', ' ')} {k['probability']:.0%}"
                      for k in data["caption_kinds"])
    machine = training["machine"]
    where = f"GPU {machine['gpu']}" if machine.get("gpu") else f"{machine['cpu']} ({machine['cpu_count']} cores)"
    return f"""# Model card: {card['name']}

A small CLIP (`clip.model.CLIP`) trained on this machine on synthetic-shapes images with CLIP's objective, so that
the workbook's claims can be checked on the embedded data without downloading CLIP weights. It knows only
flat-coloured shapes: 8 drawn shapes, 10 colours, small and large. Not a general image model: everything made with
it says "{card['caveat']}".

- file: `{card['checkpoint']['file']}`, {card['checkpoint']['bytes'] / 1e6:.1f} MB, float16 state dict
- sha256: `{card['checkpoint']['sha256']}` (checked by `load_backbone("shapes-clip")` before loading)
- load: `indirect_core.load_backbone("shapes-clip")` (through `clip.load`); retrain: `make shapes-clip`

## Architecture
{arch['visual']} `{arch['name']}`: input {arch['image_resolution']} px, vision width {arch['vision_width']},
layers {arch['vision_layers']}; text transformer {arch['transformer_layers']} x {arch['transformer_width']}
({arch['transformer_heads']} heads), context {arch['context_length']}, vocabulary {arch['vocab_size']};
embedding {arch['embed_dim']}; {arch['parameters'] / 1e6:.1f}M parameters.

## Data
An endless stream drawn by `{data['generator']}` at {data['render_size']} px and resized by CLIP's preprocessing;
{data['stream']}, seed {data['seed']}; no evaluation split draws from it. Batches of {data['batch_size']} images
(design `{data['design']}`: {data['n_groups']} groups of the 8 shapes, each group with its own object and background
colour pair, so only the shape tells a group's images apart); {data['images_seen']:,} images seen. Each image's
caption names {kinds}, in {len(data['full_templates'])} four-factor templates and
{sum(len(v) for v in data['partial_templates'].values())} one- or two-factor ones (among them the forms of the
notions' prompt templates); size words: small {data['size_words']['small']}, large {data['size_words']['large']}
of the side, none between. The notions' distractor words never occur.

## Training
{training['objective']}. {training['steps']} steps, {training['optimizer']}, lr {training['lr']},
{training['schedule']}, weight decay {training['weight_decay']}, gradient-norm clip {training['grad_clip']}, text
tower held fixed for the first {training['text_freeze_steps']} steps. Final loss (mean of the last 100 steps)
{training['final_loss_mean_last_100']:.3f}, temperature (logit scale) {training['logit_scale']:.1f}.
Time: {training['wall_seconds'] / 60:.1f} min wall, {training['cpu_seconds'] / 60:.1f} min CPU
({training['cpu_ms_per_step']} ms per step) on {where}, {training['threads']} torch thread(s), torch
{machine['torch']}, Python {machine['python']}; {training['note']}. Loss curve: `loss.png`, `loss.pdf`, `loss.csv`.

## Held-out zero-shot accuracy
{card['held_out']['protocol']}. Held-out split: synthetic-shapes, seed {split['seed']}, {split['n_images']} images at
{split['image_size']} px (a seed no evaluation split uses), the saved file loaded with `load_backbone`.

| notion | template | top-1, labels present | top-1, all words |
|---|---|---|---|
{rows}

During training ({len(card['evaluations_during_training'])} evaluations on the first images of the same split, drawn
in memory):

| step | CPU s | {' | '.join(FACTOR_NOTIONS.values())} |
|---|---|{'---|' * len(FACTOR_NOTIONS)}
{curve}
"""
