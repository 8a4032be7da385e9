"""The command line (``python -m indirect_core``, or ``indirect`` once installed).

``python -m indirect_core report PLAN.yaml`` runs a plan's notebooks with papermill into ``runs/<name>/``;
``python -m indirect_core experiment [options]`` runs one dataset's study as a plain script (its options are
notebook 03's parameters); ``python -m indirect_core parameters`` prints every notebook's parameters; ``train-backbone`` trains shapes-clip;
``space fit|add|info``, ``search``, ``explore`` and ``example-folder`` work on your own collection (``apps.space_cli``).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import TextIO

from .._util.errors import ConfigError, IndirectError
from ..engines import available_engines
from . import space_cli


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the job, print project errors as one clear line (exit code 2) and warnings as
    ``warning: message`` (no file, line number or source line)."""
    with warnings.catch_warnings():
        warnings.showwarning = _print_warning
        return _main(argv)


def _print_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   file: TextIO | None = None, line: str | None = None) -> None:
    """A warning as the command line shows it: its message only, on stderr."""
    print(f"warning: {str(message).strip()}", file=file or sys.stderr)


EXPERIMENT_NOTEBOOK = "03_evaluate"
EXPERIMENT_OPTIONS = {"dataset": "--dataset", "backbone": "--backbone", "notions": "--notions", "models": "--models",
                      "repetitions": "--seeds", "n_components": "--n-components", "data_root": "--data-root",
                      "cache_dir": "--cache-dir", "device": "--device", "batch_size": "--batch-size",
                      "num_workers": "--num-workers", "on_error": "--on-error"}
"""The ``experiment`` command's options: notebook 03's parameters (their defaults, help and checks) by flag."""
TRAIN_BACKBONE_NOTEBOOK = "08_train_backbone"
TRAIN_BACKBONE_OPTIONS = {name: "--" + name.replace("_", "-") for name in (
    "architecture", "steps", "seed", "n_groups", "design", "lr", "warmup", "text_freeze", "weight_decay", "grad_clip",
    "threads", "device", "eval_every", "held_out_images", "checkpoint_every", "work_dir")}
"""The ``train-backbone`` command's options: notebook 08's parameters by flag (the output folder is an argument)."""


def add_notebook_options(parser: argparse.ArgumentParser, notebook: str, options: dict[str, str]) -> None:
    """One option per notebook parameter (``{parameter: flag}``), with the parameter's default and help."""
    from ..batch.parameters import declared

    for name, flag in options.items():
        parameter = declared(notebook, name)
        shown = " ".join(parameter.default) if isinstance(parameter.default, list) else parameter.default
        parser.add_argument(flag, dest=name, default=parameter.fresh_default(), **parameter.check.cli,
                            help=f"{parameter.help} (default: {shown})".replace("%", "%%"))


def notebook_options(args: argparse.Namespace, notebook: str, options: dict[str, str]) -> dict:
    """The values of ``add_notebook_options``'s options, checked by their declarations (errors name the flag)."""
    from ..batch.parameters import declared

    return {name: declared(notebook, name).validate(getattr(args, name), flag) for name, flag in options.items()}


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indirect_core")
    commands = parser.add_subparsers(dest="command", required=True)
    batch = commands.add_parser("report", help="run a plan's notebooks into runs/<name>/ with an index.html")
    batch.add_argument("plan", help="plan file, e.g. plans/demo.yaml")
    batch.add_argument("--jobs", type=int, default=1, help="notebooks run in parallel (default 1)")
    batch.add_argument("--name", default=None, help="run folder name (default: the plan's name)")
    batch.add_argument("--runs-dir", default="runs")
    batch.add_argument("--data-dir", default="data")
    batch.add_argument("--cache-dir", default=None)
    batch.add_argument("--figures-dir", default="figures")
    batch.add_argument("--executor", default="local", choices=list(available_engines()),
                       help="where notebooks run: local processes (default) or Ray tasks (docs/CLUSTER.md)")
    batch.add_argument("--address", default=None,
                       help="with --executor ray: the Ray cluster's head, host:port (default: $RAY_ADDRESS, else "
                            "a local Ray)")
    batch.add_argument("--check", action="store_true",
                       help="validate the plan, print what would run and what data/weights are missing; run nothing")
    table = commands.add_parser("parameters", help="print every notebook's parameters: default, what it accepts, "
                                "meaning (docs/PARAMETERS.md)")
    table.add_argument("notebooks", nargs="*", help="notebook names, e.g. 03_evaluate (default: all)")
    pages = commands.add_parser("check-report", help="open a run's pages in headless Chromium and check them")
    pages.add_argument("run_dir", help="run folder, e.g. runs/demo")
    study = commands.add_parser("experiment", help="run every notion × model × seed on a dataset (script)")
    add_notebook_options(study, EXPERIMENT_NOTEBOOK, EXPERIMENT_OPTIONS)
    study.add_argument("--out", default=None, help="run folder (default runs/<timestamp>)")
    own = study.add_argument_group("your own notion (e.g. for --dataset image-folder)")
    own.add_argument("--template", help="prompt template with one {}, e.g. 'a photo of a {}'")
    own.add_argument("--words", help="word file, one word per line ('#' comments allowed)")
    own.add_argument("--label-column", default="label", help="label column the notion is evaluated on")
    train = commands.add_parser("train-backbone", help="train shapes-clip, the small CLIP of the embedded data, and "
                                "write it with its model card (default: over the shipped one)")
    train.add_argument("output", nargs="?", default=None,
                       help="folder for the checkpoint, model card and loss curve (default: the shipped "
                            "indirect_core/backbone/weights/shapes-clip)")
    add_notebook_options(train, TRAIN_BACKBONE_NOTEBOOK, TRAIN_BACKBONE_OPTIONS)
    train.add_argument("--restart", action="store_true",
                       help="train from scratch even where an unfinished run's state lies in the work folder")
    space_cli.add_commands(commands)
    args = parser.parse_args(argv)
    try:
        if args.command in space_cli.COMMANDS:
            return space_cli.run(args)
        if args.command == "parameters":
            from ..batch.parameters import parameters_markdown

            print(parameters_markdown(args.notebooks or None), end="")
            return 0
        if args.command == "check-report":
            from ..report.page_check import check_run

            checks = check_run(args.run_dir)
            for check in checks:
                progress = max(check.progress_lines.values(), default=0)
                print(f"[{'ok' if check.ok else 'PROBLEM'}] {check.page}: {check.banners} banner(s), at most "
                      f"{progress} progress line(s) per bar, {check.stderr_boxes} stderr box(es), "
                      f"{check.warning_blocks} warning(s) shown ({len(check.warnings)} distinct), "
                      f"{len(check.cut_off)} cut off, {len(check.wrapped_cells)} wrapped cell(s), "
                      f"{check.height} px tall; screenshot {check.screenshot}")
                for problem in check.problems:
                    print(f"    {problem}")
            return 0 if all(c.ok for c in checks) else 1
        if args.command == "train-backbone":
            return _train_backbone(args)
        if args.command == "report":
            from ..batch import check_plan, load_plan, run_plan

            name = args.name or load_plan(args.plan)["name"]
            if args.check:
                text, ready = check_plan(args.plan, run_dir=Path(args.runs_dir) / name, data_dir=args.data_dir,
                                         cache_dir=args.cache_dir)
                print(text)
                print("ready to run" if ready else "plan is valid; the data or weights marked MISSING, and the "
                      "files of a dataset marked PROBLEM, need fixing before it can run")
                return 0
            run_plan(args.plan, run_dir=Path(args.runs_dir) / name, n_jobs=args.jobs, data_dir=args.data_dir,
                     cache_dir=args.cache_dir, figures_dir=args.figures_dir, executor=args.executor,
                     address=args.address)
            return 0
        from ..report.results import run_study  # imported late so --help stays fast

        values = notebook_options(args, EXPERIMENT_NOTEBOOK, EXPERIMENT_OPTIONS)
        notions = None if values["notions"] == "all" else values["notions"]
        notions = [notions] if isinstance(notions, str) else notions
        if args.template or args.words:
            from ..data.notions import notion_from_words, read_words

            if not (args.template and args.words):
                raise ConfigError("--template and --words go together: give both, e.g. "
                                  "--template 'a photo of a {}' --words words.txt")
            notions = [notion_from_words(values["dataset"], args.label_column, args.template,
                                         read_words(args.words), name=args.label_column)]
        run_study(dataset=values["dataset"], backbone=values["backbone"], notions=notions, models=values["models"],
                  seeds=range(values["repetitions"]), n_components=values["n_components"], out=args.out,
                  data_root=values["data_root"], cache_dir=values["cache_dir"], device=values["device"],
                  batch_size=values["batch_size"], num_workers=values["num_workers"], on_error=values["on_error"])
    except IndirectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _train_backbone(args: argparse.Namespace) -> int:
    """Train shapes-clip with the command's options and print the model card's numbers."""
    from ..backbone import SHIPPED_DIR
    from ..shapes_clip import card_summary, train_shapes_clip

    values = notebook_options(args, TRAIN_BACKBONE_NOTEBOOK, TRAIN_BACKBONE_OPTIONS)
    output = Path(args.output) if args.output else SHIPPED_DIR
    held_out_images = values.pop("held_out_images")
    card = train_shapes_clip(output, held_out_images=held_out_images, resume=not args.restart, **values)
    print(card_summary(card))
    print(f"model card: {output / 'MODEL_CARD.md'}")
    return 0
