"""Command line for your own collection: ``space fit|add|info``, ``search``, ``search-composed``, ``explore`` and
``example-folder``.

``python -m indirect_core space fit SPACE --template 'a photo of a {} object' --words colours.txt --images ~/photos``
fits a space and indexes a folder; ``python -m indirect_core search SPACE --text 'a red car' --k 10`` prints the
nearest images; ``python -m indirect_core search-composed SHAPE COLOUR --image ref.png --keep shape --change
'object colour=red'`` keeps the reference's shape and asks for red (InDiReCT-CIR over saved spaces). Every option
of ``Space`` is reachable (solver, model options, index, dataset options). Heavy
imports happen inside ``run`` so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

COMMANDS = ("space", "search", "search-composed", "explore", "example-folder")


def _key_values(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict, values read as YAML scalars (``100`` -> int, ``null`` -> None)."""
    import yaml

    from .._util.errors import ConfigError

    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {pair!r} must be KEY=VALUE, e.g. {flag} patience=100")
        options[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return options


def _backbone_options(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument("--backbone", default=default,
                        help="CLIP name, checkpoint path, random-tiny or auto" +
                        (" (default: %(default)s)" if default else " (default: the one the space was built with)"))
    parser.add_argument("--cache-dir", default=None, help="embedding cache (default: data/cache)")
    parser.add_argument("--device", default="cpu")


def _image_options(parser: argparse.ArgumentParser, flag: str | None) -> None:
    if flag:
        parser.add_argument(flag, nargs="+", default=None, metavar="PATH",
                            help="images to index: folders (plain or nested), CSVs with a path column, image files")
    else:
        parser.add_argument("images", nargs="*", metavar="PATH",
                            help="images to index: folders (plain or nested), CSVs with a path column, image files")
    parser.add_argument("--dataset", default=None, help="index a registered dataset instead, e.g. image-folder, "
                        "image-csv, synthetic-shapes (its labels travel with the images)")
    parser.add_argument("--data-root", default=None, help="the dataset's root (folder or CSV)")
    parser.add_argument("--dataset-option", action="append", metavar="KEY=VALUE",
                        help="loader option, e.g. path_column=file or n_images=60 (repeatable)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=0)


def add_commands(commands: Any) -> None:
    """Register ``space``, ``search``, ``explore`` and ``example-folder`` on the main parser's subcommands."""
    from ..batch.parameters import declared

    space = commands.add_parser("space", help="your own collection: fit a space from a few words, add images, info")
    actions = space.add_subparsers(dest="space_command", required=True)
    fit = actions.add_parser("fit", help="fit a space on prompts (InDiReCT) or make a CLIP space; save it to SPACE")
    fit.add_argument("space", help="folder the space is saved to")
    prompts = fit.add_argument_group("the notion (one of)")
    prompts.add_argument("--prompts", nargs="+", help="the prompts themselves, e.g. 'a red car' 'a blue car'")
    prompts.add_argument("--prompt-file", help="prompt file, one prompt per line ('#' comments allowed)")
    prompts.add_argument("--template", help="prompt template with one {}, e.g. 'a photo of a {} object'")
    prompts.add_argument("--words", help="word file for the template, one word per line")
    prompts.add_argument("--clip", action="store_true", help="no projection: raw CLIP features (for comparison)")
    fit.add_argument("--name", default=None, help="the space's name (default: the template or 'prompts')")
    fit.add_argument("--solver", default="indirect-lbfgs", choices=["indirect-lbfgs", "indirect"],
                     help="indirect-lbfgs: our fast deterministic solver (default); indirect: the authors' Adam "
                          "procedure, seeded by --seed")
    fit.add_argument("--n-components", type=int, default=128)
    fit.add_argument("--seed", type=int, default=0, help="random_state of the fit (default 0)")
    fit.add_argument("--model-option", action="append", metavar="KEY=VALUE",
                     help="option of the solver's model, e.g. patience=100, lr=0.01, max_iter=200 (repeatable)")
    fit.add_argument("--index", default="auto", choices=["auto", "exact", "ivf"],
                     help="search index: exact, faiss IVF, or auto (IVF from 100000 images on)")
    fit.add_argument("--nprobe", type=int, default=32, help="IVF cells scanned per query (default 32)")
    fit.add_argument("--force", action="store_true", help="replace a space already saved in SPACE")
    _backbone_options(fit, "auto")
    _image_options(fit, "--images")
    add = actions.add_parser("add", help="add images to a saved space (already indexed images are not repeated)")
    add.add_argument("space", help="a saved space folder")
    _image_options(add, None)
    _backbone_options(add, None)
    info = actions.add_parser("info", help="what a saved space is: backbone, solver, seed, prompts, images, index")
    info.add_argument("space")
    info.add_argument("--json", action="store_true", help="print the record as JSON")
    search = commands.add_parser("search", help="search a saved space by text or by image")
    search.add_argument("space", help="a saved space folder")
    query = search.add_mutually_exclusive_group(required=True)
    query.add_argument("--text", help="a description, e.g. 'a red shape'")
    query.add_argument("--image", help="an image file (indexed or not)")
    search.add_argument("--k", type=int, default=10, help="number of results (default 10)")
    search.add_argument("--json", action="store_true", help="print the results as JSON")
    _backbone_options(search, None)
    composed = commands.add_parser("search-composed", help="keep what a reference image shows in some saved "
                                   "spaces, change others by words (InDiReCT-CIR over spaces of one backbone)")
    composed.add_argument("spaces", nargs="+", metavar="SPACE", help="saved space folders, one per notion")
    composed.add_argument("--image", help="the reference image (needed when a space is kept)")
    composed.add_argument("--keep", action="append", metavar="NOTION",
                          help="a space (by name) in which the result keeps the reference (repeatable; default: "
                               "every space not changed)")
    composed.add_argument("--change", action="append", metavar="NOTION=TEXT",
                          help="a space (by name) and the text the result matches there, e.g. 'object colour=red' "
                               "(repeatable)")
    composed.add_argument("--text", help="the modification text instead of --change, routed to the spaces whose "
                          "prompts its clauses resemble, e.g. 'is red and has a navy background'")
    composed.add_argument("--k", type=int, default=10, help="number of results (default 10)")
    composed.add_argument("--json", action="store_true", help="print the results as JSON")
    _backbone_options(composed, None)
    explore = commands.add_parser("explore", help="serve the explorer notebook (07_explore) as a web page with Voila")
    explore.add_argument("--space", action="append", metavar="FOLDER",
                         help="saved space to explore (repeatable; default: CLIP + the notebook's notions over "
                              "the example collection, written on first use)")
    explore.add_argument("--images", default=None, help="with no --space: the folder or CSV to explore")
    explore.add_argument("--k", type=int, default=declared("07_explore", "k").default,
                         help="results per space (default %(default)s)")
    explore.add_argument("--port", type=int, default=8866)
    explore.add_argument("--out", default="runs/explore", help="where the parametrised notebook is written")
    explore.add_argument("--dry-run", action="store_true", help="write the notebook, print the Voila command, stop")
    _backbone_options(explore, declared("07_explore", "backbone").default)
    example = commands.add_parser("example-folder", help="write the example collection (synthetic-shapes images "
                                  "in one sub-folder per object colour, plus labels.csv)")
    example.add_argument("root", nargs="?", default=None, help="target folder (default: data/my-photos)")
    example.add_argument("--n-images", type=int, default=120)
    example.add_argument("--image-size", type=int, default=64)
    example.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    """Execute one of ``COMMANDS`` (project errors propagate to ``__main__``, which prints them)."""
    if args.command == "example-folder":
        from ..data.example_collection import write_example_collection

        root = write_example_collection(args.root, n_images=args.n_images, image_size=args.image_size,
                                        seed=args.seed, progress=True)
        print(f"example collection in {root}: one sub-folder per object colour, labels.csv with shape, "
              "object_colour and background_colour")
        return 0
    if args.command == "explore":
        return _explore(args)
    if args.command == "search":
        return _search(args)
    if args.command == "search-composed":
        return _search_composed(args)
    return {"fit": _fit, "add": _add, "info": _info}[args.space_command](args)


def _images(args: argparse.Namespace, paths: list[str] | None) -> Any:
    """What ``Space.add_images`` gets from the command line: paths, or a registered dataset."""
    from ..data.datasets import load_dataset
    from .._util.errors import ConfigError

    options = _key_values(args.dataset_option, "--dataset-option")
    if args.dataset:
        if paths:
            raise ConfigError("give image paths or --dataset, not both")
        return load_dataset(args.dataset, root=args.data_root, **options)
    if options or args.data_root:
        raise ConfigError("--data-root and --dataset-option go with --dataset (e.g. --dataset image-csv "
                          "--data-root labels.csv)")
    return paths or None


def _fit(args: argparse.Namespace) -> int:
    from .._util.errors import ConfigError
    from .space import Space
    from .space_folder import SPACE_FILE

    folder = Path(args.space)
    if (folder / SPACE_FILE).is_file() and not args.force:
        raise ConfigError(f"a space is already saved in {folder}: pass --force to replace it, or add images to "
                          f"it with: python -m indirect_core space add {folder} PATH")
    given = [n for n, v in (("--prompts", args.prompts), ("--prompt-file", args.prompt_file),
                            ("--template/--words", args.template or args.words), ("--clip", args.clip)) if v]
    if len(given) != 1:
        raise ConfigError("describe the notion with exactly one of --prompts, --prompt-file, --template with "
                          f"--words, or --clip (got {', '.join(given) or 'none'})")
    images = _images(args, args.images)
    common = {"index": args.index, "nprobe": args.nprobe, "cache_dir": args.cache_dir, "device": args.device}
    if args.clip:
        space = Space.clip(args.backbone, name=args.name or "CLIP", **common)
    else:
        if (args.template is None) != (args.words is None):
            raise ConfigError("--template and --words go together, e.g. --template 'a photo of a {} object' "
                              "--words colours.txt")
        space = Space.from_prompts(args.backbone, args.prompts or (Path(args.prompt_file) if args.prompt_file
                                                                   else None),
                                   template=args.template, words=Path(args.words) if args.words else None,
                                   n_components=args.n_components, solver=args.solver, random_state=args.seed,
                                   model_options=_key_values(args.model_option, "--model-option"),
                                   name=args.name, progress=True, **common)
    if images is not None:
        space.add_images(images, batch_size=args.batch_size, num_workers=args.num_workers)
    space.save(folder)
    _print_info(space.info(), folder)
    return 0


def _add(args: argparse.Namespace) -> int:
    from .._util.errors import ConfigError
    from .space import Space
    from .space_folder import default_backbone_spec

    images = _images(args, args.images)
    if images is None:
        raise ConfigError("give the images to add: folders, CSVs or image files, or --dataset NAME")
    space = Space.load(args.space, args.backbone or default_backbone_spec(args.space), cache_dir=args.cache_dir,
                       device=args.device)
    before, skipped_before = len(space), set(space.skipped)
    space.add_images(images, batch_size=args.batch_size, num_workers=args.num_workers)
    space.save(args.space)
    newly_skipped = {p: r for p, r in space.skipped.items() if p not in skipped_before}
    print(f"added {len(space) - before} image(s) to {args.space} ({len(space)} in all)")
    _print_skipped(newly_skipped)
    return 0


def _info(args: argparse.Namespace) -> int:
    from .space_folder import read_space_record

    record = read_space_record(args.space)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        _print_info(record, Path(args.space))
    return 0


def _print_info(record: dict, folder: Path) -> None:
    """The human-readable summary of a space record."""
    from .._util.caveats import caveat_of
    from .space import model_options_of

    caveat = caveat_of(record["backbone"]) or record.get("warning")
    if caveat:
        print(f"!! {caveat.upper()}")
    backbone = record["backbone"]
    index = record["index"]
    lines = [f"space {record['name']!r} in {folder}",
             f"  backbone: {backbone['name']} (sha256 {backbone['sha256'][:12]}…)",
             f"  solver:   {record['solver']} ({record['solver_name']})" +
             (f", seed {record['random_state']}, loss {record['loss']:.5f}" if record.get("loss") is not None
              else ""),
             f"  size:     {record['n_components']} dimensions"]
    options = model_options_of(record.get("model_options") or {})
    if options:
        lines.append(f"  options:  {options}")
    if record["prompts"]:
        shown = ", ".join(repr(p) for p in record["prompts"][:3]) + (", ..." if len(record["prompts"]) > 3 else "")
        lines.append(f"  prompts:  {len(record['prompts'])} ({shown})" +
                     (f" from template {record['template']!r}" if record.get("template") else "") +
                     (f", words: {record['word_source']}" if record.get("word_source") else ""))
    lines.append(f"  images:   {record['n_images']} indexed" +
                 (f", {len(record['skipped'])} file(s) left out" if record.get("skipped") else "") +
                 (f"; labels: {', '.join(record['label_columns'])}" if record.get("label_columns") else ""))
    lines.append(f"  index:    {index.get('kind') or 'none yet'} (requested {index['requested']}" +
                 (f", nlist {index['nlist']}, nprobe {index['nprobe']}" if index.get("kind") == "ivf" else "") + ")")
    print("\n".join(lines))
    _print_skipped(record.get("skipped") or {})


def _print_skipped(skipped: dict[str, str], limit: int = 10) -> None:
    for path, reason in list(skipped.items())[:limit]:
        print(f"  left out {path}: {reason}")
    if len(skipped) > limit:
        print(f"  ... and {len(skipped) - limit} more (python -m indirect_core space info SPACE --json)")


def _search(args: argparse.Namespace) -> int:
    from .space import Space
    from .space_folder import default_backbone_spec

    space = Space.load(args.space, args.backbone or default_backbone_spec(args.space), cache_dir=args.cache_dir,
                       device=args.device)
    results = space.search(text=args.text, image=args.image, k=args.k)
    note = f"k={args.k} but the space holds {len(space)} images: all of them are shown" if args.k > len(space) \
        else None
    if args.json:
        record = {"space": space.name, "solver": space.solver, "query": {"text": args.text, "image": args.image},
                  "k": args.k, "results": results.to_dict("records")}
        if note:
            record["note"] = note
        if space.caveat:
            record["warning"] = space.caveat
        print(json.dumps(record, indent=2))
        return 0
    if space.caveat:
        print(f"!! {space.caveat.upper()}")
    print(f"space {space.name!r} ({space.solver_name}), {len(space)} images; query: "
          + (f"text {args.text!r}" if args.text is not None else f"image {args.image}"))
    if note:
        print(f"note: {note}")
    print(results.to_string(index=False, formatters={"score": "{:.4f}".format}))
    return 0


def _search_composed(args: argparse.Namespace) -> int:
    from .._util.errors import ConfigError
    from .composed_search import composed_route, search_composed
    from .space import Space
    from .space_folder import default_backbone_spec

    change = None
    if args.change:
        change = {}
        for pair in args.change:
            notion, sep, text = pair.partition("=")
            if not sep or not notion.strip():
                raise ConfigError(f"--change {pair!r} must be NOTION=TEXT, e.g. --change 'object colour=red'")
            change[notion.strip()] = text
    backbone = args.backbone or default_backbone_spec(args.spaces[0])
    spaces = [Space.load(folder, backbone, cache_dir=args.cache_dir, device=args.device) for folder in args.spaces]
    query = composed_route(spaces, text=args.text, keep=args.keep, change=change)
    results = search_composed(spaces, image=args.image, text=args.text, keep=args.keep, change=change, k=args.k)
    caveat = spaces[0].caveat
    if args.json:
        record = {"spaces": [s.name for s in spaces], "image": args.image, "keep": list(query.keep),
                  "change": dict(query.change), "k": args.k, "results": results.to_dict("records")}
        if caveat:
            record["warning"] = caveat
        print(json.dumps(record, indent=2))
        return 0
    if caveat:
        print(f"!! {caveat.upper()}")
    print(f"composed search over {len(spaces)} spaces, {len(results)} of {len(spaces[0])} images; keep "
          f"{list(query.keep)} of {args.image}; change {dict(query.change)}; score = sum of z-scored similarities")
    print(results.to_string(index=False, formatters={"score": "{:.4f}".format}))
    return 0


def _explore(args: argparse.Namespace) -> int:
    import subprocess

    from ..backbone import default_cache_dir
    from ..data.example_collection import write_example_collection
    from .explorer import EXAMPLE_QUERY, prepare_notebook, voila_command

    images, example = args.images, not args.space and args.images is None
    if example:  # the example collection, with its labels for the map (absolute: Voila runs in its own folder)
        images = write_example_collection(progress=True) / "labels.csv"
    notebook = prepare_notebook(Path(args.out), spaces=args.space or [], images=images, backbone=args.backbone,
                                cache_dir=args.cache_dir or default_cache_dir(), k=args.k, device=args.device,
                                query=EXAMPLE_QUERY if example else None)
    command = voila_command(notebook, port=args.port)
    print("serving the explorer: " + " ".join(command))
    print(f"open http://127.0.0.1:{args.port}/ in a browser (Ctrl-C stops it)")
    if args.dry_run:
        return 0
    sys.stdout.flush()
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
