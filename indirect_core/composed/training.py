"""The training loop both mappers share: frozen backbone, seeded data order, AdamW, checkpoints, exact resume.

A method's trainer (``train_pic2word``, ``train_lincir``) builds a ``TrainingPlan``: the mapper, its optimiser
groups and schedule, and a loss of (batch indices, step). ``run_training`` runs it with

- the backbone frozen (``requires_grad`` False on its parameters, eval mode; both restored afterwards);
- a seeded data order: every epoch is a permutation drawn from ``default_rng([seed, epoch])``, batches of
  ``batch_size`` with the last incomplete one dropped, so the data position is the step number;
- dropout and noise from torch generators seeded by ``seed`` (the caller's global RNG is left untouched);
- AMP (float16 autocast and a gradient scaler) on CUDA, float32 on the CPU;
- an atomic checkpoint every ``checkpoint_every`` steps and at the end, in the method's published format plus
  optimiser, scheduler, scaler and every RNG state, so a run killed at any moment and started again with the
  same arguments ends with bit-identical weights (on the CPU);
- an existing checkpoint is never lost to a new run: ``resume=False`` over it is refused unless
  ``overwrite=True``, and then the new run checkpoints beside it and replaces it only when it finishes.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from .._util.atomic import write_text_atomic
from ..backbone import Backbone
from .._util.errors import ConfigError
from .._util.progress import progress_bar
from .._util.torch_files import DAMAGED, load_weights, read_failure
from .._util.validation import check_int, check_number
from .checkpoints import METADATA_KEY, checkpoint_object, detect_format, save_checkpoint_object, save_mapper
from .methods import method_name

POSTFIX_EVERY = 50
"""The progress bar's loss is refreshed every this many steps (and at the end)."""

StepCallback = Callable[[int, float], None]
"""Called after every step with (steps done, that step's loss)."""

START_OVER = "pass resume=False, overwrite=True to train anew and replace it once the new run finishes"
"""The way to start over on an existing checkpoint, as error messages say it."""


def check_training_settings(steps: Any, batch_size: Any, seed: Any, lr: Any, weight_decay: Any, eps: Any,
                            betas: Any, min_batch_size: int = 1) -> tuple[int, int, int, float, float, float,
                                                                         tuple[float, float]]:
    """The settings both trainers share, checked and in this order: (steps, batch_size, seed, lr, weight_decay,
    eps, betas); each error names its parameter."""
    return (check_int("parameter steps", steps), check_int("parameter batch_size", batch_size, min_batch_size),
            check_int("parameter seed", seed, minimum=0), check_number("parameter lr", lr, above=0),
            check_number("parameter weight_decay", weight_decay, minimum=0),
            check_number("parameter eps", eps, above=0), check_betas(betas))


def check_betas(betas: Any) -> tuple[float, float]:
    """Adam's (beta1, beta2), each in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ConfigError(f"parameter betas={betas!r} must be two numbers in [0, 1), e.g. (0.9, 0.98)")
    return (check_number("parameter betas[0]", betas[0], minimum=0, below=1, hint="e.g. 0.9"),
            check_number("parameter betas[1]", betas[1], minimum=0, below=1, hint="e.g. 0.98"))


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode with ``requires_grad`` False on every parameter; both restored afterwards."""
    flags = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    was_training = model.training
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    model.eval()
    try:
        yield model
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
        model.train(was_training)


class DataOrder:
    """Which samples form the batch of each step: epoch e is ``default_rng([seed, e]).permutation(n)`` cut into
    ``n // batch_size`` batches (the incomplete rest is dropped, as both official loaders do)."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        if n < batch_size:
            raise ConfigError(f"batch_size={batch_size} is larger than the {n} training samples: use a smaller "
                              "batch_size or more data")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.steps_per_epoch = n // batch_size
        self._epoch, self._order = -1, np.empty(0, dtype=np.int64)

    def epoch(self, step: int) -> int:
        """The epoch a step's batch belongs to (0-based)."""
        return step // self.steps_per_epoch

    def batch(self, step: int) -> np.ndarray:
        """Sample indices of the batch of ``step`` (0-based)."""
        epoch, within = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch, self._order = epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return self._order[within * self.batch_size:(within + 1) * self.batch_size]


@dataclass
class CosineWithWarmup:
    """Learning-rate factor: linear warmup to 1 over ``warmup`` steps, then a cosine to 0 at ``steps``
    (Pic2Word's schedule; step s of the warmup trains at (s + 1) / warmup)."""

    warmup: int
    steps: int

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.steps - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class Constant:
    """Learning-rate factor 1 at every step (LinCIR's ``constant_with_warmup`` with 0 warmup steps)."""

    def __call__(self, step: int) -> float:
        return 1.0


@dataclass
class TrainingPlan:
    """Everything ``run_training`` needs from a method: built by ``train_pic2word`` / ``train_lincir``."""

    method: str
    mapper: nn.Module
    parameter_groups: list[dict]              # AdamW groups, each with its own weight_decay
    optimizer_options: dict                   # lr, betas, eps
    schedule: Callable[[int], float]          # learning-rate factor of each step
    loss: Callable[[np.ndarray, int], torch.Tensor]  # (batch indices, step) -> scalar loss
    n_samples: int
    batch_size: int
    steps: int
    seed: int
    settings: dict                            # what a resumed run must repeat (data, hyperparameters, seed)
    generators: dict[str, torch.Generator] = field(default_factory=dict)  # extra RNGs saved in checkpoints


@dataclass
class TrainingResult:
    """A trained mapper (eval mode) with its loss curve, settings and where its checkpoint lies."""

    method: str
    mapper: nn.Module = field(repr=False)
    loss_curve: list[float] = field(repr=False)
    steps: int
    resumed_from: int                         # the step the run continued from (0: a fresh run)
    seconds: float                            # training time of this call (without the resumed part)
    settings: dict = field(repr=False)
    backbone: dict = field(repr=False)
    checkpoint: Path | None = None

    def metadata(self) -> dict:
        """Our metadata for the saved mapper: method, backbone, settings, steps, loss curve."""
        return {"backbone": self.backbone, "settings": self.settings, "step": self.steps, "steps": self.steps,
                "complete": True, "loss_curve": list(self.loss_curve)}

    def save(self, path: str | Path, clip_state_dict: dict | None = None) -> Path:
        """Save the mapper in its method's published format with our metadata (no resume state)."""
        epoch = self.steps // max(1, self.settings["n_samples"] // self.settings["batch_size"])
        return save_mapper(path, self.mapper, self.metadata(), epoch=epoch if self.method == "pic2word"
                           else self.steps, clip_state_dict=clip_state_dict)

    def save_loss_curve(self, path: str | Path) -> Path:
        """The loss of every step as a CSV (step, loss), written atomically."""
        lines = ["step,loss"] + [f"{step + 1},{loss!r}" for step, loss in enumerate(self.loss_curve)]
        return write_text_atomic(path, "\n".join(lines) + "\n")


def _plain(value: Any) -> Any:
    """JSON-normal form (tuples become lists) so saved and current settings compare equal."""
    return json.loads(json.dumps(value))


def _rng_devices(device: torch.device) -> list[int]:
    """The CUDA device whose RNG a run forks and saves ([] on the CPU)."""
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def _rng_state(device: torch.device, generators: dict[str, torch.Generator]) -> dict:
    """Every RNG state training draws from: torch's CPU (and CUDA) generator and the plan's own."""
    state = {"torch": torch.get_rng_state(), "generators": {k: g.get_state() for k, g in generators.items()}}
    devices = _rng_devices(device)
    state["cuda"] = torch.cuda.get_rng_state(devices[0]) if devices else None
    return state


def _set_rng_state(state: dict, device: torch.device, generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    for name, generator in generators.items():
        generator.set_state(state["generators"][name])
    devices = _rng_devices(device)
    if devices and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], devices[0])


def new_run_path(path: Path) -> Path:
    """Where a run that replaces the finished or interrupted run at ``path`` checkpoints until it finishes."""
    return path.with_name(f".{path.name}.new-run.tmp")


def _remove_stale_temp_files(path: Path) -> None:
    """Temp files that a kill left: checkpoint writes (``atomic_path`` names them .<name>.*.tmp) and the
    checkpoint of an unfinished replacing run (``new_run_path``) with its own writes."""
    for written in (path, new_run_path(path)):
        for stale in written.parent.glob(f".{written.name}.*.tmp"):
            stale.unlink(missing_ok=True)
    new_run_path(path).unlink(missing_ok=True)


def _load_checkpoint(path: Path, method: str, backbone: Backbone) -> tuple[dict, dict]:
    """(raw checkpoint, our metadata) of a training checkpoint of ``method`` on ``backbone``, or an error."""
    try:
        raw = load_weights(path)
    except Exception as error:  # noqa: BLE001 - a foreign or corrupt file surfaces as many error types
        failure = read_failure(path, error)
        if failure.kind == DAMAGED:
            raise ConfigError(f"training checkpoint {path} {failure.reason}: its run cannot be resumed; "
                              f"{START_OVER}, or pass another checkpoint path") from None
        raise ConfigError(f"{path} is not a training checkpoint written by indirect_core: it {failure.reason}. "
                          f"Pass another checkpoint path, or {START_OVER}") from None
    meta = raw.get(METADATA_KEY) if isinstance(raw, dict) else None
    if not isinstance(meta, dict) or "resume" not in meta:
        raise ConfigError(f"{path} is not a training checkpoint written by indirect_core (it has no resume "
                          f"state): pass another checkpoint path, or {START_OVER}")
    if meta.get("method") != method:
        raise ConfigError(f"training checkpoint {path} is a {meta.get('method')} run, not {method}: pass "
                          f"another checkpoint path or output_dir, or {START_OVER}")
    saved_backbone = meta.get("backbone", {}).get("sha256")
    if saved_backbone != backbone.weights_sha256:
        raise ConfigError(f"training checkpoint {path} was trained on backbone {meta['backbone'].get('name')} "
                          f"(sha256 {str(saved_backbone)[:12]}…), not {backbone.name}: use that backbone, pass "
                          f"another checkpoint path, or {START_OVER}")
    return raw, meta


def check_resumable(checkpoint_path: str | Path | None, resume: bool, method: str, backbone: Backbone,
                    overwrite: bool = False) -> None:
    """Before any expensive preparation: an existing checkpoint that would be resumed must be a training
    checkpoint of this method and backbone (its other settings are compared when training starts), and one
    that would not be resumed is replaced only with ``overwrite=True``."""
    if checkpoint_path is not None and resume and Path(checkpoint_path).is_file():
        _load_checkpoint(Path(checkpoint_path), method, backbone)
    _check_overwrite(checkpoint_path, resume, overwrite)


def _check_overwrite(checkpoint_path: str | Path | None, resume: bool, overwrite: bool) -> None:
    """A new run (``resume=False``) over an existing checkpoint needs ``overwrite=True``."""
    if checkpoint_path is not None and not resume and not overwrite and Path(checkpoint_path).is_file():
        raise ConfigError(f"training checkpoint {checkpoint_path} exists and resume=False would start a new run "
                          "over it: pass overwrite=True to replace it once the new run finishes (it stays as it "
                          "is if that run fails), resume=True to continue it, or another checkpoint path")


def _read_resume_state(path: Path, plan: TrainingPlan, backbone: Backbone) -> dict:
    """The checkpoint of an interrupted run with the same settings, or an error saying what differs."""
    raw, meta = _load_checkpoint(path, plan.method, backbone)
    saved, current = meta.get("settings", {}), _plain(plan.settings)
    differ = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if differ:
        shown = ", ".join(f"{k}={saved.get(k)!r} (now {current.get(k)!r})" for k in differ[:6])
        raise ConfigError(f"training checkpoint {path} was made with other settings: {shown}. Resume with the "
                          f"same settings, pass another checkpoint path, or {START_OVER}")
    return {"raw": raw, "meta": meta}


def _warn_on_other_threads(path: Path, saved: int | None) -> None:
    """Resuming is bit-identical to an uninterrupted run only at the thread count the run began with."""
    now = torch.get_num_threads()
    if saved is not None and saved != now:
        warnings.warn(f"training checkpoint {path} was written on {saved} thread(s), this run computes on {now}: "
                      "the resumed run differs from an uninterrupted one in the last bits; resume with "
                      f"torch.set_num_threads({saved}) (or OMP_NUM_THREADS={saved}) for identical weights",
                      stacklevel=3)


def run_training(plan: TrainingPlan, backbone: Backbone, checkpoint_path: str | Path | None = None,
                 checkpoint_every: int = 500, resume: bool = True, progress: bool = True,
                 callback: StepCallback | None = None, overwrite: bool = False) -> TrainingResult:
    """Train ``plan.mapper`` for ``plan.steps`` steps (continuing a checkpoint of the same run when there is one;
    with ``resume=False, overwrite=True`` replacing it only once the new run has finished)."""
    checkpoint_every = check_int("parameter checkpoint_every", checkpoint_every)
    _check_overwrite(checkpoint_path, resume, overwrite)
    device = backbone.device
    amp = device.type == "cuda"
    mapper = plan.mapper.to(device)
    optimizer = torch.optim.AdamW(plan.parameter_groups, **plan.optimizer_options)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan.schedule)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    order = DataOrder(plan.n_samples, plan.batch_size, plan.seed)
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    identity = backbone.identity()
    start, losses = 0, []

    with frozen(backbone.model), torch.random.fork_rng(devices=_rng_devices(device)):
        torch.manual_seed(plan.seed)  # dropout draws from torch's global generator, forked above
        if path is not None:
            _remove_stale_temp_files(path)
        replacing = path is not None and path.is_file() and not resume
        target = new_run_path(path) if replacing else path  # where this run's checkpoints go
        if path is not None and path.is_file() and resume:
            state = _read_resume_state(path, plan, backbone)
            meta, resume_state = state["meta"], state["meta"]["resume"]
            mapper.load_state_dict(detect_format(state["raw"], str(path))[1])
            optimizer.load_state_dict(resume_state["optimizer"])
            scheduler.load_state_dict(resume_state["scheduler"])
            if amp and resume_state.get("scaler"):
                scaler.load_state_dict(resume_state["scaler"])
            _set_rng_state(resume_state["rng"], device, plan.generators)
            start, losses = int(meta["step"]), [float(x) for x in meta["loss_curve"]]
            _warn_on_other_threads(path, meta.get("threads"))

        def save(step: int) -> None:
            metadata = {"backbone": identity, "settings": _plain(plan.settings), "step": step,
                        "threads": torch.get_num_threads(),
                        "steps": plan.steps, "complete": step == plan.steps, "loss_curve": list(losses),
                        "resume": {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                   "scaler": scaler.state_dict() if amp else None,
                                   "rng": _rng_state(device, plan.generators)}}
            epoch = step if plan.method == "lincir" else step // order.steps_per_epoch
            save_checkpoint_object(checkpoint_object(mapper, metadata, epoch=epoch), target)

        began = time.perf_counter()
        bar = progress_bar(total=plan.steps, initial=start, desc=f"training {method_name(plan.method)}", unit="step",
                           disable=not progress)
        with bar, _replace_on_success(target, path if replacing else None):
            mapper.train()
            for step in range(start, plan.steps):
                indices = order.batch(step)
                with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                    loss = plan.loss(indices, step)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise ConfigError(f"{plan.method} training diverged at step {step + 1} (loss {value}): lower "
                                      f"the learning rate (lr={plan.optimizer_options['lr']})")
                losses.append(value)
                done = step + 1
                if path is not None and (done % checkpoint_every == 0 or done == plan.steps):
                    save(done)
                bar.update(1)
                if done % POSTFIX_EVERY == 0 or done == plan.steps:
                    bar.set_postfix(loss=f"{np.mean(losses[-POSTFIX_EVERY:]):.4g}", refresh=False)
                if callback is not None:
                    callback(done, value)
        seconds = time.perf_counter() - began
    mapper.eval()
    return TrainingResult(method=plan.method, mapper=mapper, loss_curve=losses, steps=plan.steps,
                          resumed_from=start, seconds=seconds, settings=_plain(plan.settings), backbone=identity,
                          checkpoint=path)


@contextlib.contextmanager
def _replace_on_success(new: Path | None, old: Path | None) -> Iterator[None]:
    """With ``old`` given: on success move the finished run's checkpoint ``new`` onto ``old`` (one rename), on
    failure delete it, so ``old`` is only ever replaced by a finished run."""
    try:
        yield
    except BaseException:
        if old is not None and new is not None:
            new.unlink(missing_ok=True)
        raise
    if old is not None and new is not None:
        os.replace(new, old)


def adamw_groups(mapper: nn.Module, weight_decay: float, exempt: Callable[[str, torch.Tensor], bool]
                 ) -> list[dict]:
    """AdamW parameter groups: the parameters ``exempt`` names get no weight decay, the rest ``weight_decay``."""
    named = list(mapper.named_parameters())
    free = [p for n, p in named if exempt(n, p)]
    decayed = [p for n, p in named if not exempt(n, p)]
    return [group for group in ({"params": free, "weight_decay": 0.0},
                                {"params": decayed, "weight_decay": weight_decay}) if group["params"]]
