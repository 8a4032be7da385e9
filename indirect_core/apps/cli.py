"""The command line (``python -m indirect_core``, or ``indirect`` once installed).

``python -m indirect_core report PLAN.yaml`` runs a plan's notebooks with papermill into ``runs/<name>/``;
``python -m indirect_core experiment [options]`` runs one dataset's study as a plain script;
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
    pages = commands.add_parser("check-report", help="open a run's pages in headless Chromium and check them")
    pages.add_argument("run_dir", help="run folder, e.g. runs/demo")
    study = commands.add_parser("experiment", help="run every notion × model × seed on a dataset (script)")
    study.add_argument("--dataset", default="synthetic-shapes")
    study.add_argument("--backbone", default="auto", help="CLIP name, checkpoint path, random-tiny, or auto")
    study.add_argument("--notions", nargs="*", default=None, help="notion names (default: all of the dataset)")
    study.add_argument("--models", nargs="*", default=None, help="model keys (default: all)")
    study.add_argument("--seeds", type=int, default=5, help="number of repetitions (seeds 0..N-1)")
    study.add_argument("--n-components", type=int, default=128)
    study.add_argument("--out", default=None, help="run folder (default runs/<timestamp>)")
    study.add_argument("--data-root", default=None)
    study.add_argument("--cache-dir", default=None)
    study.add_argument("--device", default="cpu")
    study.add_argument("--batch-size", type=int, default=64)
    study.add_argument("--num-workers", type=int, default=1)
    study.add_argument("--on-error", default="raise", choices=["raise", "skip"])
    own = study.add_argument_group("your own notion (e.g. for --dataset image-folder)")
    own.add_argument("--template", help="prompt template with one {}, e.g. 'a photo of a {}'")
    own.add_argument("--words", help="word file, one word per line ('#' comments allowed)")
    own.add_argument("--label-column", default="label", help="label column the notion is evaluated on")
    space_cli.add_commands(commands)
    args = parser.parse_args(argv)
    try:
        if args.command in space_cli.COMMANDS:
            return space_cli.run(args)
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

        notions = args.notions
        if args.template or args.words:
            from ..data.notions import notion_from_words, read_word_file

            if not (args.template and args.words):
                raise ConfigError("--template and --words go together: give both, e.g. "
                                  "--template 'a photo of a {}' --words words.txt")
            notions = [notion_from_words(args.dataset, args.label_column, args.template,
                                         read_word_file(args.words), name=args.label_column)]
        run_study(dataset=args.dataset, backbone=args.backbone, notions=notions,
                  **({"models": args.models} if args.models is not None else {}),
                  seeds=range(args.seeds), n_components=args.n_components, out=args.out,
                  data_root=args.data_root, cache_dir=args.cache_dir, device=args.device,
                  batch_size=args.batch_size, num_workers=args.num_workers, on_error=args.on_error)
    except IndirectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0

