"""The shipped shapes-clip: where its checkpoint and model card lie, and the sha256 check before it is loaded.

shapes-clip is a small ``clip.model.CLIP`` trained here on synthetic shapes (``indirect_core.shapes_clip``); its fp16
state dict is committed beside a model card (JSON and Markdown) whose sha256 must match the file, so a changed or
damaged checkpoint is named instead of silently giving other numbers.
"""
from __future__ import annotations

import json
from pathlib import Path

from .._util.errors import BackboneError
from .hashing import sha256_file

SHAPES_CLIP = "shapes-clip"
"""The backbone name of the shipped trained stand-in (``load_backbone("shapes-clip")``)."""
CHECKPOINT_FILE = f"{SHAPES_CLIP}.pt"
CARD_FILE = f"{SHAPES_CLIP}.card.json"
CARD_MARKDOWN = "MODEL_CARD.md"
SHIPPED_DIR = Path(__file__).parent / "weights" / SHAPES_CLIP
"""The folder of the committed checkpoint, its model card and loss curve."""


def read_card(folder: str | Path = SHIPPED_DIR) -> dict:
    """The model card (JSON) of a shapes-clip folder, or one clear error saying how to get it back."""
    path = Path(folder) / CARD_FILE
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackboneError(f"no {SHAPES_CLIP} model card at {path}: restore it (git checkout) or train one with "
                            "`make shapes-clip`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BackboneError(f"cannot read the model card {path} ({error}): restore it (git checkout) or retrain with "
                            "`make shapes-clip`") from None
    try:
        str(card["checkpoint"]["file"]), str(card["checkpoint"]["sha256"])
    except (KeyError, TypeError):
        raise BackboneError(f"the model card {path} names no checkpoint file and sha256: restore it (git checkout) "
                            "or retrain with `make shapes-clip`") from None
    return card


def verify_shapes_clip(folder: str | Path = SHIPPED_DIR) -> Path:
    """The checkpoint's path once its sha256 matches the model card beside it (BackboneError otherwise)."""
    card = read_card(folder)
    path = Path(folder) / card["checkpoint"]["file"]
    if not path.is_file():
        raise BackboneError(f"{path} is missing (its model card {Path(folder) / CARD_FILE} names it): restore it "
                            "(git checkout) or retrain with `make shapes-clip`")
    found, wanted = sha256_file(path), card["checkpoint"]["sha256"]
    if found != wanted:
        raise BackboneError(f"{path} has sha256 {found[:16]}…, but its model card says {wanted[:16]}…: the file was "
                            "changed or damaged. Restore it (git checkout) or retrain with `make shapes-clip`")
    return path
