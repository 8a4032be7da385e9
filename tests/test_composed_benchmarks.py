"""The public composed-retrieval benchmarks on tiny fake copies of their real on-disk layouts (nothing downloaded).

Each fixture writes a few small images with PIL and the annotation files in the benchmark's real JSON format;
expected indices, crops and submission files are written out by hand below.
"""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import indirect_core as ic
from indirect_core.composed.benchmarks import (available_benchmarks, check_benchmark, circo_submission,
                                               cirr_recall_submission, cirr_subset_submission, load_benchmark,
                                               write_circo_submission, write_cirr_submission)
from indirect_core.composed.evaluate import rank_gallery, rank_subsets
from indirect_core._util.errors import ConfigError, DatasetError

# ----------------------------------------------------------------------------- helpers


def write_image(path: Path, pixels: np.ndarray) -> None:
    """Save an (H, W, 3) uint8 array; the extension picks PNG or JPEG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)


def flat(colour: int, size: int = 8) -> np.ndarray:
    """A one-colour square image whose red channel is ``colour``."""
    return np.full((size, size, 3), (colour, 255 - colour, (7 * colour) % 256), dtype=np.uint8)


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def names(query_set, indices) -> list[str]:
    return [query_set.images.labels["name"][i] for i in indices]


# ----------------------------------------------------------------------------- CIRR

CIRR_VAL_IMAGES = ["dev-2-0-img1", "dev-0-0-img0", "dev-1-0-img1", "dev-3-0-img0", "dev-0-0-img1", "dev-1-0-img0",
                   "dev-2-0-img0", "dev-3-0-img1"]
CIRR_VAL = [
    {"pairid": 12060, "reference": "dev-0-0-img0", "target_hard": "dev-1-0-img1",
     "target_soft": {"dev-1-0-img1": 1.0}, "caption": "show three bottles of soft drink",
     "img_set": {"id": 36, "members": ["dev-2-0-img0", "dev-0-0-img0", "dev-1-0-img1", "dev-1-0-img0",
                                        "dev-3-0-img1", "dev-2-0-img1"], "reference_rank": 1, "target_rank": 2}},
    {"pairid": 12062, "reference": "dev-3-0-img0", "target_hard": "dev-0-0-img1",
     "target_soft": {"dev-0-0-img1": 1.0}, "caption": "Fewer paper towels per pack",
     "img_set": {"id": 48, "members": ["dev-0-0-img1", "dev-3-0-img0", "dev-2-0-img1", "dev-1-0-img0",
                                        "dev-0-0-img0", "dev-3-0-img1"], "reference_rank": 1, "target_rank": 0}},
    {"pairid": 12081, "reference": "dev-1-0-img1", "target_hard": "dev-2-0-img0",
     "target_soft": {"dev-2-0-img0": 1.0}, "caption": "two animals of another species",
     "img_set": {"id": 36, "members": ["dev-2-0-img0", "dev-0-0-img0", "dev-1-0-img1", "dev-1-0-img0",
                                        "dev-3-0-img1", "dev-2-0-img1"], "reference_rank": 2, "target_rank": 0}},
]
CIRR_TEST_IMAGES = ["test1-0-0-img0", "test1-0-0-img1", "test1-1-0-img0", "test1-1-0-img1", "test1-2-0-img0",
                    "test1-2-0-img1", "test1-3-0-img0"]
CIRR_TEST = [
    {"pairid": 12063, "reference": "test1-1-0-img0", "caption": "remove all but one dog",
     "img_set": {"id": 1, "members": ["test1-1-0-img0", "test1-0-0-img1", "test1-2-0-img1", "test1-3-0-img0",
                                       "test1-0-0-img0", "test1-1-0-img1"], "reference_rank": 0}},
    {"pairid": 12064, "reference": "test1-3-0-img0", "caption": "mirror the image",
     "img_set": {"id": 2, "members": ["test1-2-0-img0", "test1-3-0-img0", "test1-0-0-img0", "test1-1-0-img1",
                                       "test1-2-0-img1", "test1-0-0-img1"], "reference_rank": 1}},
]


def make_cirr(root: Path, layout: str, caption_suffix: str = "") -> Path:
    """CIRR val and test1 in the SEARLE/LinCIR (cirr/, images at relative paths) or Pic2Word (CIRR/) layout."""
    for split, images, records in (("val", CIRR_VAL_IMAGES, CIRR_VAL), ("test1", CIRR_TEST_IMAGES, CIRR_TEST)):
        folder = "dev" if split == "val" else "test1"
        base = root / ("cirr" if layout == "searle" else "CIRR")
        records = [dict(r, caption=r["caption"] + caption_suffix) for r in records]
        write_json(base / "captions" / f"cap.rc2.{split}.json", records)
        write_json(base / "image_splits" / f"split.rc2.{split}.json",
                   {name: f"./{folder}/{name}.png" for name in images})
        for k, name in enumerate(images):
            image_dir = root / folder if layout == "searle" else root / "CIRR" / folder
            write_image(image_dir / f"{name}.png", flat(30 * k + (5 if split == "test1" else 0)))
    return root


@pytest.fixture
def cirr_searle(tmp_path) -> Path:
    return make_cirr(tmp_path / "searle", "searle")


@pytest.fixture
def cirr_pic2word(tmp_path) -> Path:
    return make_cirr(tmp_path / "pic2word", "pic2word")


def test_cirr_val_queries_targets_and_subsets_minus_the_reference(cirr_searle):
    (qs,) = load_benchmark("cirr", root=cirr_searle, split="val")
    assert (qs.benchmark, qs.split, len(qs)) == ("cirr", "val", 3)
    assert qs.images.labels["name"].tolist() == CIRR_VAL_IMAGES
    assert qs.images.image_paths[0] == cirr_searle / "dev" / "dev-2-0-img1.png"
    assert qs.reference.tolist() == [1, 3, 2]
    assert qs.captions == (("show three bottles of soft drink",), ("Fewer paper towels per pack",),
                           ("two animals of another species",))
    assert qs.targets == ((2,), (4,), (6,))
    assert qs.gallery.tolist() == list(range(8))
    assert qs.exclude_reference is True
    assert qs.query_ids == ("12060", "12062", "12081")
    # img_set members in file order, the reference left out (5 of 6)
    assert qs.candidates == ((6, 2, 5, 7, 0), (4, 0, 5, 1, 7), (6, 1, 5, 7, 0))
    assert names(qs, qs.candidates[0]) == ["dev-2-0-img0", "dev-1-0-img1", "dev-1-0-img0", "dev-3-0-img1",
                                           "dev-2-0-img1"]
    assert qs.info["img_set_id"].tolist() == [36, 48, 36]


def test_cirr_test1_has_no_targets_and_accepts_test_as_alias(cirr_searle):
    (qs,) = load_benchmark("cirr", root=cirr_searle, split="test")
    assert qs.split == "test1" and len(qs) == 2 and not qs.has_ground_truth
    assert qs.targets == ((), ())
    assert qs.reference.tolist() == [2, 6]
    assert qs.candidates == ((1, 5, 6, 0, 3), (4, 0, 3, 5, 1))


def test_cirr_both_layouts_give_the_same_query_set(cirr_searle, cirr_pic2word):
    for split in ("val", "test1"):
        (a,) = load_benchmark("cirr", root=cirr_searle, split=split)
        (b,) = load_benchmark("cirr", root=cirr_pic2word, split=split)
        assert b.images.image_paths[0] == cirr_pic2word / "CIRR" / ("dev" if split == "val" else "test1") / \
            f"{a.images.labels['name'][0]}.png"
        assert a.images.labels["name"].tolist() == b.images.labels["name"].tolist()
        assert a.reference.tolist() == b.reference.tolist()
        assert (a.captions, a.targets, a.candidates, a.query_ids) == (b.captions, b.targets, b.candidates,
                                                                      b.query_ids)
        assert a.gallery.tolist() == b.gallery.tolist()
        for pa, pb in zip(a.images.image_paths, b.images.image_paths):
            assert np.array_equal(pixels(pa), pixels(pb))


def test_cirr_explicit_layout_is_honoured_when_both_are_present(tmp_path):
    root = make_cirr(tmp_path / "both", "searle")
    make_cirr(root, "pic2word", caption_suffix=" (pic2word copy)")
    (auto,) = load_benchmark("cirr", root=root)
    (pic,) = load_benchmark("cirr", root=root, layout="pic2word")
    assert auto.captions[0] == ("show three bottles of soft drink",)
    assert pic.captions[0] == ("show three bottles of soft drink (pic2word copy)",)
    assert pic.images.image_paths[0] == root / "CIRR" / "dev" / "dev-2-0-img1.png"


def test_cirr_missing_and_incomplete_data_name_files_and_publisher(tmp_path, cirr_searle):
    with pytest.raises(DatasetError) as error:
        load_benchmark("cirr", root=tmp_path / "nothing")
    message = str(error.value)
    for expected in ("benchmark 'cirr'", "cirr/captions/cap.rc2.val.json", "cirr/image_splits/split.rc2.val.json",
                     "CIRR/captions/cap.rc2.val.json", "CIRR/dev/<name>.png", "github.com/Cuberick-Orion/CIRR",
                     "Nothing is downloaded"):
        assert expected in message
    (cirr_searle / "dev" / "dev-3-0-img0.png").unlink()
    ok, message = check_benchmark("cirr", root=cirr_searle)
    assert not ok
    assert "1 of the 8 images" in message and "dev-3-0-img0.png" in message
    assert check_benchmark("cirr", root=cirr_searle, split="test1") == (True, "cirr (test1): 2 queries, 7 images")


def test_cirr_caption_naming_an_unlisted_image_is_reported(cirr_searle):
    captions = cirr_searle / "cirr" / "captions" / "cap.rc2.val.json"
    records = json.loads(captions.read_text())
    records[1]["target_hard"] = "dev-99-0-img0"
    captions.write_text(json.dumps(records))
    with pytest.raises(DatasetError, match=r"entry 1 of .*cap.rc2.val.json names target image 'dev-99-0-img0'"):
        load_benchmark("cirr", root=cirr_searle)


# ----------------------------------------------------------------------------- FashionIQ

FIQ_SPLITS = {"dress": ["B001", "B002", "B003", "B004"], "shirt": ["S01", "S02", "S03"],
              "toptee": ["T01", "T02", "T03"]}
FIQ_CAPTIONS = {
    "dress": [{"target": "B002", "candidate": "B001", "captions": ["is solid black with no sleeves", "is black"]},
              {"target": "B004", "candidate": "B009", "captions": ["is longer", "has a floral print"]}],
    "shirt": [{"target": "S03", "candidate": "S01", "captions": ["is blue", "has a collar"]}],
    "toptee": [{"target": "T01", "candidate": "T02", "captions": ["is red.", "has stripes"]}],
}


def make_fashioniq(root: Path, layout: str) -> Path:
    """FashionIQ val in the SEARLE/LinCIR (captions/, .jpg) or Pic2Word (fashion-iq/json/, .png) layout."""
    base = root if layout == "searle" else root / "fashion-iq"
    caption_dir = base / ("captions" if layout == "searle" else "json")
    extension = ".jpg" if layout == "searle" else ".png"
    for k, (category, split) in enumerate(FIQ_SPLITS.items()):
        write_json(caption_dir / f"cap.{category}.val.json", FIQ_CAPTIONS[category])
        write_json(base / "image_splits" / f"split.{category}.val.json", split)
        for j, name in enumerate(split + [r["candidate"] for r in FIQ_CAPTIONS[category]]):
            write_image(base / "images" / f"{name}{extension}", flat(40 * k + 9 * j))
    return root


def test_fashioniq_three_categories_two_captions_no_exclusion(tmp_path):
    root = make_fashioniq(tmp_path / "fiq", "searle")
    dress, shirt, toptee = load_benchmark("fashioniq", root=root)
    assert [q.subset for q in (dress, shirt, toptee)] == ["dress", "shirt", "toptee"]
    assert dress.name == "fashioniq/dress (val)"
    # B009 is a reference outside the split: an image (for its features) but not a gallery entry
    assert dress.images.labels["name"].tolist() == ["B001", "B002", "B003", "B004", "B009"]
    assert dress.gallery.tolist() == [0, 1, 2, 3]
    assert dress.reference.tolist() == [0, 4]
    assert dress.targets == ((1,), (3,))
    assert dress.captions == (("is solid black with no sleeves", "is black"), ("is longer", "has a floral print"))
    assert dress.exclude_reference is False
    assert dress.images.image_paths[0] == root / "images" / "B001.jpg"
    assert (len(shirt), shirt.reference.tolist(), shirt.targets) == (1, [0], ((2,),))
    assert toptee.captions == (("is red.", "has stripes"),)
    (only_shirt,) = load_benchmark("fashioniq", root=root, categories=["shirt"])
    assert only_shirt.subset == "shirt"


def test_fashioniq_both_layouts_give_the_same_query_sets(tmp_path):
    searle = load_benchmark("fashioniq", root=make_fashioniq(tmp_path / "a", "searle"))
    pic = load_benchmark("fashioniq", root=make_fashioniq(tmp_path / "b", "pic2word"))
    assert pic[0].images.image_paths[0] == tmp_path / "b" / "fashion-iq" / "images" / "B001.png"
    for a, b in zip(searle, pic):
        assert a.subset == b.subset
        assert a.images.labels["name"].tolist() == b.images.labels["name"].tolist()
        assert a.reference.tolist() == b.reference.tolist() and a.gallery.tolist() == b.gallery.tolist()
        assert (a.captions, a.targets) == (b.captions, b.targets)


def test_fashioniq_missing_data_and_bad_options(tmp_path):
    with pytest.raises(DatasetError) as error:
        load_benchmark("fashioniq", root=tmp_path)
    message = str(error.value)
    for expected in ("benchmark 'fashioniq'", "<root>/captions/cap.{dress,shirt,toptee}.val.json",
                     "<root>/images/<name>.jpg", "<root>/fashion-iq/json/cap.{dress,shirt,toptee}.val.json",
                     "<root>/fashion-iq/images/<name>.png", "github.com/XiaoxiaoGuo/fashion-iq"):
        assert expected in message
    with pytest.raises(ConfigError, match="categories='skirt'"):
        load_benchmark("fashioniq", root=tmp_path, categories=["skirt"])
    with pytest.raises(ConfigError, match="split='test'"):
        load_benchmark("fashioniq", root=tmp_path, split="test")


# ----------------------------------------------------------------------------- CIRCO

CIRCO_IDS = [7, 3, 12, 5, 9, 1]
CIRCO_VAL = [
    {"reference_img_id": 3, "target_img_id": 12, "relative_caption": "is held by a little girl on a chair",
     "shared_concept": "a teddy bear", "gt_img_ids": [12, 5, 1], "id": 0},
    {"reference_img_id": 9, "target_img_id": 7, "relative_caption": "has two of them", "shared_concept": "a dog",
     "gt_img_ids": [7], "id": 1},
]
CIRCO_TEST = [
    {"reference_img_id": 5, "relative_caption": "is on a beach", "shared_concept": "a kite", "id": 0},
    {"reference_img_id": 1, "relative_caption": "is at night", "shared_concept": "a bus", "id": 1},
]


@pytest.fixture
def circo_root(tmp_path) -> Path:
    root = tmp_path / "circo"
    write_json(root / "annotations" / "val.json", CIRCO_VAL)
    write_json(root / "annotations" / "test.json", CIRCO_TEST)
    write_json(root / "COCO2017_unlabeled" / "annotations" / "image_info_unlabeled2017.json",
               {"info": {}, "images": [{"file_name": f"{i:012d}.jpg", "id": i, "width": 8, "height": 8}
                                       for i in CIRCO_IDS]})
    for k, i in enumerate(CIRCO_IDS):
        write_image(root / "COCO2017_unlabeled" / "unlabeled2017" / f"{i:012d}.jpg", flat(35 * k))
    return root


def test_circo_val_ground_truths_and_test_without(circo_root):
    (val,) = load_benchmark("circo", root=circo_root, split="val")
    assert val.images.labels["name"].tolist() == ["7", "3", "12", "5", "9", "1"]
    assert val.images.labels["image_id"].tolist() == CIRCO_IDS
    assert val.images.image_paths[2] == circo_root / "COCO2017_unlabeled" / "unlabeled2017" / "000000000012.jpg"
    assert val.reference.tolist() == [1, 4]
    assert val.targets == ((2, 3, 5), (0,))         # every ground truth, the target first
    assert val.captions == (("is held by a little girl on a chair",), ("has two of them",))
    assert val.gallery.tolist() == list(range(6)) and val.exclude_reference is False
    assert val.query_ids == ("0", "1")
    assert val.info["shared_concept"].tolist() == ["a teddy bear", "a dog"]
    (test,) = load_benchmark("circo", root=circo_root, split="test")
    assert test.targets == ((), ()) and test.reference.tolist() == [3, 5]
    assert test.images.file_list() == val.images.file_list()    # one gallery, one feature cache


def test_circo_recall_counts_target_img_id_wherever_gt_img_ids_lists_it(circo_root):
    # CIRCO's evaluation.py (compute_metrics) scores Recall@K on predictions == target_img_id and AP@K on
    # gt_img_ids; the released val file happens to list the target first, this one does not.
    records = json.loads((circo_root / "annotations" / "val.json").read_text())
    records[0]["gt_img_ids"] = [5, 12, 1]   # the target (12) second
    write_json(circo_root / "annotations" / "val.json", records)
    (val,) = load_benchmark("circo", root=circo_root, split="val")
    assert val.targets == ((2, 3, 5), (0,))  # target_img_id first, then the others in file order
    images = torch.eye(6)                    # image i scores its own axis
    queries = torch.tensor([[0, 0, 0.5, 1, 0, 0],    # ranks 5 (a ground truth) first, the target 12 second
                            [1, 0, 0, 0, 0, 0.0]])   # ranks the target 7 first
    result = ic.composed.evaluate(val, images, queries, ks={"map": (2,), "recall_first": (1, 2)})
    assert result == {"mAP@2": 1.0, "R@1": 0.5, "R@2": 1.0}


def test_circo_missing_data_and_no_pic2word_layout(tmp_path, circo_root):
    with pytest.raises(DatasetError) as error:
        load_benchmark("circo", root=tmp_path / "none")
    message = str(error.value)
    for expected in ("benchmark 'circo'", "<root>/annotations/val.json",
                     "COCO2017_unlabeled/annotations/image_info_unlabeled2017.json",
                     "COCO2017_unlabeled/unlabeled2017/<file_name>", "github.com/miccunifi/CIRCO", "cocodataset.org"):
        assert expected in message
    with pytest.raises(ConfigError, match="Pic2Word does not evaluate CIRCO"):
        load_benchmark("circo", root=circo_root, layout="pic2word")
    records = json.loads((circo_root / "annotations" / "val.json").read_text())
    records[0]["gt_img_ids"] = [5, 1]
    write_json(circo_root / "annotations" / "val.json", records)
    with pytest.raises(DatasetError, match="target_img_id 12 is not among its gt_img_ids"):
        load_benchmark("circo", root=circo_root)


# ----------------------------------------------------------------------------- GeneCIS

VG_SIZES = {1: (40, 30), 2: (36, 36), 3: (50, 20)}   # image id -> (width, height)
BOX_A = {"image_id": 1, "instance_bbox": [10, 8, 10, 6]}
BOX_B = {"image_id": 2, "instance_bbox": [2, 2, 10, 10]}
BOX_C = {"image_id": 3, "instance_bbox": [5, 5, 20, 10]}
BOX_D = {"image_id": 1, "instance_bbox": [0, 0, 8, 8]}
ATTRIBUTE_TASK = [
    {"reference": BOX_A, "target": BOX_B, "gallery": [BOX_C, BOX_D], "condition": "color"},
    {"reference": BOX_B, "target": BOX_A, "gallery": [BOX_C, BOX_A], "condition": "material"},
]
OBJECT_TASK = [
    {"reference": {"val_image_id": 139}, "target": {"val_image_id": 285},
     "gallery": [{"val_image_id": 632}, {"val_image_id": 724}], "condition": "refrigerator"},
    {"reference": {"val_image_id": 632}, "target": {"val_image_id": 139},
     "gallery": [{"val_image_id": 285}, {"val_image_id": 285}], "condition": "cardboard"},
]


@pytest.fixture
def genecis_root(tmp_path) -> Path:
    root = tmp_path / "genecis"
    rng = np.random.default_rng(0)
    for image_id, (width, height) in VG_SIZES.items():
        write_image(root / "VG_100K_all" / f"{image_id}.jpg", rng.integers(0, 256, (height, width, 3)))
    for k, image_id in enumerate((139, 285, 632, 724)):
        write_image(root / "val2017" / f"{image_id:012d}.jpg", flat(50 * k))
    for task in ("focus_attribute", "change_attribute"):
        write_json(root / "genecis" / f"{task}.json", ATTRIBUTE_TASK)
    for task in ("focus_object", "change_object"):
        write_json(root / "genecis" / f"{task}.json", OBJECT_TASK)
    return root


def test_genecis_tasks_per_query_galleries_target_first(genecis_root, tmp_path):
    query_sets = load_benchmark("genecis", root=genecis_root, cache_dir=tmp_path / "cache", progress=False)
    assert [q.subset for q in query_sets] == ["focus_attribute", "change_attribute", "focus_object",
                                              "change_object"]
    attribute, objects = query_sets[0], query_sets[2]
    assert attribute.gallery is None and attribute.exclude_reference is False
    # the second gallery repeats the target's box: a copy "#2" of the same crop file, flagged as a certain tie
    assert attribute.images.labels["name"].tolist() == ["1_10_8_10_6", "2_2_2_10_10", "3_5_5_20_10", "1_0_0_8_8",
                                                        "1_10_8_10_6#2"]
    assert attribute.images.image_paths[4] == attribute.images.image_paths[0]
    assert attribute.reference.tolist() == [0, 1]
    assert attribute.candidates == ((1, 2, 3), (0, 2, 4))
    assert attribute.targets == ((1,), (0,))
    assert attribute.info["target_repeated"].tolist() == [False, True]
    assert attribute.captions == (("color",), ("material",))
    assert objects.images.labels["name"].tolist() == ["139", "285", "632", "724", "285#2"]
    assert objects.images.labels["image_id"].tolist() == [139, 285, 632, 724, 285]
    assert objects.images.image_paths[1] == genecis_root / "val2017" / "000000000285.jpg"
    assert objects.images.image_paths[4] == objects.images.image_paths[1]
    assert objects.reference.tolist() == [0, 2]
    assert objects.candidates == ((1, 2, 3), (0, 1, 4))     # every slot kept: the repeated 285 as its copy
    assert objects.info["target_repeated"].tolist() == [False, False]
    assert objects.targets == ((1,), (0,))
    assert objects.captions == (("refrigerator",), ("cardboard",))


def test_genecis_official_crops_are_the_dilated_box_padded_to_a_square(genecis_root, tmp_path):
    (qs,) = load_benchmark("genecis", root=genecis_root, tasks=["focus_attribute"], cache_dir=tmp_path / "c",
                           progress=False)
    source_1, source_2 = pixels(genecis_root / "VG_100K_all" / "1.jpg"), pixels(genecis_root / "VG_100K_all" / "2.jpg")
    assert qs.images.image_paths[0] == tmp_path / "c" / "crops" / "genecis" / "official" / "1_10_8_10_6.png"
    # box (10, 8, 10, 6) in a 40x30 image: left 10-7=3, top 8-4.2=3.8->4, right 3+17=20, bottom 3.8+10.2=14;
    # 17 wide, 10 high, pasted 3 rows down on a black 17x17 square
    expected = np.zeros((17, 17, 3), dtype=np.uint8)
    expected[3:13, :, :] = source_1[4:14, 3:20]
    assert np.array_equal(pixels(qs.images.image_paths[0]), expected)
    # box (2, 2, 10, 10): left and top clip to 0, so the crop is (0, 0, 17, 17): past the box's edge at 12
    assert np.array_equal(pixels(qs.images.image_paths[1]), source_2[0:17, 0:17])


def test_genecis_box_crops_equal_the_box_and_are_reused(genecis_root, tmp_path):
    cache = tmp_path / "cache"
    (qs,) = load_benchmark("genecis", root=genecis_root, tasks=["change_attribute"], cache_dir=cache, crop="box",
                           progress=False)
    source_1, source_3 = pixels(genecis_root / "VG_100K_all" / "1.jpg"), pixels(genecis_root / "VG_100K_all" / "3.jpg")
    assert np.array_equal(pixels(qs.images.image_paths[0]), source_1[8:14, 10:20])
    assert np.array_equal(pixels(qs.images.image_paths[2]), source_3[5:15, 5:25])
    assert np.array_equal(pixels(qs.images.image_paths[3]), source_1[0:8, 0:8])
    folder = cache / "crops" / "genecis" / "box"
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert sorted(stamps) == ["1_0_0_8_8.png", "1_10_8_10_6.png", "2_2_2_10_10.png", "3_5_5_20_10.png"]
    (folder / "3_5_5_20_10.png").unlink()
    (again,) = load_benchmark("genecis", root=genecis_root, tasks=["change_attribute"], cache_dir=cache,
                              crop="box", progress=False)
    assert again.images.image_paths == qs.images.image_paths
    after = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert sorted(after) == sorted(stamps)                       # no temp file left behind
    assert all(after[name] == stamps[name] for name in stamps if name != "3_5_5_20_10.png")
    assert np.array_equal(pixels(folder / "3_5_5_20_10.png"), source_3[5:15, 5:25])


def test_genecis_check_makes_no_crop_and_missing_data_names_everything(genecis_root, tmp_path):
    ok, summary = check_benchmark("genecis", root=genecis_root, cache_dir=tmp_path / "cache")
    assert ok and summary.startswith("genecis/focus_attribute (val): 2 queries, 5 images")
    assert not (tmp_path / "cache").exists()
    (genecis_root / "VG_100K_all" / "3.jpg").unlink()
    ok, message = check_benchmark("genecis", root=genecis_root)
    assert not ok and "3.jpg" in message and "1 of the 3 images of focus_attribute.json" in message
    with pytest.raises(DatasetError) as error:
        load_benchmark("genecis", root=tmp_path / "absent")
    message = str(error.value)
    for expected in ("benchmark 'genecis'",
                     "genecis/{focus_attribute,change_attribute,focus_object,change_object}.json",
                     "VG_100K_all/<image_id>.jpg", "val2017", "github.com/facebookresearch/genecis",
                     "visualgenome.org", "COCO val2017"):
        assert expected in message


# ----------------------------------------------------------------------------- submissions


def test_cirr_test_submission_files_have_the_official_shape(cirr_searle, tmp_path):
    (qs,) = load_benchmark("cirr", root=cirr_searle, split="test1")
    ranking = torch.tensor([[5, 2, 0, 6, 1, 3, 4], [6, 4, 3, 2, 1, 0, 5]])     # image indices, best first
    subset = torch.tensor([[0, 1, 3, 5, 6], [0, 1, 4, -1, -1]])                 # image indices, -1 padding
    paths = write_cirr_submission(qs, ranking, subset, tmp_path / "out", name="zs")
    assert paths == {"recall": tmp_path / "out" / "recall_zs.json",
                     "recall_subset": tmp_path / "out" / "recall_subset_zs.json"}
    recall = {"version": "rc2", "metric": "recall",
              "12063": ["test1-2-0-img1", "test1-0-0-img0", "test1-3-0-img0", "test1-0-0-img1", "test1-1-0-img1",
                        "test1-2-0-img0"],
              "12064": ["test1-2-0-img0", "test1-1-0-img1", "test1-1-0-img0", "test1-0-0-img1", "test1-0-0-img0",
                        "test1-2-0-img1"]}
    recall_subset = {"version": "rc2", "metric": "recall_subset",
                     "12063": ["test1-0-0-img0", "test1-0-0-img1", "test1-1-0-img1"],
                     "12064": ["test1-0-0-img0", "test1-0-0-img1", "test1-2-0-img0"]}
    assert paths["recall"].read_text() == json.dumps(recall, separators=(",", ":"))
    assert paths["recall_subset"].read_text() == json.dumps(recall_subset, separators=(",", ":"))
    assert list(json.loads(paths["recall"].read_text())) == ["version", "metric", "12063", "12064"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["recall_subset_zs.json", "recall_zs.json"]


def test_cirr_submission_from_the_evaluation_rankings_of_planted_features(cirr_searle, tmp_path):
    (qs,) = load_benchmark("cirr", root=cirr_searle, split="test1")
    images = torch.eye(7)                       # one axis per image: a query's score for image i is its weight i
    queries = torch.tensor([[0.5, 0.3, 0.9, 0.1, 0.2, 1.0, 0.7],      # reference 2 scores 0.9 but is left out
                            [0.2, 0.9, 0.4, 0.6, 0.1, 0.3, 0.8]])     # reference 6
    ranking, subset = rank_gallery(qs, images, queries, k=6), rank_subsets(qs, images, queries)
    paths = write_cirr_submission(qs, ranking, subset, tmp_path)
    assert json.loads(paths["recall"].read_text()) == {
        "version": "rc2", "metric": "recall",
        "12063": ["test1-2-0-img1", "test1-3-0-img0", "test1-0-0-img0", "test1-0-0-img1", "test1-2-0-img0",
                  "test1-1-0-img1"],
        "12064": ["test1-0-0-img1", "test1-1-0-img1", "test1-1-0-img0", "test1-2-0-img1", "test1-0-0-img0",
                  "test1-2-0-img0"]}
    assert json.loads(paths["recall_subset"].read_text()) == {
        "version": "rc2", "metric": "recall_subset",
        "12063": ["test1-2-0-img1", "test1-3-0-img0", "test1-0-0-img0"],
        "12064": ["test1-0-0-img1", "test1-1-0-img1", "test1-2-0-img1"]}


def test_circo_test_submission_has_the_official_shape(circo_root, tmp_path):
    (qs,) = load_benchmark("circo", root=circo_root, split="test")
    ranking = torch.tensor([[2, 0, 5, 3, 1, 4], [4, 5, 1, 0, 2, 3]])
    path = write_circo_submission(qs, ranking, tmp_path / "circo_test.json")
    expected = {"0": [12, 7, 1, 5, 3, 9], "1": [9, 1, 3, 7, 12, 5]}   # reference kept: CIRCO does not exclude it
    assert path.read_text() == json.dumps(expected, separators=(",", ":"))
    assert circo_submission(qs, ranking.numpy()) == expected


def test_submissions_reject_bad_rankings(cirr_searle, circo_root):
    (cirr,) = load_benchmark("cirr", root=cirr_searle, split="test1")
    (circo,) = load_benchmark("circo", root=circo_root, split="test")
    with pytest.raises(ConfigError, match=r"shape \(3, 7\)"):
        cirr_recall_submission(cirr, torch.zeros(3, 7, dtype=torch.long))
    with pytest.raises(ConfigError, match=r"row 0 ranks 3 images \(the reference not counted\); the server reads "
                                          r"the top 6"):
        cirr_recall_submission(cirr, torch.tensor([[0, 1, 2, 3], [0, 1, 2, 3]]))
    with pytest.raises(ConfigError, match=r"subset_ranking row 0 ranks image\(s\) \[2\] that are not among the 5"):
        cirr_subset_submission(cirr, torch.tensor([[2, 1, 5], [4, 0, 3]]))      # 2 is query 0's reference
    with pytest.raises(ConfigError, match="integer image indices"):
        circo_submission(circo, torch.rand(2, 6))
    with pytest.raises(ConfigError, match="ranks an image twice"):
        circo_submission(circo, torch.tensor([[0, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5]]))
    with pytest.raises(ConfigError, match="not a cirr query set"):
        cirr_recall_submission(circo, torch.zeros(2, 6, dtype=torch.long))


# ----------------------------------------------------------------------------- registry and the feature cache


def test_registry_names_default_root_and_options(cirr_searle, monkeypatch, tmp_path):
    assert available_benchmarks() == ["cirr", "fashioniq", "circo", "genecis", "synthetic-shapes-cir"]
    with pytest.raises(ConfigError, match="unknown benchmark 'cirrr': use one of cirr, fashioniq"):
        load_benchmark("cirrr")
    with pytest.raises(ConfigError, match=r"benchmark .cirr. has no option\(s\) \[.categories.\]"):
        load_benchmark("cirr", root=cirr_searle, categories=["dress"])
    with pytest.raises(ConfigError, match="layout='flat'"):
        load_benchmark("cirr", root=cirr_searle, layout="flat")
    monkeypatch.setenv("INDIRECT_DATA_DIR", str(cirr_searle.parent))
    (cirr_searle.parent / "cirr").symlink_to(cirr_searle, target_is_directory=True)
    (qs,) = load_benchmark("cirr")
    assert qs.images.root == cirr_searle.parent / "cirr" and len(qs) == 3


def test_registry_forwards_to_the_embedded_benchmark_lazily(monkeypatch):
    calls = []
    fake = types.ModuleType("indirect_core.composed.synthetic")
    fake.load_synthetic_cir = lambda root=None, **options: calls.append((root, options)) or ["query sets"]
    monkeypatch.setitem(sys.modules, "indirect_core.composed.synthetic", fake)
    assert load_benchmark("synthetic-shapes-cir", root="here", n_images=12) == ["query sets"]
    assert load_benchmark("synthetic-shapes-cir", split="val") == ["query sets"]
    assert calls == [("here", {"n_images": 12}), (None, {"split": "val"})]
    assert check_benchmark("synthetic-shapes-cir") == (True, "synthetic-shapes-cir: generated on first use")
    with pytest.raises(ConfigError, match="has no layouts"):
        load_benchmark("synthetic-shapes-cir", layout="searle")


def test_loaded_images_go_through_the_embedding_cache(tiny_backbone, cache_dir, cirr_searle, cirr_pic2word,
                                                      genecis_root, tmp_path):
    (a,) = load_benchmark("cirr", root=cirr_searle)
    (b,) = load_benchmark("cirr", root=cirr_pic2word)
    fa = ic.image_features(tiny_backbone, a.images, cache_dir=cache_dir, progress=False)
    fb = ic.image_features(tiny_backbone, b.images, cache_dir=cache_dir, progress=False)
    assert fa.features.shape == (8, tiny_backbone.embed_dim) and fa.kept.tolist() == list(range(8))
    assert fa.location != fb.location
    assert torch.allclose(fa.features, fb.features)              # same pixels, same features
    assert not torch.allclose(fa.features[0], fa.features[1])
    (crops,) = load_benchmark("genecis", root=genecis_root, tasks=["focus_attribute"], cache_dir=tmp_path,
                              progress=False)
    fc = ic.image_features(tiny_backbone, crops.images, cache_dir=cache_dir, progress=False)
    assert fc.features.shape == (5, tiny_backbone.embed_dim) and not fc.skipped
    assert torch.allclose(fc.features[4], fc.features[0], atol=1e-5)   # the repeated slot: the same crop file


def test_genecis_four_tasks_with_indirect_cir_and_its_prompts(tiny_backbone, cache_dir, genecis_root, tmp_path):
    """InDiReCT-CIR through the GeneCIS loader on the fake layout: the condition picks the notion (an attribute
    type by its name, else the notion routing sends it to); focus keeps that notion, change changes it by the
    condition and keeps the others. Random weights: the scores are a pipeline check, the prompts are shown."""
    from indirect_core.composed import notion_composed as nc
    from indirect_core.composed import routing
    from indirect_core.composed.study import run_benchmark
    from indirect_core.data.notions import GENECIS_NOTIONS

    study = run_benchmark(tiny_backbone, "genecis", ["image + text", "notion-composed", "notion-composed-oracle"],
                          data_root=genecis_root, options={"cache_dir": tmp_path / "crops", "progress": False},
                          cache_dir=cache_dir, progress=False, n_components=16)
    table = study.table
    tasks = ["focus_attribute", "change_attribute", "focus_object", "change_object"]
    assert list(dict.fromkeys(table["subset"])) == [*tasks, "average"]
    assert (table.loc[table.method == "InDiReCT-CIR", "subset"].tolist() == [*tasks, "average"])
    assert set(table.method) == {"image + text", "InDiReCT-CIR"}   # oracle routing: nothing recorded to route by
    assert study.notes == ["InDiReCT-CIR (oracle routing) needs the changed factors each query records, which "
                           f"genecis/{t} (val) does not have" for t in tasks]
    assert ((table["R@1"] <= table["R@2"]) & (table["R@2"] <= table["R@3"])).all()
    # the method's prompts, per task, with how many of the task's condition words are prompt words
    notions = study.notions
    print(table.to_string(), notions.to_string(), sep='\n')  # shown with pytest -s
    assert notions["notion"].tolist() == ["colour", "material", "object"] * 4
    assert notions["prompts"].tolist() == [17, 10, 80] * 4
    assert notions["first prompts"].tolist()[:3] == [
        "a photo of a orange object | a photo of a aqua object | a photo of a black object",
        "a photo of an object made of fabric | a photo of an object made of foliage | a photo of an object made of "
        "glass", "a photo of a person | a photo of a bicycle | a photo of a car"]
    assert notions["words"].tolist()[:3] == ["css21_colours", "fmd_materials", "coco_categories"]
    overlap = dict(zip(zip(notions["subset"], notions["notion"]), notions["overlap"]))
    assert overlap[("focus_attribute", "colour")] == "0 of 2 condition words of the task are prompt words"
    assert overlap[("focus_object", "object")] == ("1 of 2 condition words of the task are prompt words "
                                                   "(refrigerator)")
    # the routes: attribute types by name, focus keeps, change changes and keeps the rest
    method = next(m for m in study.methods if m.name == "InDiReCT-CIR")
    focus, change, focus_object, change_object = study.query_sets
    assert method.routes(tiny_backbone, focus) == [routing.Route(("colour",), {}), routing.Route(("material",), {})]
    assert method.routes(tiny_backbone, change) == [routing.Route(("material", "object"), {"colour": "color"}),
                                                    routing.Route(("colour", "object"), {"material": "material"})]
    picked = routing.pick_notion(method.spaces, tiny_backbone, "refrigerator")
    others = tuple(n.name for n in GENECIS_NOTIONS if n.name != picked)
    assert method.routes(tiny_backbone, focus_object)[0] == routing.Route((picked,), {})
    assert method.routes(tiny_backbone, change_object)[0] == routing.Route(others, {picked: "refrigerator"})
    assert study.gallery(0, "InDiReCT-CIR").shape == (len(focus.images), 3 * 16)
