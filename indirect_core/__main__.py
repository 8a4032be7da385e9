"""Command line: ``python -m indirect_core report [options]`` runs the main experiment job."""
from __future__ import annotations

import argparse
import sys

from .errors import ConfigError, IndirectError
from .experiment import DEFAULT_MODELS


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the job, print project errors as one clear line (exit code 2)."""
    parser = argparse.ArgumentParser(prog="python -m indirect_core")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="run every notion × model × seed on a dataset")
    report.add_argument("--dataset", default="synthetic-shapes")
    report.add_argument("--backbone", default="auto", help="CLIP name, checkpoint path, random-tiny, or auto")
    report.add_argument("--notions", nargs="*", default=None, help="notion names (default: all of the dataset)")
    report.add_argument("--models", nargs="*", default=list(DEFAULT_MODELS))
    report.add_argument("--seeds", type=int, default=5, help="number of repetitions (seeds 0..N-1)")
    report.add_argument("--n-components", type=int, default=128)
    report.add_argument("--out", default=None, help="run folder (default runs/<timestamp>)")
    report.add_argument("--data-root", default=None)
    report.add_argument("--cache-dir", default=None)
    report.add_argument("--device", default="cpu")
    report.add_argument("--batch-size", type=int, default=64)
    report.add_argument("--num-workers", type=int, default=1)
    report.add_argument("--on-error", default="raise", choices=["raise", "skip"])
    own = report.add_argument_group("your own notion (e.g. for --dataset image-folder)")
    own.add_argument("--template", help="prompt template with one {}, e.g. 'a photo of a {}'")
    own.add_argument("--words", help="word file, one word per line ('#' comments allowed)")
    own.add_argument("--label-column", default="label", help="label column the notion is evaluated on")
    args = parser.parse_args(argv)
    from .report import run_report  # imported late so --help stays fast

    try:
        notions = args.notions
        if args.template or args.words:
            from .notions import notion_from_words, read_word_file

            if not (args.template and args.words):
                raise ConfigError("--template and --words go together: give both, e.g. "
                                  "--template 'a photo of a {}' --words words.txt")
            notions = [notion_from_words(args.dataset, args.label_column, args.template,
                                         read_word_file(args.words), name=args.label_column)]
        run_report(dataset=args.dataset, backbone=args.backbone, notions=notions, models=args.models,
                   seeds=range(args.seeds), n_components=args.n_components, out=args.out,
                   data_root=args.data_root, cache_dir=args.cache_dir, device=args.device,
                   batch_size=args.batch_size, num_workers=args.num_workers, on_error=args.on_error)
    except IndirectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
