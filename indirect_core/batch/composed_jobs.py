"""The ``composed`` section of a plan: which composed-retrieval benchmarks, backbones, methods and mappers run.

It is checked when the plan is loaded (a bad value fails before anything runs) and expanded into notebook jobs:
one mapper-training job (notebook 06) per trained method and backbone, one evaluation job (notebook 05) per
benchmark and backbone that waits for the mappers it evaluates.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .._util.errors import ConfigError
from .._util.naming import slug

SECTION_KEYS = {"benchmarks", "backbones", "methods", "train", "mappers", "ks", "n_examples", "batch_size", "device"}
BENCHMARK_KEYS = {"split", "layout", "root", "options"}
TRAIN_KEYS = {"steps", "batch_size", "lr", "seed", "checkpoint_every", "data", "data_root", "data_options",
              "caption_column", "max_captions"}
"""Settings of a mapper-training job: notebook 06's parameters of the same names."""


def baseline_methods() -> tuple[str, ...]:
    """The query methods that need no mapper (image-only, text-only, image + text)."""
    from ..composed.baselines import BASELINES

    return tuple(BASELINES)  # "image-only", "text-only", "image + text"


def mapper_methods() -> tuple[str, ...]:
    """The query methods that map the reference image to a pseudo-word token (Pic2Word, LinCIR)."""
    from ..composed.methods import MAPPER_METHODS

    return tuple(MAPPER_METHODS)


def _settings(plan_path: Path, where: str, value: Any, allowed: set[str]) -> dict:
    """A copy of the mapping ``value`` (None: empty) holding only ``allowed`` keys, or a ConfigError naming the
    plan and ``where`` (e.g. ``composed.train.lincir``)."""
    from .parameters import check_dict

    settings = dict(check_dict(where, value))
    unknown = set(settings) - allowed
    if unknown:
        raise ConfigError(f"plan {plan_path}: {where} has unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    return settings


def check_section(section: Any, plan_path: Path, backbones: list[str]) -> dict:
    """The validated ``composed`` section (``{}`` when the plan has none); paths relative to the plan resolved."""
    from .parameters import check_backbone, check_dict, check_positive_int
    from ..composed.benchmarks import available_benchmarks

    if section in (None, {}):
        return {}
    section = _settings(plan_path, "composed", section, SECTION_KEYS)
    benchmarks = check_dict("composed.benchmarks", section.get("benchmarks"))
    if not benchmarks:
        raise ConfigError(f"plan {plan_path}: composed.benchmarks must name at least one benchmark, e.g. "
                          "{synthetic-shapes-cir: {split: test}}")
    for name, settings in benchmarks.items():
        if name not in available_benchmarks():
            raise ConfigError(f"plan {plan_path}: composed benchmark {name!r} is unknown: use some of "
                              f"{available_benchmarks()}")
        settings = benchmarks[name] = _settings(plan_path, f"composed.benchmarks.{name}", settings, BENCHMARK_KEYS)
        check_dict(f"composed.benchmarks.{name}.options", settings.get("options"))
        if settings.get("root") is not None:
            settings["root"] = str(_relative_to(plan_path, settings["root"]))
    section["backbones"] = [check_backbone(b) for b in section.get("backbones", backbones)]
    known = baseline_methods() + mapper_methods()
    methods = section.get("methods", list(known))
    methods = [methods] if isinstance(methods, str) else list(methods or [])
    if not methods or any(m not in known for m in methods):
        raise ConfigError(f"plan {plan_path}: composed.methods={methods!r}: use some of {list(known)}")
    section["methods"] = methods
    train = section["train"] = dict(check_dict("composed.train", section.get("train")))
    for method, settings in train.items():
        if method not in mapper_methods():
            raise ConfigError(f"plan {plan_path}: composed.train.{method}: only mappers are trained, use some of "
                              f"{list(mapper_methods())}")
        settings = train[method] = _settings(plan_path, f"composed.train.{method}", settings, TRAIN_KEYS)
        for key in ("steps", "batch_size", "checkpoint_every"):
            if key in settings:
                check_positive_int(f"composed.train.{method}.{key}", settings[key])
        if settings.get("data_root") is not None:
            settings["data_root"] = str(_relative_to(plan_path, settings["data_root"]))
        if _is_path(settings.get("data")):
            settings["data"] = str(_relative_to(plan_path, settings["data"]))
    mappers = section["mappers"] = dict(check_dict("composed.mappers", section.get("mappers")))
    for backbone, paths in mappers.items():
        paths = mappers[backbone] = dict(check_dict(f"composed.mappers.{backbone}", paths))
        for method, path in paths.items():
            if method not in mapper_methods():
                raise ConfigError(f"plan {plan_path}: composed.mappers.{backbone}.{method}: use one of "
                                  f"{list(mapper_methods())}")
            paths[method] = str(_relative_to(plan_path, path))
    for backbone in section["backbones"]:
        for method in methods:
            if method in mapper_methods() and method not in train and method not in mappers.get(backbone, {}):
                raise ConfigError(f"plan {plan_path}: composed method {method!r} needs a mapper for backbone "
                                  f"{backbone!r}: train it (composed.train.{method}) or give a checkpoint "
                                  f"(composed.mappers.{backbone}.{method}: path)")
    ks = section["ks"] = dict(check_dict("composed.ks", section.get("ks")))  # {}: each benchmark's own K
    for family, values in ks.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"plan {plan_path}: composed.ks.{family} must be a list of K, e.g. [1, 5, 10]")
        ks[family] = [check_positive_int(f"composed.ks.{family}", k) for k in values]
    section["n_examples"] = check_positive_int("composed.n_examples", section.get("n_examples", 4), minimum=0)
    section["batch_size"] = check_positive_int("composed.batch_size", section.get("batch_size", 64))
    return section


def _is_path(data: Any) -> bool:
    """Whether a training-data source names a file or folder (not the embedded benchmark, a dataset or hf:)."""
    from ..data.datasets import available_datasets
    from ..composed.training_data import HF_PREFIX, SYNTHETIC_TRAIN

    return isinstance(data, str) and data != SYNTHETIC_TRAIN and data not in available_datasets() \
        and not data.startswith(HF_PREFIX)


def _relative_to(plan_path: Path, path: Any) -> Path:
    """A path from the plan, relative to the plan's folder unless absolute."""
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"plan {plan_path}: {path!r} is not a path")
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else (Path(plan_path).parent / candidate).resolve()


def composed_jobs(plan: dict, run_dir: Path, cache_dir: Path, device: str) -> list:
    """Notebook jobs of the plan's composed section: mapper training per backbone, evaluation per benchmark."""
    from .jobs import NOTEBOOKS, Job

    section = plan.get("composed") or {}
    jobs: list = []
    training: list = []  # listed after the evaluations, so the run index shows results first
    for backbone in section.get("backbones", []):
        common = {"backbone": backbone, "cache_dir": str(cache_dir), "device": section.get("device", device)}
        checkpoints = dict(section["mappers"].get(backbone, {}))
        trained = []
        for method, settings in section["train"].items():
            if method not in section["methods"] or method in checkpoints:
                continue  # not evaluated, or the plan gives a checkpoint for this backbone
            job_id = f"composed/{slug(backbone)}/06_train-{method}"
            folder = run_dir / job_id
            parameters = {**common, "method": method, **settings, "output_dir": str(folder)}
            training.append(Job(job_id, NOTEBOOKS["train_mapper"], parameters))
            checkpoints.setdefault(method, str(folder / "mapper.pt"))
            trained.append(job_id)
        for benchmark, settings in section["benchmarks"].items():
            job_id = f"{benchmark}/{slug(backbone)}/05_composed"
            parameters = {**common, "benchmark": benchmark, "split": settings.get("split"),
                          "layout": settings.get("layout", "auto"), "benchmark_options": settings.get("options") or {},
                          "methods": section["methods"],
                          "mappers": {m: p for m, p in checkpoints.items() if m in section["methods"]},
                          "ks": section["ks"], "n_examples": section["n_examples"],
                          "batch_size": section["batch_size"], "output_dir": str(run_dir / job_id)}
            if settings.get("root") is not None:
                parameters["data_root"] = settings["root"]
            if parameters["split"] is None:
                parameters.pop("split")
            jobs.append(Job(job_id, NOTEBOOKS["composed"], parameters, depends_on=tuple(trained)))
    return jobs + training


def check_data(section: dict) -> tuple[str, bool]:
    """What the composed section needs on disk, without loading an image: each benchmark's files and every
    mapper checkpoint the plan names (trained mappers are made by the run)."""
    from ..composed.benchmarks import check_benchmark

    lines, ready = ["composed benchmarks:"], True
    for name, settings in section["benchmarks"].items():
        ok, message = check_benchmark(name, root=settings.get("root"), split=settings.get("split"),
                                      layout=settings.get("layout", "auto"), **(settings.get("options") or {}))
        ready &= ok
        lines.append(f"  [{'ok' if ok else 'MISSING'}] {name}: " + message.replace("\n", "\n      "))
    for backbone, paths in section["mappers"].items():
        for method, path in paths.items():
            present = Path(path).is_file()
            ready &= present
            lines.append(f"  [{'ok' if present else 'MISSING'}] {method} mapper for {backbone}: {path}"
                         + ("" if present else " (download the authors' checkpoint or train one with notebook 06)"))
    for method, settings in section["train"].items():
        if _is_path(settings.get("data")) and method in section["methods"]:
            present = Path(settings["data"]).exists()
            ready &= present
            lines.append(f"  [{'ok' if present else 'MISSING'}] {method} training data: {settings['data']}")
        if method in section["methods"]:
            lines.append(f"  [ok] {method} mappers: trained in this run (notebook 06) for "
                         + ", ".join(b for b in section["backbones"] if method not in section["mappers"].get(b, {})))
    return "\n".join(lines), ready
