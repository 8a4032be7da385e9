"""What a space is made from, as a user gives it: a backbone (a ``Backbone`` or a spec), the notion (prompts, a
prompt file, a ``Notion``, or a template + words), the images (folders, CSVs, files or a ``Dataset``) and an
image query."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .._util.errors import ConfigError, DatasetError
from ..backbone import Backbone, RANDOM_ARCHITECTURES, load_backbone
from ..data.datasets import Dataset
from ..data.datasets.core import IMAGE_EXTENSIONS, is_image
from ..data.datasets.user import load_image_csv, load_plain_folder
from ..data.notions import OWN_COLLECTION, Notion
from ..data.prompt_words import read_words

COLLECTION = OWN_COLLECTION
"""Dataset name of a space's notion (a space is not tied to a registered dataset)."""


def resolve_backbone(backbone: Backbone | str, cache_dir: str | Path | None, device: str) -> tuple[Backbone, str]:
    """A loaded backbone and the spec that loads it again."""
    if isinstance(backbone, str):
        loaded = load_backbone(backbone, device=device, cache_dir=Path(cache_dir) if cache_dir else None)
        return loaded, (loaded.name if backbone == "auto" else backbone)
    if isinstance(backbone, Backbone):
        return backbone, spec_of(backbone)
    raise ConfigError(f"backbone must be a Backbone (ic.load_backbone(...)) or a spec such as 'ViT-B/32' or "
                      f"'random-tiny', got {type(backbone).__name__}")


def spec_of(backbone: Backbone) -> str:
    """A spec that loads this backbone again: its name for CLIP names and random stand-ins, else its file."""
    import clip

    if backbone.name in RANDOM_ARCHITECTURES or backbone.name in clip.available_models():
        return backbone.name
    return str(Path(backbone.weights_path).absolute())


def notion_of(prompts: Any, template: str | None, words: Any, name: str | None) -> Notion:
    """The notion a space is fitted on, from a prompt list / prompt file / Notion, or template + words."""
    if isinstance(prompts, Notion):
        if template is not None or words is not None:
            raise ConfigError("give a Notion or template + words, not both")
        notion = prompts if prompts.is_resolved else None
        if notion is None:
            raise ConfigError(f"notion {prompts.name!r} takes its words from a dataset's labels: resolve it with "
                              "notion.for_dataset(data) first, or give template + words")
        return Notion(name or notion.name, COLLECTION, notion.label_column, notion.template, notion.words,
                      word_source=notion.word_source)
    if prompts is not None:
        if template is not None or words is not None:
            raise ConfigError("give either prompts=[...] or template + words, not both")
        source = "given prompts"
        if isinstance(prompts, (str, Path)):
            if not Path(prompts).expanduser().is_file():
                raise ConfigError(f"prompts={str(prompts)!r} is one string and not a file: pass a list of prompts "
                                  "(['a red car', 'a blue car']) or the path of a prompt file (one prompt per line)")
            source, prompts = str(prompts), read_words(Path(prompts).expanduser())
        prompts = list(prompts)
        if not prompts:
            raise ConfigError("prompts is empty: give at least one prompt, e.g. ['a red shape', 'a blue shape']")
        return Notion(name or "prompts", COLLECTION, name or "prompts", "{}", prompts, word_source=source)
    if template is None or words is None:
        raise ConfigError("describe the notion with prompts=[...] (or a prompt file), or with template='a photo "
                          "of a {}' and words=[...] (or a word file)")
    source = "given words"
    if isinstance(words, (str, Path)):
        source, words = str(words), read_words(Path(words).expanduser())
    return Notion(name or template, COLLECTION, name or template, template, list(words), word_source=source)


def words_of(prompts: list[str], template: str | None) -> list[str]:
    """The words behind saved prompts (the prompts themselves when there is no template)."""
    if not template:
        return list(prompts)
    head, tail = template.split("{}")
    return [p[len(head):len(p) - len(tail)] for p in prompts]


def image_collections(images: Any) -> list[tuple[Dataset | None, dict[str, str]]]:
    """Split what ``add_images`` was given into datasets (folders, CSVs, loose files) and missing files."""
    if isinstance(images, Dataset):
        return [(images, {})]
    items = [images] if isinstance(images, (str, Path)) else list(images) if images is not None else []
    if not items:
        raise DatasetError("no images given: pass a folder, a CSV with a path column, image files or a Dataset")
    result: list[tuple[Dataset | None, dict[str, str]]] = []
    loose: list[Path] = []
    missing: dict[str, str] = {}
    for item in items:
        if isinstance(item, Dataset):
            result.append((item, {}))
            continue
        path = Path(item).expanduser().absolute()
        if path.is_dir():
            result.append((load_plain_folder(path), {}))
        elif path.is_file() and path.suffix.lower() == ".csv":
            result.append((load_image_csv(path), {}))
        elif is_image(path):
            loose.append(path)
        elif len(items) == 1 and path.is_file():
            raise DatasetError(f"{path} is neither an image ({', '.join(IMAGE_EXTENSIONS)}), a CSV with a path "
                               "column nor a folder: pass one of those")
        elif path.is_file():
            missing[str(path)] = f"not an image file (extensions {', '.join(IMAGE_EXTENSIONS)})"
        elif len(items) == 1:
            raise DatasetError(f"{path} does not exist: pass a folder of images, a CSV with a path column, "
                               "image files or a Dataset")
        else:
            missing[str(path)] = "file does not exist"
    if loose:
        root = Path(os.path.commonpath([str(p.parent) for p in loose]))
        result.append((Dataset(name=root.name or "images", root=root, image_paths=tuple(loose),
                               labels=pd.DataFrame(index=range(len(loose)))), {}))
    if missing:
        result.append((None, missing))
    return result


def identity_path(path: str | Path) -> str:
    """What makes two paths the same image in a space: the resolved path (absolute, symlinks followed)."""
    return str(Path(path).expanduser().resolve())


def image_query_feature(backbone: Backbone, image: str | Path) -> torch.Tensor:
    """The raw CLIP feature (1, d) of an image query, or a DatasetError naming the file."""
    if not isinstance(image, (str, Path)):
        raise ConfigError(f"image query must be the path of an image file, got {type(image).__name__}")
    path = Path(image).expanduser()
    if not path.is_file():
        raise DatasetError(f"image query {path} does not exist: pass the path of an image file")
    for _, features, failures in backbone.iter_image_batches([path], on_error="skip", progress=False):
        if failures:
            raise DatasetError(f"image query {path} cannot be read ({failures[0]}): pass a readable image "
                               f"file ({', '.join(IMAGE_EXTENSIONS)})")
        return features
    raise DatasetError(f"image query {path} cannot be read: pass a readable image file")  # pragma: no cover
