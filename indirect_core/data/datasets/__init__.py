"""Datasets: image paths plus a labels table, and a registry of loaders by name.

Built-in loaders: "synthetic-shapes" (generated on first use), "image-folder" (root/<label>/*.png),
"image-csv" (a CSV with a path column and one column per similarity notion) and the paper's five datasets,
which you download yourself: "synthetic-cars", "cars196", "inshop", "cub200" and "movie-posters"
(default root data/<name>, see data/README.md).
"""

from __future__ import annotations

from indirect_core.data.datasets.car_names import BODY_TYPES, CAR_MAKES, car_body_type, car_manufacturer, describe_car
from indirect_core.data.datasets.cars196 import CARS196, load_cars196
from indirect_core.data.datasets.core import (DATA_DIR_ENV, IMAGE_EXTENSIONS, Dataset, Loader, available_datasets,
                                         default_root, load_dataset, register_dataset)
from indirect_core.data.css_colours import CSS21_COLOUR_NAMES
from indirect_core.data.datasets.cub import CUB200, load_cub200
from indirect_core.data.datasets.inshop import INSHOP, load_inshop
from indirect_core.data.datasets.movie_posters import MOVIE_POSTERS, load_movie_posters
from indirect_core.data.datasets.synthetic import SYNTHETIC_SHAPES, default_synthetic_root, load_synthetic_shapes
from indirect_core.data.datasets.synthetic_cars import SYNTHETIC_CARS, hsv_to_colour_name, load_synthetic_cars
from indirect_core.data.datasets.user import (image_csv_loader, image_folder_loader, load_image_csv,
                                         load_image_folder)

PAPER_DATASETS: tuple[str, ...] = (SYNTHETIC_CARS, CARS196, INSHOP, CUB200, MOVIE_POSTERS)
"""The five datasets of the InDiReCT paper, in the paper's order."""

register_dataset(SYNTHETIC_SHAPES, load_synthetic_shapes)
register_dataset("image-folder", image_folder_loader)
register_dataset("image-csv", image_csv_loader)
register_dataset(SYNTHETIC_CARS, load_synthetic_cars)
register_dataset(CARS196, load_cars196)
register_dataset(INSHOP, load_inshop)
register_dataset(CUB200, load_cub200)
register_dataset(MOVIE_POSTERS, load_movie_posters)

__all__ = [
    "Dataset", "Loader", "register_dataset", "load_dataset", "available_datasets", "default_root",
    "IMAGE_EXTENSIONS", "DATA_DIR_ENV", "SYNTHETIC_SHAPES", "default_synthetic_root", "load_synthetic_shapes",
    "load_image_folder", "load_image_csv", "PAPER_DATASETS", "SYNTHETIC_CARS", "CARS196", "INSHOP", "CUB200",
    "MOVIE_POSTERS", "load_synthetic_cars", "load_cars196", "load_inshop", "load_cub200", "load_movie_posters",
    "hsv_to_colour_name", "CSS21_COLOUR_NAMES", "CAR_MAKES", "BODY_TYPES", "car_manufacturer", "car_body_type",
    "describe_car",
]
