"""The ``composed`` section of a plan: which composed-retrieval benchmarks, backbones, methods and mappers run.

It is checked when the plan is loaded (a bad value fails before anything runs) and expanded into notebook jobs:
one mapper-training job (notebook 06) per trained method and backbone, one evaluation job (notebook 05) per
benchmark and backbone that waits for the mappers it evaluates.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Collection

from .._util.errors import ConfigError
from .._util.naming import slug
from .._util.validation import check_mapping
from .parameters import declared

SECTION_KEYS = {"benchmarks", "backbones", "methods", "train", "mappers", "ks", "n_examples", "batch_size", "device",
                "solver", "n_components"}
BENCHMARK_KEYS = {"split": "split", "layout": "layout", "root": "data_root", "options": "benchmark_options"}
"""Settings of a benchmark: notebook 05's parameter each one sets."""
TRAIN_KEYS = ("steps", "batch_size", "lr", "seed", "checkpoint_every", "data", "data_root", "data_options",
              "caption_column", "max_captions")
"""Settings of a mapper-training job: notebook 06's parameters of the same names."""
EVALUATION = "05_composed_retrieval"
TRAINING = "06_train_mapper"


def mapper_methods() -> tuple[str, ...]:
    """The query methods that map the reference image to a pseudo-word token (Pic2Word, LinCIR)."""
    from ..composed.methods import MAPPER_METHODS

    return tuple(MAPPER_METHODS)


def _settings(plan_path: Path, where: str, value: Any, allowed: Collection[str]) -> dict:
    """The mapping ``value`` (None: empty) holding only ``allowed`` keys, or a ConfigError naming the plan and
    ``where`` (e.g. ``composed.train.lincir``)."""
    settings = check_mapping(f"plan {plan_path}: {where}", value)
    unknown = set(settings) - set(allowed)
    if unknown:
        raise ConfigError(f"plan {plan_path}: {where} has unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    return settings


def check_section(section: Any, plan_path: Path, backbones: list[str]) -> dict:
    """The validated ``composed`` section (``{}`` when the plan has none); paths relative to the plan resolved.
    Each setting is checked by the declaration of the notebook 05 or 06 parameter it sets, whose default fills
    it when the section leaves it out."""
    if section in (None, {}):
        return {}

    def key(name: str) -> str:
        return f"plan {plan_path}: composed.{name}"

    section = _settings(plan_path, "composed", section, SECTION_KEYS)
    benchmarks = check_mapping(key("benchmarks"), section.get("benchmarks"))
    if not benchmarks:
        raise ConfigError(f"plan {plan_path}: composed.benchmarks must name at least one benchmark, e.g. "
                          "{synthetic-shapes-cir: {split: test}}")
    for name, settings in benchmarks.items():
        declared(EVALUATION, "benchmark").validate(name, f"plan {plan_path}: composed benchmark")
        settings = benchmarks[name] = _settings(plan_path, f"composed.benchmarks.{name}", settings, BENCHMARK_KEYS)
        for setting, parameter in BENCHMARK_KEYS.items():
            if setting in settings:
                settings[setting] = declared(EVALUATION, parameter).validate(
                    settings[setting], key(f"benchmarks.{name}.{setting}"))
        if settings.get("root") is not None:
            settings["root"] = str(_relative_to(plan_path, settings["root"]))
    section["benchmarks"] = benchmarks
    backbone = declared(EVALUATION, "backbone")
    section["backbones"] = [backbone.validate(b, key("backbones")) for b in section.get("backbones", backbones)]
    methods = declared(EVALUATION, "methods")
    methods = section["methods"] = methods.validate(section.get("methods", methods.default), key("methods"))
    train = section["train"] = check_mapping(key("train"), section.get("train"))
    for method, settings in train.items():
        if method not in mapper_methods():
            raise ConfigError(f"plan {plan_path}: composed.train.{method}: only mappers are trained, use some of "
                              f"{list(mapper_methods())}")
        settings = train[method] = _settings(plan_path, f"composed.train.{method}", settings, TRAIN_KEYS)
        for setting, value in settings.items():
            settings[setting] = declared(TRAINING, setting).validate(value, key(f"train.{method}.{setting}"))
        if settings.get("data_root") is not None:
            settings["data_root"] = str(_relative_to(plan_path, settings["data_root"]))
        if _is_path(settings.get("data")):
            settings["data"] = str(_relative_to(plan_path, settings["data"]))
    mappers = section["mappers"] = check_mapping(key("mappers"), section.get("mappers"))
    for backbone_name, paths in mappers.items():
        paths = mappers[backbone_name] = check_mapping(key(f"mappers.{backbone_name}"), paths)
        for method, path in paths.items():
            if method not in mapper_methods():
                raise ConfigError(f"plan {plan_path}: composed.mappers.{backbone_name}.{method}: use one of "
                                  f"{list(mapper_methods())}")
            paths[method] = str(_relative_to(plan_path, path))
    for backbone_name in section["backbones"]:
        for method in methods:
            if method in mapper_methods() and method not in train and method not in mappers.get(backbone_name, {}):
                raise ConfigError(f"plan {plan_path}: composed method {method!r} needs a mapper for backbone "
                                  f"{backbone_name!r}: train it (composed.train.{method}) or give a checkpoint "
                                  f"(composed.mappers.{backbone_name}.{method}: path)")
    if "device" in section:  # else the plan's device
        section["device"] = declared(EVALUATION, "device").validate(section["device"], key("device"))
    for name in ("ks", "n_examples", "batch_size", "solver", "n_components"):  # {} ks: each benchmark's own K
        declaration = declared(EVALUATION, name)
        section[name] = declaration.validate(section.get(name, declaration.fresh_default()), key(name))
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
                          "layout": settings.get("layout", declared(EVALUATION, "layout").default),
                          "benchmark_options": settings.get("options") or {},
                          "methods": section["methods"],
                          "mappers": {m: p for m, p in checkpoints.items() if m in section["methods"]},
                          "ks": section["ks"], "n_examples": section["n_examples"],
                          "batch_size": section["batch_size"], "output_dir": str(run_dir / job_id)}
            if any(m.startswith("notion-composed") for m in section["methods"]):  # InDiReCT-CIR's spaces
                parameters.update(solver=section["solver"], n_components=section["n_components"])
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
                                      layout=settings.get("layout", declared(EVALUATION, "layout").default),
                                      **(settings.get("options") or {}))
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
