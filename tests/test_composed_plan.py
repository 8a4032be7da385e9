"""The composed section of plans (checked before anything runs, expanded into notebook 05/06 jobs), the results
tables of notebook 05, and the study that scores a split or writes a hidden split's submissions."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

import indirect_core as ic
from indirect_core import batch
from indirect_core.report import composed as report
from indirect_core.composed.study import run_benchmark
from test_composed_benchmarks import make_cirr

ROOT = Path(__file__).resolve().parents[1]


def _plan(tmp_path: Path, composed: dict, name: str = "plan.yaml", **top) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"name": "c", "backbones": ["random-tiny"], "composed": composed, **top}))
    return path


BASE = {"benchmarks": {"synthetic-shapes-cir": {}}, "methods": ["image-only", "pic2word"],
        "train": {"pic2word": {"steps": 5}}}


@pytest.mark.parametrize("change, message", [
    ({"benchmarks": {"cirq": {}}}, "composed benchmark='cirq' must be one of"),
    ({"methods": ["image-only", "searle"]}, r"composed.methods: \['searle'\] not among"),
    ({"train": {}}, "method 'pic2word' needs a mapper for backbone 'random-tiny'"),
    ({"train": {"pic2word": {"epochs": 3}}}, r"composed.train.pic2word has unknown key\(s\) \['epochs'\]"),
    ({"train": {"image-only": {}}}, "only mappers are trained"),
    ({"ks": {"recall": 5}}, "composed.ks.recall must be a list of K"),
    ({"train": {"pic2word": {"lr": -1}}}, r"composed.train.pic2word.lr=-1 must be a positive number"),
    ({"benchmarks": {"cirr": {"layout": "mine"}}}, "composed.benchmarks.cirr.layout='mine' must be one of"),
    ({"benchmarks": {"cirr": {"splits": "val"}}}, r"composed.benchmarks.cirr has unknown key\(s\) \['splits'\]"),
])
def test_the_composed_section_is_checked_before_anything_runs(tmp_path, change, message):
    with pytest.raises(ic.ConfigError, match=message):
        batch.load_plan(_plan(tmp_path, {**BASE, **change}))


def test_a_composed_only_plan_expands_into_training_then_evaluation_jobs(tmp_path):
    plan = batch.load_plan(_plan(tmp_path, {**BASE, "ks": {"recall": [1, 5]}}))
    assert plan["datasets"] == {}
    jobs = batch.plan_jobs(plan, tmp_path / "run", data_dir=tmp_path / "data")
    assert [j.id for j in jobs] == ["synthetic-shapes-cir/random-tiny/05_composed",
                                    "composed/random-tiny/06_train-pic2word"]
    evaluation, training = jobs
    assert evaluation.depends_on == (training.id,) and training.depends_on == ()
    assert training.parameters["method"] == "pic2word" and training.parameters["steps"] == 5
    assert evaluation.parameters["mappers"] == {"pic2word": str(tmp_path / "run" / training.id / "mapper.pt")}
    assert evaluation.parameters["ks"] == {"recall": [1, 5]} and evaluation.parameters["methods"] == BASE["methods"]


def test_a_given_checkpoint_replaces_training_for_its_backbone_only(tmp_path):
    composed = {**BASE, "backbones": ["random-tiny", "random-vit-b-32"],
                "mappers": {"random-vit-b-32": {"pic2word": "ckpt/p2w.pt"}}}
    jobs = batch.plan_jobs(batch.load_plan(_plan(tmp_path, composed)), tmp_path / "run")
    ids = [j.id for j in jobs]
    assert "composed/random-tiny/06_train-pic2word" in ids and "composed/random-vit-b-32/06_train-pic2word" not in ids
    given = next(j for j in jobs if j.id == "synthetic-shapes-cir/random-vit-b-32/05_composed")
    assert given.parameters["mappers"] == {"pic2word": str(tmp_path / "ckpt" / "p2w.pt")} and not given.depends_on


def test_include_brings_the_composed_section_with_paths_relative_to_its_own_file(tmp_path):
    (tmp_path / "other").mkdir()
    _plan(tmp_path / "other", {**BASE, "train": {}, "mappers": {"random-tiny": {"pic2word": "m.pt"}}}, "c.yaml")
    main = tmp_path / "main.yaml"
    main.write_text(yaml.safe_dump({"name": "main", "datasets": {"synthetic-shapes": {}},
                                    "include": ["other/c.yaml"]}))
    plan = batch.load_plan(main)
    assert plan["composed"]["mappers"] == {"random-tiny": {"pic2word": str(tmp_path / "other" / "m.pt")}}
    assert plan["composed"]["backbones"] == ["random-tiny"] and "synthetic-shapes" in plan["datasets"]
    main.write_text(yaml.safe_dump({"datasets": {"synthetic-shapes": {}}, "include": ["other/c.yaml"],
                                    "composed": BASE}))
    with pytest.raises(ic.ConfigError, match="include must name one plan"):
        batch.load_plan(main)


def test_check_lists_missing_benchmarks_and_checkpoints_without_running(tmp_path):
    composed = {"benchmarks": {"cirr": {"root": "nowhere"}}, "methods": ["text-only", "lincir"],
                "mappers": {"random-tiny": {"lincir": "phi.pt"}}}
    text, ready = batch.check_plan(_plan(tmp_path, composed), run_dir=tmp_path / "run", data_dir=tmp_path)
    assert not ready and "[MISSING] cirr" in text and "github.com/Cuberick-Orion/CIRR" in text
    assert f"[MISSING] lincir mapper for random-tiny: {tmp_path / 'phi.pt'}" in text
    assert not (tmp_path / "run").exists()


def _table(caveat: str | None = None) -> pd.DataFrame:
    rows = [{"benchmark": "fashioniq", "split": "val", "subset": s, "method": m, "n_queries": 10,
             "R@10": r10, "R@50": r50}
            for s, m, r10, r50 in (("dress", "text-only", 0.1234, 0.5), ("dress", "LinCIR", 0.2, 0.45),
                                   ("shirt", "text-only", 0.3, 0.6), ("shirt", "LinCIR", 0.3, 0.7))]
    return ic.composed.results_table(rows, caveat=caveat)


def test_tables_print_percent_with_the_best_value_per_subset_in_bold():
    table = _table()
    markdown = report.to_markdown(table)
    assert "**fashioniq / dress (val, 10 queries)**" in markdown
    assert "| text-only | 12.34 | **50.00** |" in markdown and "| LinCIR | **20.00** | 45.00 |" in markdown
    assert "| text-only | **30.00** | 60.00 |" in markdown and "| LinCIR | **30.00** | **70.00** |" in markdown  # a tie
    # the FashionIQ headline: the average over the categories, a block of its own
    assert "**fashioniq / average (val, 20 queries)**" in markdown
    assert "| text-only | 21.17 | 55.00 |" in markdown and "| LinCIR | **25.00** | **57.50** |" in markdown
    html = report.to_html(table)
    assert html.count("mean best") == 2 + 3 + 2 and "12.34" in html and "random weights" not in html
    latex = report.to_latex(table, caption="FIQ")
    assert r"\toprule" in latex and r"\textbf{57.50}" in latex and r"\caption{FIQ}" in latex


def test_tables_made_with_random_weights_say_so_in_the_files():
    table = _table(caveat=ic.backbone.RANDOM_WEIGHTS_MARKER)
    assert report.to_markdown(table).count(ic.backbone.RANDOM_WEIGHTS_MARKER) == 1
    assert report.to_markdown(table, marked=False).count(ic.backbone.RANDOM_WEIGHTS_MARKER) == 0
    assert ic.backbone.RANDOM_WEIGHTS_MARKER in report.to_latex(table)


def test_a_hidden_test_split_writes_the_server_submissions_instead_of_scores(tiny_backbone, cache_dir, tmp_path):
    root = make_cirr(tmp_path / "cirr", "searle")
    study = run_benchmark(tiny_backbone, "cirr", ["image-only", "text-only"], split="test1", data_root=root,
                          cache_dir=cache_dir, submission_dir=tmp_path / "out", progress=False)
    assert study.table.empty and len(study.submissions) == 4  # recall + recall_subset per method
    query_set, images = study.query_sets[0], study.image_features[0]
    names = list(query_set.images.labels["name"])
    files = {p.name: json.loads(p.read_text()) for p in study.submissions}
    image_only = next(v for k, v in files.items() if "image-only" in k and v["metric"] == "recall")
    # image-only ranks the gallery by cosine to the reference (left out of its own ranking), written out here
    unit = images / images.norm(dim=1, keepdim=True)
    for q, pairid in enumerate(query_set.query_ids):
        scores = unit @ unit[query_set.reference[q]]
        scores[query_set.reference[q]] = -math.inf
        expected = [names[i] for i in torch.argsort(scores, descending=True, stable=True)[:len(names) - 1]]
        assert image_only[str(pairid)] == expected
    with pytest.raises(ic.ConfigError, match="pass submission_dir"):
        run_benchmark(tiny_backbone, "cirr", ["text-only"], split="test1", data_root=root, cache_dir=cache_dir,
                      progress=False)


def test_mapper_methods_need_a_checkpoint(tiny_backbone):
    with pytest.raises(ic.ConfigError, match="method 'lincir' needs a mapper checkpoint"):
        ic.composed.study.resolve_methods(["image-only", "lincir"], {}, tiny_backbone)
