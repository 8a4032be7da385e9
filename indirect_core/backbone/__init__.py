"""The backbone layer: CLIP models loaded by name, path, as the shipped shapes-clip or as random stand-ins, and
how images are read.

May import: ``_util`` only. Everything above embeds prompts and images through a ``Backbone``.
"""
from .._util.caveats import RANDOM_WEIGHTS_MARKER
from .hashing import sha256_file
from .images import read_rgb
from .loading import (RANDOM_ARCHITECTURES, clip_download_root, default_cache_dir, load_backbone,
                      random_clip_checkpoint, spec_weights)
from .model import Backbone, check_prompts, encode_token_embeddings
from .shipped import SHAPES_CLIP, SHIPPED_DIR, read_card, verify_shapes_clip

__all__ = ["RANDOM_WEIGHTS_MARKER", "read_rgb", "RANDOM_ARCHITECTURES", "clip_download_root", "default_cache_dir",
           "load_backbone", "random_clip_checkpoint", "sha256_file", "spec_weights", "Backbone", "check_prompts",
           "encode_token_embeddings", "SHAPES_CLIP", "SHIPPED_DIR", "read_card", "verify_shapes_clip"]
