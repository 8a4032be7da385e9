"""Plans: a YAML file validated whole before anything runs, expanded into notebook jobs; ``--check``'s report
of what would run and which data or weights are missing.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from .._util.errors import ConfigError
from .._util.naming import slug
from .._util.validation import check_choice, check_mapping
from .composed_jobs import check_section as check_composed, composed_jobs
from .jobs import DEFAULT_THREADS, NOTEBOOKS, Job, check_threads, previous_success
from .parameters import check_notions, check_parameters, declared, indirect_keys


PLAN_KEYS = {"name", "datasets", "backbones", "models", "seeds", "n_components", "device", "batch_size",
             "num_workers", "attribution", "evaluation", "model_options", "sweep", "on_error", "prompt_words",
             "executor", "composed", "include", "threads"}


PLAN_SETTINGS = {"seeds": ("03_evaluate", "repetitions"), "models": ("03_evaluate", "models"),
                 "model_options": ("03_evaluate", "model_options"), "n_components": ("03_evaluate", "n_components"),
                 "prompt_words": ("03_evaluate", "prompt_words"), "batch_size": ("03_evaluate", "batch_size"),
                 "num_workers": ("03_evaluate", "num_workers"), "device": ("03_evaluate", "device"),
                 "on_error": ("03_evaluate", "on_error"), "executor": ("01_cache_embeddings", "executor")}
"""Plan keys that set a notebook parameter: (notebook, parameter) whose declaration gives the key's default and
check. ``seeds`` is notebook 03's ``repetitions`` (seeds 0..seeds-1); the others keep their names and reach
every notebook that takes them."""


SWEEP_KEYS = {"n_components": "03_evaluate", "n_prompts": "03_evaluate"}
"""Parameters a plan may sweep (one evaluation job per value), by the notebook whose declaration checks a value."""


EVALUATION_KEYS = ("n_queries", "top_k", "seed", "n_jobs")
"""The ``evaluation`` section: notebook 03's parameters of these names (unset ones keep its defaults)."""


ATTRIBUTION_KEYS = ("method", "samples", "noise", "image_ids", "window", "seed")
"""The ``attribution`` section: notebook 04's parameters of these names (unset ones keep its defaults)."""


def load_plan(path: str | Path) -> dict:
    """Read and validate a plan: every dataset, notion, model and number is checked before anything runs, by the
    declaration of the notebook parameter it sets (``batch.parameters``), whose default fills a key the plan
    leaves out. ``plan_jobs`` then checks every job's parameters as its notebook will."""
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

    def key(name: str) -> str:
        return f"plan {path}: {name}"

    plan.setdefault("name", path.stem)
    plan["composed"] = _included_composed(plan, path)
    datasets = plan.setdefault("datasets", {} if plan["composed"] else None)
    if not isinstance(datasets, dict) or not (datasets or plan["composed"]):
        raise ConfigError(f"plan {path}: 'datasets' must map dataset names to settings, e.g. "
                          "{synthetic-shapes: {notions: all}} (or give a 'composed' section)")
    for name, settings in datasets.items():
        declared("03_evaluate", "dataset").validate(name, key("datasets"))
        settings = datasets[name] = check_mapping(key(f"datasets.{name}"), settings)
        if "notions" in settings:  # own notions: word files (relative to the plan) read into their word lists
            settings["notions"] = resolve_word_files(settings["notions"], path.parent)
        notions = declared("03_evaluate", "notions")
        check_notions(name, notions.validate(settings.get("notions", notions.default), key(f"datasets.{name}.notions")),
                      key(f"datasets.{name}.notions"))
        declared("03_evaluate", "dataset_options").validate(settings.get("options"), key(f"datasets.{name}.options"))
        declared("03_evaluate", "data_root").validate(settings.get("root"), key(f"datasets.{name}.root"))
        if settings.get("generate") is not None:
            check_choice(key(f"datasets.{name}.generate"), settings["generate"], GENERATORS)
            if not settings.get("root"):
                raise ConfigError(f"plan {path}: datasets.{name}.generate needs a root to write it to")
    backbone = declared("03_evaluate", "backbone")
    plan["backbones"] = [backbone.validate(b, key("backbones")) for b in plan.get("backbones", [backbone.default])]
    for name, (notebook, parameter) in PLAN_SETTINGS.items():
        declaration = declared(notebook, parameter)
        plan[name] = declaration.validate(plan[name] if name in plan else declaration.fresh_default(), key(name))
    plan["threads"] = check_threads(plan.get("threads", DEFAULT_THREADS))
    for section, allowed, notebook in (("evaluation", EVALUATION_KEYS, "03_evaluate"),
                                       ("attribution", ATTRIBUTION_KEYS, "04_attribution")):
        settings = plan[section] = check_mapping(key(section), plan.get(section))
        unknown = set(settings) - set(allowed)
        if unknown:
            raise ConfigError(f"plan {path}: unknown {section} key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        for name, value in settings.items():
            settings[name] = declared(notebook, name).validate(value, key(f"{section}.{name}"))
    sweep = plan["sweep"] = check_mapping(key("sweep"), plan.get("sweep"))
    if sweep:
        if len(sweep) != 1 or set(sweep) - set(SWEEP_KEYS):
            raise ConfigError(f"plan {path}: sweep must have exactly one of {sorted(SWEEP_KEYS)}, got {sorted(sweep)}")
        (name, values), = sweep.items()
        if not isinstance(values, list) or not values:
            raise ConfigError(f"plan {path}: sweep.{name} must be a non-empty list, e.g. [2, 4, 8]")
        sweep[name] = [declared(SWEEP_KEYS[name], name).validate(value, key(f"sweep.{name}")) for value in values]
    plan["composed"] = check_composed(plan["composed"], path, plan["backbones"])
    return plan


def resolve_word_files(notions: Any, base: str | Path) -> Any:
    """``notions`` with each own notion's word file (relative to ``base``, e.g. the plan's folder) read into its
    word list (``word_source`` keeps the file's path), so a changed file changes the job's parameters."""
    from ..data.notions import read_words

    if not isinstance(notions, (list, dict)):
        return notions
    entries = [notions] if isinstance(notions, dict) else notions
    resolved = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("words"), str):
            path = Path(entry["words"]).expanduser()
            path = path if path.is_absolute() else Path(base) / path
            entry = {**entry, "words": read_words(path), "word_source": entry.get("word_source") or str(path)}
        resolved.append(entry)
    return resolved


def notion_parameter(notion: Any) -> str | dict:
    """What a notebook's ``notions`` gets for a notion: its name when it is registered for its dataset, else
    its spec (name, template, words, label_column, word_source)."""
    from ..data.notions import notions_for

    if notion in notions_for(notion.dataset):
        return notion.name
    return {"name": notion.name, "template": notion.template, "words": list(notion.words),
            "label_column": notion.label_column, "word_source": notion.word_source}


def dataset_root(root: Any, data_dir: str | Path | None) -> str | None:
    """A plan's dataset root as an absolute path: ``~`` expanded, a relative root taken under ``data_dir``
    (default ./data), so notebooks running in their job folders find it."""
    if root is None:
        return None
    path = Path(str(root)).expanduser()
    return str(path if path.is_absolute() else (Path(data_dir or "data") / path).resolve())


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
    executor = declared("01_cache_embeddings", "executor")
    for dataset, settings in plan["datasets"].items():
        chosen = check_notions(dataset, _notions(settings))
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
                **({"executor": plan["executor"]} if plan["executor"] != executor.default else {}),
                **({"notions": specs} if _notions(settings) != "all" else {}),
                "output_dir": str(run_dir / cache_id)}))
            # Notebooks 02 and 04 fit exactly the space the evaluation fits in its first repetition.
            model = next((m for m in plan["models"] if m in indirect_keys()),
                         declared("02_fit_indirect", "model").default)
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
    for job in jobs:
        check_job(job)
    threads = plan.get("threads") or check_threads(DEFAULT_THREADS)
    return [dataclasses.replace(job, threads=threads[job.kind]) for job in jobs]


def _notions(settings: dict) -> Any:
    """A plan dataset's notions (the notebooks' default, "all", when it names none)."""
    return settings.get("notions", declared("03_evaluate", "notions").default)


def check_job(job: Job) -> None:
    """The job's parameters as its notebook checks them (without reading training data the run may make): a
    name the notebook does not take, or a bad value, fails now rather than when the job runs."""
    check_parameters(job.notebook, job.parameters, lambda name: f"job {job.id}: parameter {name}", files=False)


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
        notions = check_notions(dataset, _notions(settings))
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
