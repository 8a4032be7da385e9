"""movie-posters: W.-T. Chu's MoviePoster dataset; labels genre and country (first entries), all posters.

Layout: posters ``root/Movie_Poster_Dataset/<year>/<imdbID>.jpg`` and metadata either as the authors' converted
``root/all.json`` (one JSON array; used when present) or as the raw files
``root/Movie_Poster_Metadata/groundtruth/<year>.txt``. The raw files are MongoDB exports: one JSON object after
another (no array), ``ObjectId("...")`` values, and some files UTF-16 or Latin-1 encoded. We convert them like
the authors' shell recipe (iconv to UTF-8, ``ObjectId("x")`` -> ``"x"``, ``jq -s`` per file, files concatenated
in name order): decode by BOM / NUL-byte pattern / UTF-8, else Latin-1; unwrap ObjectId (and similar) calls;
split the objects with json.JSONDecoder.raw_decode.

Rows: metadata order, duplicate imdbID dropped (first kept), only ids with a poster, sorted by imdbID (8,052 in
the paper). genre = first comma-separated entry of Genre ("N/A" kept as a label, as the authors did), country =
first entry of Country; a missing field counts as "N/A".
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path

import pandas as pd

from indirect_core.data.datasets.core import Dataset, is_image, missing_dataset, resolve_root, shown

MOVIE_POSTERS = "movie-posters"
POSTER_DIR = "Movie_Poster_Dataset"
METADATA_DIR = "Movie_Poster_Metadata/groundtruth"
MISSING_VALUE = "N/A"
LAYOUT = ("root/Movie_Poster_Dataset/<year>/<imdbID>.jpg, plus either root/all.json (the authors' converted "
          "metadata, one JSON array) or root/Movie_Poster_Metadata/groundtruth/<year>.txt (the raw metadata)")
SOURCE = ("W.-T. Chu's MoviePoster dataset page at National Chung Cheng University "
          "(www.cs.ccu.edu.tw/~wtchu/projects/MoviePoster/, Movie_Poster_Dataset.zip and "
          "Movie_Poster_Metadata.zip)")
_WRAPPED = re.compile(r'\b(?:ObjectId|ISODate|NumberLong|NumberInt|NumberDecimal)\(\s*'
                      r'("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)\s*\)')


def decode_metadata(data: bytes) -> str:
    """Text of a raw metadata file: BOM (UTF-8/16/32), else UTF-16 guessed from NUL bytes, else UTF-8, else Latin-1."""
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if data.count(b"\x00") > len(data) // 4:
        odd_zeros = data[1::2].count(b"\x00")
        return data.decode("utf-16-le" if odd_zeros >= data[0::2].count(b"\x00") else "utf-16-be",
                           errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse_metadata_text(text: str, source: str = "<text>") -> list[dict]:
    """The JSON objects of one raw metadata file, in order (ObjectId("x") etc. become "x")."""
    text = _WRAPPED.sub(r"\1", text.replace("\ufeff", ""))
    decoder = json.JSONDecoder()
    objects, position = [], 0
    while True:
        while position < len(text) and (text[position].isspace() or text[position] in "\x00,"):
            position += 1
        if position >= len(text):
            return objects
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source} is not a sequence of JSON objects ({exc})") from exc
        objects.extend(value if isinstance(value, list) else [value])


def read_metadata(root: Path) -> list[dict]:
    """Metadata records from root/all.json if it exists, else from the raw groundtruth/*.txt files in name order."""
    all_json = root / "all.json"
    if all_json.is_file():
        records = json.loads(all_json.read_text(encoding="utf-8"))
        if not isinstance(records, list):
            raise ValueError(f"{all_json} holds a {type(records).__name__}, not a JSON array")
        return records
    records: list[dict] = []
    for path in sorted(p for p in (root / METADATA_DIR).iterdir() if p.is_file() and not p.name.startswith(".")):
        records.extend(parse_metadata_text(decode_metadata(path.read_bytes()), source=str(path)))
    return records


def first_entry(value: object) -> str:
    """First comma-separated entry of a metadata field, stripped; MISSING_VALUE for a missing or empty field."""
    if value is None or (isinstance(value, float) and value != value):
        return MISSING_VALUE
    first = str(value).split(",")[0].strip()
    return first or MISSING_VALUE


def load_movie_posters(root: str | Path | None = None) -> Dataset:
    """Posters with metadata, sorted by imdbID; labels genre, country (first entries) and a few raw fields."""
    root_path = resolve_root(MOVIE_POSTERS, root)

    def missing(problem: str):
        return missing_dataset(MOVIE_POSTERS, root_path, problem, LAYOUT, SOURCE)

    if not root_path.is_dir():
        raise missing(f"the folder {root_path} does not exist")
    if not (root_path / POSTER_DIR).is_dir():
        raise missing(f"the poster folder {root_path / POSTER_DIR} does not exist")
    if not (root_path / "all.json").is_file() and not (root_path / METADATA_DIR).is_dir():
        raise missing(f"neither {root_path / 'all.json'} nor the folder {root_path / METADATA_DIR} exists")
    posters: dict[str, Path] = {}
    for path in sorted((root_path / POSTER_DIR).glob("*/*")):
        if is_image(path):
            posters[path.stem] = path  # a later year folder wins, like the authors' features dict
    try:
        records = read_metadata(root_path)
    except (ValueError, OSError) as exc:
        raise missing(f"cannot read the metadata ({exc})") from exc
    rows, seen = [], set()
    for record in records:
        imdb_id = record.get("imdbID") if isinstance(record, dict) else None
        if not imdb_id or imdb_id in seen:
            continue
        seen.add(imdb_id)
        if imdb_id in posters:
            rows.append(record)
    if not rows:
        raise missing(f"none of the {len(records)} metadata records has a poster in {root_path / POSTER_DIR} "
                      f"(posters found: {len(posters)}, e.g. {shown(sorted(posters))})")
    rows.sort(key=lambda r: r["imdbID"])
    labels = pd.DataFrame({
        "genre": [first_entry(r.get("Genre")) for r in rows],
        "country": [first_entry(r.get("Country")) for r in rows],
        "imdb_id": [r["imdbID"] for r in rows],
        "title": [str(r.get("Title", "")) for r in rows],
        "year": [posters[r["imdbID"]].parent.name for r in rows],
        "genres": [str(r.get("Genre", MISSING_VALUE)) for r in rows],
        "countries": [str(r.get("Country", MISSING_VALUE)) for r in rows],
    })
    return Dataset(name=MOVIE_POSTERS, root=root_path, image_paths=tuple(posters[r["imdbID"]] for r in rows),
                   labels=labels)
