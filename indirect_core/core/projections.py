"""Save and load a fitted InDiReCT projection with what made it (prompts, backbone identity, seed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


from .._util.errors import ConfigError, DatasetError
from .._util.torch_files import load_weights, read_failure, save_torch_file
from .models import INDIRECT_KEYS, MODELS, InDiReCT, InDiReCTLBFGS, model_key

FORMAT = 2


def save_projection(model: InDiReCT | InDiReCTLBFGS, path: str | Path, prompts: list[str], backbone: dict,
                    **metadata: Any) -> Path:
    """Write the projection U, its loss and provenance to ``path`` atomically (a torch file of plain data)."""
    if not hasattr(model, "components_"):
        raise ConfigError("save_projection needs a fitted InDiReCT: call fit(text_features) first")
    record = {"format": FORMAT, "model": model_key(model), "components": model.components_.clone(), "params": model.get_params(),
              "loss": float(model.loss_), "loss_curve": [float(v) for v in model.loss_curve_],
              "n_iter": int(model.n_iter_), "prompts": list(prompts), "backbone": dict(backbone),
              "metadata": {k: v for k, v in metadata.items()}}
    return save_torch_file(record, path)


def load_projection(path: str | Path, backbone: Any) -> tuple[InDiReCT | InDiReCTLBFGS, dict]:
    """A fitted InDiReCT model and its record, refused when it was fitted with another ``backbone`` (a
    ``Backbone`` or its ``identity()``); pass ``backbone=None`` to skip that check on purpose.

    The model remembers its backbone: ``transform`` of cached features (``ImageFeatures``) from another
    backbone raises, even when both have the same width (ViT-B/32 and ViT-B/16).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"projection file {path} does not exist: run notebooks/02_fit_indirect.ipynb "
                           "(or save_projection) to create it")
    try:
        record = load_weights(path)
    except Exception as error:  # noqa: BLE001 - any unreadable file means the same to the user
        raise DatasetError(f"projection file {path} {read_failure(path, error).reason}: fit it again with "
                           "notebooks/02_fit_indirect.ipynb (or save_projection)") from None
    if backbone is not None and not isinstance(backbone, dict):
        backbone = backbone.identity()
    if backbone is not None and record["backbone"].get("sha256") != backbone.get("sha256"):
        raise ConfigError(f"projection {path} was fitted with backbone {record['backbone'].get('name')} "
                          f"({record['backbone'].get('sha256', '')[:12]}), not {backbone.get('name')} "
                          f"({backbone.get('sha256', '')[:12]}): fit it again with this backbone")
    if record.get("format") != FORMAT or record.get("model") not in INDIRECT_KEYS:
        raise DatasetError(f"projection file {path} has format {record.get('format')!r} (this version reads "
                           f"format {FORMAT}): fit it again with notebooks/02_fit_indirect.ipynb")
    model = MODELS[record["model"]](**record["params"])
    model.components_ = record["components"]
    model.n_features_in_ = int(record["components"].shape[1])
    model.loss_, model.loss_curve_, model.n_iter_ = record["loss"], record["loss_curve"], record["n_iter"]
    model.backbone_ = dict(record["backbone"])
    return model, record
