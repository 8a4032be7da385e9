"""shapes-clip's architectures and the settings the shipped checkpoint was trained with: plain data (no torch), so
the command line and the notebook parameters can show them cheaply."""
from __future__ import annotations

from typing import Any

ARCHITECTURES: dict[str, dict] = {
    # CLIP's ModifiedResNet (stem, 4 bottleneck stages, attention pooling) at 64 px; text transformer 3 x 128.
    "rn16-64": dict(embed_dim=512, image_resolution=64, vision_layers=(1, 1, 1, 1), vision_width=16,
                    vision_patch_size=None, context_length=77, vocab_size=49408,
                    transformer_width=128, transformer_heads=2, transformer_layers=3),
    "rn32-64": dict(embed_dim=512, image_resolution=64, vision_layers=(1, 1, 1, 1), vision_width=32,
                    vision_patch_size=None, context_length=77, vocab_size=49408,
                    transformer_width=128, transformer_heads=2, transformer_layers=3),
    # A ViT: 8 px patches at 64 px (64 tokens), 4 layers of width 128.
    "vit128-p8-64": dict(embed_dim=512, image_resolution=64, vision_layers=4, vision_width=128,
                         vision_patch_size=8, context_length=77, vocab_size=49408,
                         transformer_width=128, transformer_heads=2, transformer_layers=3),
    # For tests: seconds per run.
    "tiny": dict(embed_dim=64, image_resolution=32, vision_layers=(1, 1, 1, 1), vision_width=8,
                 vision_patch_size=None, context_length=77, vocab_size=49408,
                 transformer_width=64, transformer_heads=1, transformer_layers=1),
}
"""``clip.model.CLIP`` constructor arguments by name. Text widths are multiples of 64 (clip derives head counts as
width // 64); the vocabulary is CLIP's BPE (49,408 tokens) and the context 77 tokens, so every prompt and
composed-retrieval text that fits OpenAI CLIP fits here."""
BATCH_DESIGNS = ("pairs", "random")
"""``pairs``: the batch is groups of the 8 drawn shapes, each group sharing one (object colour, background colour)
pair, so only the shape tells a group's images apart; ``random``: every factor drawn independently."""
DEFAULTS: dict[str, Any] = {"architecture": "rn16-64", "steps": 2500, "seed": 0, "n_groups": 10, "design": "random",
                            "lr": 1e-3, "warmup": 100, "text_freeze": 1000, "weight_decay": 0.1, "grad_clip": 1.0,
                            "threads": 1}
"""The settings the shipped checkpoint was trained with (``make shapes-clip``)."""
