"""Notions: validation, prompts, the built-in synthetic-shapes notions, registry and word files."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from indirect_core.data import notions as nt
from indirect_core.data.prompt_words import read_words
from indirect_core.data.datasets import Dataset
from indirect_core._util.errors import ConfigError, DatasetError
from indirect_core.data.synthetic_shapes import DRAWN_SHAPES, OBJECT_COLOURS, SHAPE_VOCABULARY


def _dataset(tmp_path, column="colour", values=("red", "blue")) -> Dataset:
    paths = tuple(tmp_path / f"{i}.png" for i in range(len(values)))
    return Dataset("toy", tmp_path, paths, pd.DataFrame({column: list(values)}))


def test_builtin_synthetic_notions():
    names = [n.name for n in nt.notions_for("synthetic-shapes")]
    assert names[:3] == ["shape", "object colour", "background colour"]
    shape = nt.get_notion("synthetic-shapes", "shape")
    assert shape.label_column == "shape" and shape.words == tuple(SHAPE_VOCABULARY)
    assert shape.prompts[0] == "a photo of a circle" and len(shape.prompts) >= 20
    colour = nt.get_notion("synthetic-shapes", "object colour")
    assert colour.prompts[:3] == ["a orange shape", "a aqua shape", "a black shape"]  # webcolors order
    assert len(colour.words) == 17 and colour.words[5:7] == ("green", "gray") and colour.words[-1] == "yellow"
    background = nt.get_notion("synthetic-shapes", "background colour")
    assert background.label_column == "background_colour"
    assert background.prompts[-1] == "a shape in front of a yellow background"
    # Every drawn label value is among the prompt words, so a label maps to a prompt.
    assert set(DRAWN_SHAPES) <= set(shape.words) and set(OBJECT_COLOURS) <= set(colour.words)


def test_get_notion_unknown_lists_known():
    with pytest.raises(ConfigError) as info:
        nt.get_notion("synthetic-shapes", "texture")
    message = str(info.value)
    assert "'texture'" in message and "'shape'" in message and "'background colour'" in message
    with pytest.raises(ConfigError, match="no-such-dataset"):
        nt.get_notion("no-such-dataset", "shape")


def test_template_and_word_validation():
    with pytest.raises(ConfigError) as info:
        nt.Notion("n", "d", "c", "a photo of a thing", ("x",))
    assert "'a photo of a thing'" in str(info.value) and "a photo of a {}" in str(info.value)
    with pytest.raises(ConfigError, match=r"\{\} and \{\}"):
        nt.Notion("n", "d", "c", "{} and {}", ("x",))
    with pytest.raises(ConfigError, match=r"\{name\}"):
        nt.Notion("n", "d", "c", "a {} in {name}", ("x",))
    with pytest.raises(ConfigError, match="empty prompt list for notion 'n'"):
        nt.Notion("n", "d", "c", "a {}", ())
    with pytest.raises(ConfigError, match="invalid prompt word"):
        nt.Notion("n", "d", "c", "a {}", ("x", "  "))
    with pytest.raises(ConfigError, match="single string"):
        nt.Notion("n", "d", "c", "a {}", "red")


def test_prompts_dedupe_and_with_prompts():
    notion = nt.Notion("c", "d", "colour", "a {} thing", ["red", "blue", "red"])
    assert notion.words == ("red", "blue", "red")  # list converted to tuple
    assert notion.prompts == ["a red thing", "a blue thing"]
    custom = notion.with_prompts(template="something {}")
    assert custom.prompts == ["something red", "something blue"] and custom.words == notion.words
    assert notion.with_prompts(words=["green"]).prompts == ["a green thing"]
    with pytest.raises(ConfigError, match="'oops'"):
        notion.with_prompts(template="oops")
    with pytest.raises(ConfigError, match="empty prompt list"):
        notion.with_prompts(words=[])


def test_labels_from_dataset(tmp_path):
    data = _dataset(tmp_path)
    notion = nt.notion_from_words("toy", "colour", "a {} thing", ["red", "blue"])
    labels = notion.labels(data)
    assert isinstance(labels, np.ndarray) and labels.dtype.kind == "U"
    assert labels.tolist() == ["red", "blue"]
    with pytest.raises(DatasetError) as info:
        nt.notion_from_words("toy", "shape", "a {}", ["x"]).labels(data)
    assert "'shape'" in str(info.value) and "colour" in str(info.value)


def test_register_user_notion():
    notion = nt.notion_from_words("my-photos", "style", "a {} photo", ["vintage", "modern"], register=True)
    assert notion.name == "style"
    assert nt.get_notion("my-photos", "style") is notion
    assert nt.notions_for("my-photos") == [notion]


def test_read_words_takes_one_entry_a_line_without_comments(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("# colours\nred\n\n  dark blue  # a comment\nyellow\n", encoding="utf-8")
    assert read_words(words) == ["red", "dark blue", "yellow"]
    with pytest.raises(DatasetError, match="nothing.txt"):
        read_words(tmp_path / "nothing.txt")
    (tmp_path / "blank.txt").write_text("# only comments\n\n")
    with pytest.raises(DatasetError, match="blank.txt"):
        read_words(tmp_path / "blank.txt")


def _labelled(labels):
    return Dataset("toy", Path("/nonexistent"), tuple(Path(f"{i}.png") for i in range(len(labels))),
                   pd.DataFrame({"colour": labels}))


def test_prompt_words_that_equal_evaluation_labels_are_counted_case_and_space_insensitively():
    data = _labelled(["red", "BLUE", "teal", "red"])
    notion = nt.Notion("colour", "toy", "colour", "a {} thing", ["Red", " blue", "green", "dark  teal"])
    overlap = nt.label_overlap(notion, data)
    assert (overlap["n_words"], overlap["n_labels"], overlap["n_shared"]) == (4, 3, 2)
    assert overlap["shared"] == [" blue", "Red"]
    assert nt.describe_overlap(overlap).startswith("2 of 4 prompt words equal an evaluation label (2 of 3 labels")
    strict = nt.prepare_notion(notion, data, "strict")
    assert strict.words == ("green", "dark  teal") and strict.word_source.endswith("strict")
    assert nt.prepare_notion(notion, data, "all") is notion
    vocabulary = notion.with_label_vocabulary()
    assert nt.label_overlap(vocabulary, data)["n_shared"] == 3  # the authors' label-vocabulary prompts
    with pytest.raises(ConfigError, match="all 3 of its words .* are evaluation labels"):
        nt.prepare_notion(vocabulary, data, "strict")
    with pytest.raises(ConfigError, match="prompt_words='loose'"):
        nt.prepare_notion(notion, data, "loose")


def test_prompt_subsets_are_drawn_by_the_seed():
    prompts = [f"p{i}" for i in range(30)]
    a, b, c = (nt.prompt_subset(prompts, 10, s) for s in (3, 3, 4))
    assert a == b != c and len(set(a)) == 10 and a == sorted(a, key=prompts.index)
    expected = [prompts[i] for i in sorted(np.random.default_rng(3).choice(30, 10, replace=False))]
    assert a == expected and nt.prompt_subset(prompts, None, 0) == prompts
    with pytest.raises(ConfigError, match="only 30 prompts"):
        nt.prompt_subset(prompts, 31, 0)
