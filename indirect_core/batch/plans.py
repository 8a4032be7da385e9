"""Plans: a YAML file validated whole before anything runs, expanded into notebook jobs; ``--check``'s report
of what would run and which data or weights are missing.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from .._util.errors import ConfigError
from ..core.models import MODELS
from ..analysis.study import INDIRECT_KEYS
from .._util.naming import slug
from ..engines import check_engine_name
from .composed_jobs import check_section as check_composed, composed_jobs
from ..data.notions import PROMPT_WORDS
from .jobs import DEFAULT_THREADS, NOTEBOOKS, Job, check_threads, previous_success
from .parameters import (ATTRIBUTION_METHODS, check_backbone, check_choice, check_dataset, check_dict,
                         check_fraction, check_models, check_notions, check_positive_int, dataset_root,
                         notion_parameter, resolve_word_files)


PLAN_KEYS = {"name", "datasets", "backbones", "models", "seeds", "n_components", "device", "batch_size",
             "num_workers", "attribution", "evaluation", "model_options", "sweep", "on_error", "prompt_words",
             "executor", "composed", "include", "threads"}


SWEEP_KEYS = {"n_components", "n_prompts"}


EVALUATION_KEYS = {"n_queries", "top_k", "seed", "n_jobs"}


ATTRIBUTION_KEYS = {"method", "samples", "noise", "image_ids", "window", "seed"}


def load_plan(path: str | Path) -> dict:
    """Read and validate a plan; every dataset, notion, model and number is checked before anything runs."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"plan file {path} does not exist: see plans/demo.yaml for an example")
    try:
        plan = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"plan file {path} is not valid YAML: {error}") from None
    if not isinstance(plan, dict):
        raise ConfigError(f"plan file {path} must be a mapping with keys such as datasets, backbones, models")
    unknown = set(plan) - PLAN_KEYS
    if unknown:
        raise ConfigError(f"plan {path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(PLAN_KEYS)}")
    plan.setdefault("name", path.stem)
    plan["composed"] = _included_composed(plan, path)
    datasets = plan.setdefault("datasets", {} if plan["composed"] else None)
    if not isinstance(datasets, dict) or not (datasets or plan["composed"]):
        raise ConfigError(f"plan {path}: 'datasets' must map dataset names to settings, e.g. "
                          "{synthetic-shapes: {notions: all}} (or give a 'composed' section)")
    for name, settings in datasets.items():
        check_dataset(name)
        settings = datasets[name] = check_dict(f"datasets.{name}", settings)
        if "notions" in settings:  # own notions: word files (relative to the plan) read into their word lists
            settings["notions"] = resolve_word_files(settings["notions"], path.parent)
        check_notions(name, settings.get("notions", "all"))
        check_dict(f"datasets.{name}.options", settings.get("options"))
        if settings.get("generate") is not None:
            check_choice(f"datasets.{name}.generate", settings["generate"], GENERATORS)
            if not settings.get("root"):
                raise ConfigError(f"plan {path}: datasets.{name}.generate needs a root to write it to")
    plan["backbones"] = [check_backbone(b) for b in plan.get("backbones", ["auto"])]
    plan["models"] = check_models(plan.get("models", list(MODELS)))
    plan["seeds"] = check_positive_int("seeds", plan.get("seeds", 5))
    plan["n_components"] = check_positive_int("n_components", plan.get("n_components", 128))
    plan["batch_size"] = check_positive_int("batch_size", plan.get("batch_size", 64))
    plan["num_workers"] = check_positive_int("num_workers", plan.get("num_workers", 1), minimum=0)
    plan["device"] = plan.get("device", "cpu")
    plan["executor"] = check_engine_name(plan.get("executor", "local"))  # where the cache notebooks' shards run
    plan["on_error"] = check_choice("on_error", plan.get("on_error", "raise"), ["raise", "skip"])
    plan["prompt_words"] = check_choice("prompt_words", plan.get("prompt_words", "all"), PROMPT_WORDS)
    plan["threads"] = check_threads(plan.get("threads", DEFAULT_THREADS))
    plan["model_options"] = check_dict("model_options", plan.get("model_options"))
    plan["evaluation"] = check_dict("evaluation", plan.get("evaluation"))
    for section, allowed in (("evaluation", EVALUATION_KEYS), ("attribution", ATTRIBUTION_KEYS)):
        unknown = set(plan[section] if section == "evaluation" else plan.get(section) or {}) - allowed
        if unknown:
            raise ConfigError(f"plan {path}: unknown {section} key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    sweep = plan["sweep"] = check_dict("sweep", plan.get("sweep"))
    if sweep:
        if len(sweep) != 1 or set(sweep) - SWEEP_KEYS:
            raise ConfigError(f"plan {path}: sweep must have exactly one of {sorted(SWEEP_KEYS)}, got {sorted(sweep)}")
        (key, values), = sweep.items()
        if not isinstance(values, list) or not values:
            raise ConfigError(f"plan {path}: sweep.{key} must be a non-empty list, e.g. [2, 4, 8]")
        for value in values:
            check_positive_int(f"sweep.{key}", value)
    plan["composed"] = check_composed(plan["composed"], path, plan["backbones"])
    attribution = plan["attribution"] = check_dict("attribution", plan.get("attribution", {}))
    if attribution:
        if attribution.get("method", "smoothgrad") not in ATTRIBUTION_METHODS:
            raise ConfigError(f"plan {path}: attribution.method={attribution.get('method')!r} must be one of "
                              f"{list(ATTRIBUTION_METHODS)}")
        check_positive_int("attribution.samples", attribution.get("samples", 25))
        check_fraction("attribution.noise", attribution.get("noise", 0.15))
    return plan


def _included_composed(plan: dict, path: Path) -> dict:
    """The plan's ``composed`` section, or that of the one plan it includes (``include: [other.yaml]``, paths
    relative to the plan): e.g. the demo plan runs plans/composed-demo.yaml's composed retrieval in its run."""
    included = plan.pop("include", None)
    if not included:
        return plan.get("composed") or {}
    included = [included] if isinstance(included, str) else included
    if not isinstance(included, list) or len(included) != 1 or plan.get("composed"):
        raise ConfigError(f"plan {path}: include must name one plan whose composed section joins this run "
                          f"(and the plan has no composed section of its own), got include={included!r}")
    other = (path.parent / included[0]).resolve()
    raw = yaml.safe_load(other.read_text()) if other.is_file() else None
    if not isinstance(raw, dict) or not raw.get("composed"):
        raise ConfigError(f"plan {path}: include {included[0]!r} must be a plan file with a composed section "
                          f"(looked at {other})")
    section = dict(raw["composed"])
    section.setdefault("backbones", raw.get("backbones", ["auto"]))
    # paths inside the included section are relative to its own plan file
    for key in ("mappers",):
        for backbone, paths in (section.get(key) or {}).items():
            section[key][backbone] = {m: str((other.parent / p).resolve()) for m, p in (paths or {}).items()}
    for settings in (section.get("benchmarks") or {}).values():
        if isinstance(settings, dict) and settings.get("root"):
            settings["root"] = str((other.parent / settings["root"]).resolve())
    return section


def plan_jobs(plan: dict, run_dir: Path, data_dir: Path | None = None, cache_dir: Path | None = None) -> list[Job]:
    """Expand a plan into jobs: per dataset × backbone a cache job, a fit job per notion, one evaluation
    job and (if configured) one attribution job."""
    data_dir = Path(data_dir or "data").resolve()
    cache_dir = Path(cache_dir or data_dir / "cache").resolve()
    jobs: list[Job] = []
    for dataset, settings in plan["datasets"].items():
        chosen = check_notions(dataset, settings.get("notions", "all"))
        notions = [n.name for n in chosen]
        specs = [notion_parameter(n) for n in chosen]  # names, or the spec of a notion of your own
        options = settings.get("options") or {}
        for backbone in plan["backbones"]:
            prefix = f"{dataset}/{slug(backbone)}"
            common = {"dataset": dataset, "dataset_options": options,
                      "data_root": dataset_root(settings.get("root"), data_dir),
                      "backbone": backbone, "cache_dir": str(cache_dir), "device": plan["device"],
                      "on_error": plan["on_error"]}
            if settings.get("root") is None:
                common.pop("data_root")
            cache_id = f"{prefix}/01_cache"
            jobs.append(Job(cache_id, NOTEBOOKS["cache"], {
                **common, "batch_size": plan["batch_size"], "num_workers": plan["num_workers"],
                **({"executor": plan["executor"]} if plan.get("executor", "local") != "local" else {}),
                **({"notions": specs} if settings.get("notions", "all") != "all" else {}),
                "output_dir": str(run_dir / cache_id)}))
            # Notebooks 02 and 04 fit exactly the space the evaluation fits in its first repetition.
            model = next((m for m in plan["models"] if m in INDIRECT_KEYS), INDIRECT_KEYS[0])
            space = {"model": model, "model_options": plan["model_options"].get(model, {}),
                     "n_components": plan["n_components"], "seed": 0, "prompt_words": plan["prompt_words"]}
            fit_ids = {}
            for notion, spec in zip(notions, specs):
                fit_id = fit_ids[notion] = f"{prefix}/02_fit-{slug(notion)}"
                own = {} if isinstance(spec, str) else {k: spec[k] for k in ("template", "words", "label_column")}
                jobs.append(Job(fit_id, NOTEBOOKS["fit"], {
                    **common, "notion": notion, **own, **space, "output_dir": str(run_dir / fit_id)},
                    depends_on=(cache_id,)))
            evaluation = {**common, "notions": specs, "models": plan["models"], "repetitions": plan["seeds"],
                          "n_components": plan["n_components"], "model_options": plan["model_options"],
                          "prompt_words": plan["prompt_words"], "batch_size": plan["batch_size"],
                          "num_workers": plan["num_workers"], **plan["evaluation"]}
            sweep = [(None, None)] if not plan.get("sweep") else \
                [(key, value) for key, values in plan["sweep"].items() for value in values]
            for key, value in sweep:
                eval_id = f"{prefix}/03_evaluate" + (f"-{key}-{value}" if key else "")
                jobs.append(Job(eval_id, NOTEBOOKS["evaluate"], {
                    **evaluation, **({key: value} if key else {}), "output_dir": str(run_dir / eval_id)},
                    depends_on=(cache_id,)))
            if plan["attribution"]:
                attribution_id = f"{prefix}/04_attribution"
                jobs.append(Job(attribution_id, NOTEBOOKS["attribution"], {
                    **common, "notions": specs, **space, **plan["attribution"],
                    "projections": {n: str(run_dir / fit_ids[n] / "projection.pt") for n in notions},
                    "output_dir": str(run_dir / attribution_id)}, depends_on=tuple(fit_ids.values())))
    jobs += composed_jobs(plan, run_dir, cache_dir, plan["device"])
    threads = plan.get("threads") or check_threads(DEFAULT_THREADS)
    return [dataclasses.replace(job, threads=threads[job.kind]) for job in jobs]


GENERATORS = ("example-collection",)
"""What a dataset's ``generate`` key may ask for before the run: the example of your own collection."""


def generate_dataset(settings: dict, data_dir: str | Path | None) -> Path:
    """Write the dataset a plan asks to be generated at its root (once; reused when it is already there)."""
    from ..data.example_collection import write_example_collection

    return write_example_collection(dataset_root(settings.get("root"), data_dir))


CHECK_LISTED = 20
"""``--check`` lists at most this many left-out files per dataset."""


def check_plan(plan_path: str | Path, run_dir: str | Path | None = None, data_dir: str | Path | None = None,
               cache_dir: str | Path | None = None) -> tuple[str, bool]:
    """What a plan would run and which data or weights are missing, without running or downloading anything.

    Every image of a dataset is decoded, so unreadable files are counted apart from the readable images and
    listed (with the files the folder scan passed over); with ``on_error: raise`` they make the plan not ready.

    Returns the report text and whether everything needed is present. An invalid plan raises ConfigError.
    """
    import os

    from ..backbone import RANDOM_ARCHITECTURES, clip_download_root
    from ..data.datasets import SYNTHETIC_SHAPES, load_dataset
    from .._util.errors import DatasetError
    from ..backbone.images import find_unreadable

    plan = load_plan(plan_path)
    run_dir = Path(run_dir or Path("runs") / plan["name"]).resolve()
    jobs = plan_jobs(plan, run_dir, data_dir=data_dir, cache_dir=cache_dir)
    lines = [f"plan {plan['name']}: valid; {len(jobs)} notebook job(s) into {run_dir}"]
    for job in jobs:
        state = "done" if previous_success(job, run_dir) else "to run"
        lines.append(f"  [{state}] {job.id}  ({job.notebook})")
    ready = True
    if plan["datasets"]:
        lines.append("data:")
    if data_dir is not None:
        os.environ["INDIRECT_DATA_DIR"] = str(Path(data_dir).resolve())
    for dataset, settings in plan["datasets"].items():
        notions = check_notions(dataset, settings.get("notions", "all"))
        described = f"{dataset} ({len(notions)} notion(s): {', '.join(n.name for n in notions)})"
        if dataset == SYNTHETIC_SHAPES or settings.get("generate"):
            lines.append(f"  [ok] {described}: generated on first use")
            continue
        try:
            data = load_dataset(dataset, root=dataset_root(settings.get("root"), data_dir),
                                **(settings.get("options") or {}))
        except DatasetError as missing:
            ready = False
            lines.append(f"  [MISSING] {described}:\n      " + str(missing).replace("\n", "\n      "))
            continue
        unreadable = find_unreadable(data.image_paths, progress=True)
        relative = data.file_list()
        left_out = {**data.passed_over, **{relative[i]: why for i, why in unreadable.items()}}
        blocking = bool(unreadable) and plan["on_error"] == "raise"
        ready &= not blocking
        state = "PROBLEM" if blocking else "ok"
        lines.append(f"  [{state}] {described}: {len(data) - len(unreadable)} readable images in {data.root}" +
                     (f"; {len(unreadable)} unreadable (set on_error: skip to leave them out, or fix them)"
                      if blocking else ""))
        lines += [f"      left out {path}: {why}" for path, why in list(left_out.items())[:CHECK_LISTED]]
        if len(left_out) > CHECK_LISTED:
            lines.append(f"      ... and {len(left_out) - CHECK_LISTED} more")
    if plan["composed"]:
        from .composed_jobs import check_data as check_composed_data

        text, present = check_composed_data(plan["composed"])
        lines.append(text)
        ready &= present
    lines.append("backbones:")
    composed_backbones = (plan["composed"] or {}).get("backbones", [])
    for backbone in dict.fromkeys([*(plan["backbones"] if plan["datasets"] else []), *composed_backbones]):
        if backbone in RANDOM_ARCHITECTURES or backbone == "auto":
            note = "random weights (pipeline check only)" if backbone != "auto" else \
                "ViT-B/32 if available, else random-tiny"
            lines.append(f"  [ok] {backbone}: {note}")
            continue
        import clip

        if backbone in clip.available_models():
            target = clip_download_root() / os.path.basename(clip.clip._MODELS[backbone])
            present = target.is_file()
        else:
            target = Path(backbone).expanduser()
            present = target.is_file()
        ready &= present
        lines.append(f"  [{'ok' if present else 'MISSING'}] {backbone}: "
                     + (f"{target}" if present else f"weights not at {target}; put the file there (see README)"))
    return "\n".join(lines), ready
