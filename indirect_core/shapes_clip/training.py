"""Training shapes-clip: a small ``clip.model.CLIP`` trained on the captioned synthetic-shapes stream with CLIP's
objective, seeded, resumable after a kill, with its held-out zero-shot accuracy measured as it goes.

The loss is CLIP's symmetric cross-entropy over the batch's image–caption cosine similarities times a learned
temperature (``logit_scale``, at most ln 100 as in CLIP). A caption naming one or two factors fits several images
of a batch, so each row's (and column's) target spreads evenly over its positives (``captions.positives``); with
one caption per image and no shared factors it is exactly CLIP's. The text tower is held fixed for the first
``text_freeze`` steps: while the image tower cannot yet tell shapes apart, a trainable text tower learns to ignore
the shape word (its cheapest way to lower the loss) and neither side recovers it quickly; fixed random caption
embeddings are targets the image tower learns shapes against, as a classifier learns against a random head.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import math
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

with warnings.catch_warnings():  # clip-anytorch imports the deprecated pkg_resources
    warnings.simplefilter("ignore", UserWarning)
    import clip

from .._util.errors import ConfigError
from .._util.progress import progress_bar
from .._util.torch_files import load_weights, read_failure, save_torch_file
from .._util.validation import check_choice, check_int, check_number
from ..backbone import encode_token_embeddings
from ..backbone.model import CLIP_MEAN, CLIP_STD
from ..backbone.shipped import SHAPES_CLIP, SHIPPED_DIR
from ..data import synthetic_shapes as shapes
from .captions import RENDER_SIZE, positives, training_batch, vocabulary_texts
from .settings import ARCHITECTURES, BATCH_DESIGNS, DEFAULTS
from .zero_shot import EVALUATION_SEEDS, FACTOR_NOTIONS, HELD_OUT_SEED, zero_shot_by_notion

STATE_FILE = f"{SHAPES_CLIP}-training-state.pt"
STATE_FORMAT = "indirect_core shapes-clip training state"
STATE_VERSION = 2
MAX_LOGIT_SCALE = math.log(100.0)

@dataclass
class TrainingRun:
    """A finished training run: the model (float32, eval mode), its loss per step, the evaluations made during
    training, the settings, time spent and the step it resumed from."""

    model: clip.model.CLIP = field(repr=False)
    settings: dict
    losses: list[float] = field(repr=False)
    evaluations: list[dict] = field(repr=False)
    spent: dict
    resumed_from: int = 0


class TrainingInterrupted(ConfigError):
    """Training stopped by Ctrl-C or SIGTERM after its state was saved: run the same call again to resume."""


_MEAN = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(CLIP_STD).view(1, 3, 1, 1)


def render_pixels(rows: Sequence[dict], resolution: int, image_size: int = RENDER_SIZE) -> torch.Tensor:
    """(n, 3, resolution, resolution) model input: each row drawn by synthetic-shapes' renderer at ``image_size``
    and put through CLIP's preprocessing (bicubic resize, normalisation), as ``clip.load``'s preprocess does."""
    arrays = []
    for row in rows:
        image, _ = shapes.render(row["shape"], row["object_colour"], row["background_colour"], row["size"],
                                 row["x"], row["y"], row["rotation"], image_size)
        arrays.append(np.asarray(image.resize((resolution, resolution), Image.BICUBIC)))
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255)
    return pixels.sub_(_MEAN).div_(_STD).contiguous()


def build_model(architecture: str | dict, seed: int) -> clip.model.CLIP:
    """A freshly initialised ``clip.model.CLIP`` (float32) of a named or given architecture, seeded."""
    spec = architecture_spec(architecture)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return clip.model.CLIP(**spec)


def architecture_spec(architecture: str | dict) -> dict:
    """The ``clip.model.CLIP`` arguments of a named architecture (or a dict of them, as given)."""
    if isinstance(architecture, dict):
        return dict(architecture)
    if architecture not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {architecture!r}: use one of {list(ARCHITECTURES)} or a dict of "
                          "clip.model.CLIP arguments")
    return dict(ARCHITECTURES[architecture])


def fp16_state_dict(model: clip.model.CLIP) -> dict:
    """The state dict with every floating tensor as float16 (``clip.load`` casts back to float32 on the CPU)."""
    return {k: (v.detach().half().clone() if v.is_floating_point() else v.detach().clone())
            for k, v in model.state_dict().items()}


def save_checkpoint(model: clip.model.CLIP, path: str | Path) -> Path:
    """Write the fp16 state dict atomically."""
    return save_torch_file(fp16_state_dict(model), path)


class _UsedTokens:
    """The token ids captions use: only their rows of the 49,408-row token embedding get gradients. They train as a
    small parameter written back into the model, which equals training the whole table (the other rows' gradients
    are zero and embeddings get no weight decay) at a fraction of the optimiser's cost."""

    def __init__(self, model: clip.model.CLIP) -> None:
        device = model.token_embedding.weight.device
        self.ids = torch.unique(clip.tokenize(vocabulary_texts(), context_length=model.context_length)).to(device)
        self.lookup = torch.full((model.vocab_size,), -1, dtype=torch.long, device=device)
        self.lookup[self.ids] = torch.arange(len(self.ids), device=device)
        self.rows = torch.nn.Parameter(model.token_embedding.weight.detach()[self.ids].clone())

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        local = self.lookup[tokens]
        if bool((local < 0).any()):
            raise ConfigError("a caption uses a token outside the caption vocabulary: captions.vocabulary_texts and "
                              "the templates disagree")
        return F.embedding(local, self.rows)

    def write_back(self, model: clip.model.CLIP) -> None:
        with torch.no_grad():
            model.token_embedding.weight[self.ids] = self.rows.detach()


def tokenize(texts: list[str], model: clip.model.CLIP) -> torch.Tensor:
    """CLIP tokens cut after the longest text's end token (the causal mask leaves the features unchanged)."""
    tokens = clip.tokenize(texts, context_length=model.context_length)
    return tokens[:, :int(tokens.argmax(dim=1).max()) + 1]


def clip_loss(model: clip.model.CLIP, pixels: torch.Tensor, tokens: torch.Tensor, targets: torch.Tensor,
              embed: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """CLIP's symmetric cross-entropy over the scaled image–caption cosine similarities, each image's (caption's)
    target spread evenly over the captions (images) ``targets`` marks as positive."""
    image = F.normalize(model.encode_image(pixels).float(), dim=1)
    text = F.normalize(encode_token_embeddings(model, tokens, embed(tokens)).float(), dim=1)
    logits = model.logit_scale.exp() * image @ text.T
    rows = targets / targets.sum(dim=1, keepdim=True)
    columns = targets.T / targets.T.sum(dim=1, keepdim=True)
    return (F.cross_entropy(logits, rows) + F.cross_entropy(logits.T, columns)) / 2


def _schedule(warmup: int, steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, steps - warmup))))
    return factor


def _parameter_groups(model: clip.model.CLIP, tokens: _UsedTokens, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices and convolution kernels only (not on gains, biases, embeddings or
    the temperature), as in CLIP."""
    decayed, free = [], []
    for name, parameter in model.named_parameters():
        if name == "token_embedding.weight":
            continue  # trained through tokens.rows
        exempt = (parameter.ndim < 2 or "embedding" in name or name == "logit_scale" or ".bn" in name
                  or "ln_" in name)
        (free if exempt else decayed).append(parameter)
    return [{"params": free + [tokens.rows], "weight_decay": 0.0}, {"params": decayed, "weight_decay": weight_decay}]


def check_settings(architecture: str | dict = DEFAULTS["architecture"], steps: int = DEFAULTS["steps"],
                   seed: int = DEFAULTS["seed"], n_groups: int = DEFAULTS["n_groups"],
                   design: str = DEFAULTS["design"], lr: float = DEFAULTS["lr"], warmup: int = DEFAULTS["warmup"],
                   text_freeze: int = DEFAULTS["text_freeze"], weight_decay: float = DEFAULTS["weight_decay"],
                   grad_clip: float = DEFAULTS["grad_clip"], threads: int = DEFAULTS["threads"],
                   device: str = "cpu") -> dict:
    """The validated settings a run is defined by (JSON-plain; a resumed run must repeat them exactly)."""
    name = architecture if isinstance(architecture, str) else "custom"
    settings = {"architecture": architecture_spec(architecture), "architecture_name": name,
                "steps": check_int("steps", steps, minimum=1), "seed": check_int("seed", seed, minimum=0),
                "n_groups": check_int("n_groups", n_groups, minimum=1),
                "design": check_choice("design", design, BATCH_DESIGNS),
                "lr": check_number("lr", lr, minimum=1e-8, maximum=1.0),
                "warmup": check_int("warmup", warmup, minimum=1),
                "text_freeze": check_int("text_freeze", text_freeze, minimum=0),
                "weight_decay": check_number("weight_decay", weight_decay, minimum=0.0),
                "grad_clip": check_number("grad_clip", grad_clip, minimum=0.0),
                "threads": check_int("threads", threads, minimum=1),
                "device": check_choice("device", device, ("cpu", "cuda"))}
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but no CUDA GPU is available here: use device='cpu'")
    return json.loads(json.dumps(settings))


def _load_state(path: Path) -> dict:
    """A training state written by ``train``, or one clear error naming the file and the fix."""
    try:
        state = load_weights(path)
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file surfaces as many error types
        raise ConfigError(f"cannot read the shapes-clip training state {path}: it "
                          f"{read_failure(path, error).reason}. Delete it to train from scratch") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ConfigError(f"{path} is not a shapes-clip training state: delete it or pass another work_dir")
    if state.get("version") != STATE_VERSION:
        raise ConfigError(f"{path} was written by format version {state.get('version')} (this code reads "
                          f"{STATE_VERSION}): delete it to train from scratch")
    return state


@contextlib.contextmanager
def _stop_requests() -> Iterator[dict]:
    """Ctrl-C / SIGTERM become a flag checked between steps (main thread only; elsewhere a no-op)."""
    flag: dict = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag["signal"] is not None:  # a second Ctrl-C: stop at once (the last saved state stays valid)
            raise KeyboardInterrupt
        flag["signal"] = signal.Signals(signum).name

    saved = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def train(work_dir: str | Path = SHIPPED_DIR, *, eval_every: int | None = 250, eval_images: int = 500,
          held_out_seed: int = HELD_OUT_SEED, checkpoint_every: int = 100, resume: bool = True,
          progress: bool = True, callback: Callable[[int, float], None] | None = None, **settings: Any
          ) -> TrainingRun:
    """Train shapes-clip from scratch (``settings``: see ``check_settings``), or resume the unfinished run whose
    state lies in ``work_dir`` with the same settings; the state is written atomically every ``checkpoint_every``
    steps and on Ctrl-C / SIGTERM (``TrainingInterrupted``), and a resumed run ends bit-identical to an
    uninterrupted one at the same thread count. ``eval_every`` steps, zero-shot accuracy on the first
    ``eval_images`` images of the held-out split (drawn in memory) is recorded."""
    known = list(inspect.signature(check_settings).parameters)
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConfigError(f"unknown shapes-clip setting(s) {unknown}: use {known}, eval_every, eval_images, "
                          "held_out_seed, checkpoint_every, resume, progress or callback")
    settings = check_settings(**settings)
    if eval_every is not None:
        check_int("eval_every", eval_every, minimum=1)
    check_int("checkpoint_every", checkpoint_every, minimum=1)
    check_int("eval_images", eval_images, minimum=1)
    if held_out_seed in EVALUATION_SEEDS.values():
        raise ConfigError(f"held_out_seed={held_out_seed} is the seed of an evaluation split ({EVALUATION_SEEDS}): "
                          "pick another")
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(settings["threads"])
    try:
        return _train(settings, Path(work_dir), eval_every, eval_images, held_out_seed, checkpoint_every, resume,
                      progress, callback)
    finally:
        torch.set_num_threads(saved_threads)


def _train(settings: dict, work_dir: Path, eval_every: int | None, eval_images: int, held_out_seed: int,
           checkpoint_every: int, resume: bool, progress: bool, callback: Callable[[int, float], None] | None
           ) -> TrainingRun:
    """The training loop of ``train`` (settings validated, threads set)."""
    steps, seed = settings["steps"], settings["seed"]
    state_path = work_dir / STATE_FILE
    work_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(settings["device"])
    model = build_model(settings["architecture"], seed)
    start, losses, evaluations, spent = 0, [], [], {"wall_seconds": 0.0, "cpu_seconds": 0.0}
    state = None
    if state_path.is_file() and resume:
        state = _load_state(state_path)
        differ = sorted(k for k in set(state["settings"]) | set(settings)
                        if state["settings"].get(k) != settings.get(k))
        if differ:
            shown = ", ".join(f"{k}={state['settings'].get(k)!r} (now {settings.get(k)!r})" for k in differ[:6])
            raise ConfigError(f"the training state {state_path} belongs to a run with other settings: {shown}. "
                              "Resume with the same settings, or delete the file to train from scratch")
        model.load_state_dict(state["model"])
        start, losses, evaluations = int(state["step"]), list(state["losses"]), list(state["evaluations"])
        spent = dict(state["spent"])
    model.to(device)
    model.token_embedding.weight.requires_grad_(False)  # trained through _UsedTokens
    tokens = _UsedTokens(model)
    optimizer = torch.optim.AdamW(_parameter_groups(model, tokens, settings["weight_decay"]), lr=settings["lr"],
                                  betas=(0.9, 0.98), eps=1e-6)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(settings["warmup"], steps))
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])

    def save_state(step: int) -> None:
        tokens.write_back(model)
        payload = {"format": STATE_FORMAT, "version": STATE_VERSION, "settings": settings, "step": step,
                   "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                   "scheduler": scheduler.state_dict(), "losses": losses, "evaluations": evaluations, "spent": spent}
        save_torch_file(payload, state_path)

    resolution = model.visual.input_resolution
    held_out = None
    if eval_every:
        rows = shapes.sample_factors(eval_images, RENDER_SIZE, held_out_seed)
        held_out = (render_pixels(rows, resolution).to(device), {c: [r[c] for r in rows] for c in FACTOR_NOTIONS})

    def evaluate(step: int) -> None:
        tokens.write_back(model)
        model.eval()
        with torch.inference_mode():
            features = torch.cat([model.encode_image(p) for p in held_out[0].split(250)]).float().cpu()
            result = zero_shot_by_notion(features, held_out[1], lambda texts: encode_texts(model, texts))
        model.train()
        evaluations.append({"step": step, "wall_seconds": round(spent["wall_seconds"], 1),
                            "cpu_seconds": round(spent["cpu_seconds"], 1),
                            **{name: round(r["accuracy"], 4) for name, r in result.items()}})

    text_parameters = [tokens.rows] + [p for n, p in model.named_parameters()
                                       if n.startswith(("transformer.", "ln_final.", "positional_embedding",
                                                        "text_projection"))]
    bar = progress_bar(total=steps, initial=start, desc=f"training {SHAPES_CLIP} ({settings['architecture_name']})",
                       unit="step", disable=not progress)
    model.train()
    with bar, _stop_requests() as stop:
        for step in range(start, steps):
            wall, cpu = time.perf_counter(), time.process_time()
            rows = training_batch(seed, step, settings["n_groups"], settings["design"])
            pixels = render_pixels(rows, resolution).to(device)
            text = tokenize([r["caption"] for r in rows], model).to(device)
            loss = clip_loss(model, pixels, text, positives(rows).to(device), tokens.embed)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if step < settings["text_freeze"]:
                for parameter in text_parameters:
                    parameter.grad = None
            if settings["grad_clip"]:
                torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]],
                                               settings["grad_clip"])
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise ConfigError(f"{SHAPES_CLIP} training diverged at step {step + 1} (loss {value}): lower "
                                  f"lr={settings['lr']}")
            losses.append(value)
            spent["wall_seconds"] += time.perf_counter() - wall
            spent["cpu_seconds"] += time.process_time() - cpu
            done = step + 1
            if eval_every and (done % eval_every == 0 or done == steps):
                evaluate(done)
            bar.update(1)
            if done % 25 == 0 or done == steps:
                bar.set_postfix(loss=f"{np.mean(losses[-25:]):.3f}", refresh=False)
            if callback is not None:
                callback(done, value)
            if done % checkpoint_every == 0 and done < steps:
                save_state(done)
            if stop["signal"] is not None and done < steps:
                save_state(done)
                raise TrainingInterrupted(
                    f"{SHAPES_CLIP} training stopped by {stop['signal']} after step {done} of {steps}; its state is "
                    f"saved in {state_path}. Run the same command again to continue from step {done}")
    if start < steps:
        save_state(steps)  # a run killed while shipping ships again without training
    tokens.write_back(model)
    model.cpu().eval()
    return TrainingRun(model=model, settings=settings, losses=losses, evaluations=evaluations, spent=spent,
                       resumed_from=start)


def encode_texts(model: clip.model.CLIP, texts: list[str]) -> torch.Tensor:
    """CLIP's text features of ``texts`` (unnormalised, on the CPU) from the model being trained."""
    tokens = tokenize(texts, model).to(model.token_embedding.weight.device)
    return encode_token_embeddings(model, tokens, model.token_embedding(tokens)).float().cpu()
