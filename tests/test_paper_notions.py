"""The paper's 13 notions, the shipped prompt word lists and label-vocabulary prompts."""

import copy
import pickle

import pandas as pd
import pytest

from indirect_core.data import notions as nt
from indirect_core.data import prompt_words as pw
from indirect_core.data.datasets import Dataset
from indirect_core._util.errors import ConfigError, DatasetError

# (dataset, notion, label column, template, word source) exactly as in protocol sections 2-3.
PAPER = [
    ("synthetic-cars", "car model", "car_model", "a photo of a {}", "car_models"),
    ("synthetic-cars", "car colour", "car_colour", "a {} car", "css21_colours"),
    ("synthetic-cars", "background colour", "background_colour", "a car in front of a {} background",
     "css21_colours"),
    ("cars196", "car model", "class_name", "a photo of a {}", "car_models"),
    ("cars196", "manufacturer", "manufacturer", "a photo of a car produced by {}", "car_manufacturers"),
    ("cars196", "car type", "body_type", "a photo of a {}", nt.LABEL_VOCABULARY_SOURCE),
    ("inshop", "clothing category", "category", "a photo of a person wearing a {}", "inshop_categories"),
    ("inshop", "texture", "texture", "a photo of a person wearing clothes with a {} texture", "inshop_texture"),
    ("inshop", "fabric", "fabric", "a photo of a person wearing clothes made out of {}", "inshop_fabric"),
    ("inshop", "fit", "fit", "a photo of a person wearing clothes with a {} fit", "inshop_fit"),
    ("cub200", "bird species", "species", "a photo of a {}", "cub_training_classes"),
    ("movie-posters", "genre", "genre", "a poster of a {} movie", nt.LABEL_VOCABULARY_SOURCE),
    ("movie-posters", "production country", "country", "a poster of a movie produced in {}",
     nt.LABEL_VOCABULARY_SOURCE),
]

SIZES = {"css21_colours": 17, "inshop_categories": 50, "inshop_texture": 7, "inshop_fabric": 6, "inshop_fit": 3,
         "cub_training_classes": 100, "car_body_types": 9,
         "size_words": 59, "fmd_materials": 10, "coco_categories": 80}

STANFORD_CARS_MAKES = [
    "AM General", "Acura", "Aston Martin", "Audi", "BMW", "Bentley", "Bugatti", "Buick", "Cadillac", "Chevrolet",
    "Chrysler", "Daewoo", "Dodge", "Eagle", "FIAT", "Ferrari", "Fisker", "Ford", "GMC", "Geo", "HUMMER", "Honda",
    "Hyundai", "Infiniti", "Isuzu", "Jaguar", "Jeep", "Lamborghini", "Land Rover", "Lincoln", "MINI", "Maybach",
    "Mazda", "McLaren", "Mercedes-Benz", "Mitsubishi", "Nissan", "Plymouth", "Porsche", "Ram", "Rolls-Royce",
    "Scion", "Spyker", "Suzuki", "Tesla", "Toyota", "Volkswagen", "Volvo", "smart",
]
SYNTHETIC_CAR_MODELS = ["Ferrari Enzo", "Mercedes Benz 300sel", "Renault Megane RS", "Mercedes Benz AMG Coupe",
                        "Range Rover Evoque", "Tesla Model S"]


def _dataset(tmp_path, name: str, **columns) -> Dataset:
    n = len(next(iter(columns.values())))
    return Dataset(name, tmp_path, [tmp_path / f"{i}.jpg" for i in range(n)], pd.DataFrame(columns))


@pytest.mark.parametrize("dataset, name, column, template, source", PAPER)
def test_paper_notion_registered(dataset, name, column, template, source):
    notion = nt.get_notion(dataset, name)
    assert (notion.label_column, notion.template, notion.word_source) == (column, template, source)
    if source == nt.LABEL_VOCABULARY_SOURCE:
        assert notion.words is nt.LABEL_VOCABULARY and notion.uses_label_vocabulary and not notion.is_resolved
    else:
        assert notion.words == tuple(pw.words(source)) and not notion.uses_label_vocabulary
        assert notion.prompts[0] == template.format(notion.words[0])


def test_paper_notions_in_order():
    keys = [(n.dataset, n.name) for n in nt.PAPER_NOTIONS]
    assert keys == [(d, n) for d, n, *_ in PAPER]
    assert [n.name for n in nt.notions_for("inshop")] == ["clothing category", "texture", "fabric", "fit"]
    assert nt.get_notion("synthetic-shapes", "background colour").template == "a shape in front of a {} background"


def test_word_list_sizes_and_contents():
    assert set(SIZES) | {"car_manufacturers", "car_models"} == set(pw.available_word_lists())
    for name, size in SIZES.items():
        assert len(pw.words(name)) == size, name
    assert tuple(pw.words("css21_colours")) == nt.CSS21_COLOUR_WORDS
    assert pw.words("inshop_texture") == ["floral", "graphic", "striped", "embroidered", "pleated", "solid", "lattice"]
    assert pw.words("inshop_fabric") == ["denim", "chiffon", "cotton", "leather", "faux", "knit"]
    assert pw.words("inshop_fit") == ["tight", "loose", "conventional"]
    categories = pw.words("inshop_categories")
    assert categories[:3] == ["Anorak", "Blazer", "Blouse"] and categories[-1] == "Turtleneck"
    cub = pw.words("cub_training_classes")
    assert cub[:5] == ["Black footed Albatross", "Laysan Albatross", "Sooty Albatross", "Groove billed Ani",
                       "Crested Auklet"]
    assert cub[21] == "Chuck will Widow" and cub[-1] == "Brown Pelican" and not any("_" in c for c in cub)


def test_car_word_lists():
    makes = pw.words("car_manufacturers")
    assert len(makes) >= 46 and set(STANFORD_CARS_MAKES) <= set(makes)
    models = pw.words("car_models")
    assert len(models) >= 500 and set(SYNTHETIC_CAR_MODELS) <= set(models)
    assert {"Toyota Corolla", "Ford F-150", "Tesla Model S"} <= set(models)
    assert len({m.split()[0] for m in models}) >= 40  # broad across makes
    assert pw.words("car_body_types") == ["Sedan", "SUV", "Coupe", "Convertible", "Hatchback", "Wagon", "Van",
                                          "Cab", "Minivan"]


@pytest.mark.parametrize("name", pw.available_word_lists())
def test_word_list_names_its_source_and_has_no_duplicates(name):
    header = " ".join(pw.word_list_header(name))
    assert "Source:" in header, name
    entries = pw.words(name)
    lowered = [w.lower() for w in entries]  # CLIP's tokenizer lowercases, so case variants would repeat a prompt
    assert len(set(lowered)) == len(lowered), name


def test_own_car_lists_start_with_the_names_the_datasets_use():
    """The car_manufacturers list opens with the 49 makes of the Stanford Cars class names, spelled as there and
    in their order; car_models opens with the six synthetic-cars models, as the DML-analysis README spells them."""
    assert pw.words("car_manufacturers")[:len(STANFORD_CARS_MAKES)] == STANFORD_CARS_MAKES
    assert pw.words("car_models")[:len(SYNTHETIC_CAR_MODELS)] == SYNTHETIC_CAR_MODELS


def test_label_vocabulary_resolution(tmp_path):
    data = _dataset(tmp_path, "movie-posters", genre=["Drama", "N/A", "Comedy", "Drama"],
                    country=["USA", "UK", "USA", "India"])
    genre = nt.get_notion("movie-posters", "genre")
    resolved = genre.for_dataset(data)
    assert resolved.words == ("Comedy", "Drama", "N/A") and resolved.is_resolved and resolved.uses_label_vocabulary
    assert "a poster of a N/A movie" in resolved.prompts and len(resolved.prompts) == 3
    country = nt.get_notion("movie-posters", "production country").for_dataset(data)
    assert country.prompts == ["a poster of a movie produced in India", "a poster of a movie produced in UK",
                               "a poster of a movie produced in USA"]
    # Re-resolving on another dataset takes that dataset's labels; ordinary notions are returned unchanged.
    other = _dataset(tmp_path, "movie-posters", genre=["Western"], country=["Aruba"])
    assert resolved.for_dataset(other).words == ("Western",)
    manufacturer = nt.get_notion("cars196", "manufacturer")
    assert manufacturer.for_dataset(other) is manufacturer


def test_car_type_alternatives(tmp_path):
    data = _dataset(tmp_path, "cars196", body_type=["SUV", "Sedan", "Cab", "SUV"],
                    class_name=["a", "b", "c", "d"])
    car_type = nt.get_notion("cars196", "car type")
    assert car_type.for_dataset(data).prompts == ["a photo of a Cab", "a photo of a SUV", "a photo of a Sedan"]
    body = car_type.with_word_list("car_body_types")
    assert body.word_source == "car_body_types" and len(body.prompts) == 9 and not body.uses_label_vocabulary
    assert body.for_dataset(data) is body
    model = nt.get_notion("cars196", "car model").with_label_vocabulary()
    assert model.uses_label_vocabulary and model.for_dataset(data).prompts[0] == "a photo of a a"
    assert model.with_word_list("car_models.txt").words == nt.get_notion("cars196", "car model").words


def test_inshop_attribute_prompts_differ_from_category():
    category = set(nt.get_notion("inshop", "clothing category").prompts)
    texture, fabric, fit = (nt.get_notion("inshop", n).prompts for n in ("texture", "fabric", "fit"))
    assert texture[0] == "a photo of a person wearing clothes with a floral texture"
    assert fabric[0] == "a photo of a person wearing clothes made out of denim"
    assert fit[-1] == "a photo of a person wearing clothes with a conventional fit"
    for prompts in (texture, fabric, fit):
        assert not category & set(prompts)
    assert len({tuple(texture), tuple(fabric), tuple(fit)}) == 3


def test_unresolved_label_vocabulary_errors(tmp_path):
    genre = nt.get_notion("movie-posters", "genre")
    with pytest.raises(ConfigError, match=r"for_dataset\(data\)") as info:
        _ = genre.prompts
    assert "'genre'" in str(info.value)
    with pytest.raises(DatasetError, match="'genre'"):
        genre.for_dataset(_dataset(tmp_path, "movie-posters", country=["USA"]))
    with pytest.raises(DatasetError, match="blank labels"):
        genre.for_dataset(_dataset(tmp_path, "movie-posters", genre=["Drama", " "]))


def test_label_vocabulary_marker_is_a_singleton():
    genre = nt.get_notion("movie-posters", "genre")
    assert pickle.loads(pickle.dumps(genre)) == genre and copy.deepcopy(genre).words is nt.LABEL_VOCABULARY
    assert repr(nt.LABEL_VOCABULARY) == "LABEL_VOCABULARY"
    own = nt.notion_from_words("my-photos", "style", "a {} photo", nt.LABEL_VOCABULARY)
    assert own.uses_label_vocabulary
    fixed = genre.with_prompts(words=["Drama"])
    assert fixed.word_source == nt.GIVEN_WORDS_SOURCE and fixed.prompts == ["a poster of a Drama movie"]
    assert fixed.with_prompts(words=nt.LABEL_VOCABULARY).uses_label_vocabulary


def test_unknown_word_list():
    with pytest.raises(ConfigError) as info:
        pw.words("car_modles")
    message = str(info.value)
    assert "'car_modles'" in message and "'car_models'" in message and "read_words" in message
    with pytest.raises(ConfigError, match="'nope'"):
        nt.get_notion("cars196", "car type").with_word_list("nope")
    with pytest.raises(ConfigError, match="unknown word list"):
        pw.word_list_header("../errors")


def test_user_word_file(tmp_path):
    own = tmp_path / "makes.txt"
    own.write_text("\ufeff# my makes\nAudi\nBMW  # German\n", encoding="utf-8")
    assert pw.read_words(own) == ["Audi", "BMW"]
    notion = nt.get_notion("cars196", "manufacturer").with_word_file(own)
    assert notion.word_source == str(own) and notion.prompts[1] == "a photo of a car produced by BMW"
    duplicate = tmp_path / "dup.txt"
    duplicate.write_text("# header\nAudi\nBMW\n\nAudi\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        pw.read_words(duplicate)
    message = str(info.value)
    assert "dup.txt" in message and "line 5" in message and "line 2" in message and "'Audi'" in message
    with pytest.raises(DatasetError, match="missing.txt"):
        nt.get_notion("cars196", "manufacturer").with_word_file(tmp_path / "missing.txt")
