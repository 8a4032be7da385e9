"""shapes-clip: a small CLIP trained here on synthetic shapes with CLIP's objective, so that the workbook's claims
can be checked on the embedded data without OpenAI's weights (``load_backbone("shapes-clip")`` loads the shipped
one). ``train_shapes_clip`` trains (or resumes), ships the checkpoint with its model card and returns the card.

May import: ``report`` and the layers below it. Names load on first use (``settings`` needs no torch).
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["captions", "card", "make", "settings", "training", "zero_shot"],
    submod_attrs={
        "card": ["card_markdown", "card_summary", "ship"],
        "captions": ["training_batch"],
        "make": ["train_shapes_clip"],
        "settings": ["ARCHITECTURES", "DEFAULTS"],
        "training": ["TrainingInterrupted", "TrainingRun", "check_settings", "train"],
        "zero_shot": ["evaluate_zero_shot", "held_out_split", "zero_shot_accuracy"],
    })
