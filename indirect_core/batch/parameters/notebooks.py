"""Every notebook's parameters: the shared declarations (dataset, backbone, n_components, ...) and each notebook's
own, with the rules that relate them.
"""
from __future__ import annotations

from pathlib import Path

from ..._util.errors import ConfigError
from .checks import (FLAG, OPTIONAL_PATH, OPTIONAL_TEXT, PATH, TEXT, attribution_methods, benchmarks,
                     check_auto_or_int, check_backbone, check_dataset, check_image_ids, check_ks, check_notion,
                     check_notion_spec, check_notions, check_notions_value, check_own_notions, check_paths,
                     check_query, check_template, check_words_or_file, choice, composed_methods, datasets, engines,
                     indirect_keys, integer, mapper_methods, mapping, model_keys, number, one_of, optional,
                     optional_choice, optional_integer, prompt_words, subset)
from ...shapes_clip.settings import ARCHITECTURES as SHAPES_CLIP_ARCHITECTURES
from ...shapes_clip.settings import BATCH_DESIGNS as SHAPES_CLIP_DESIGNS
from ...shapes_clip.settings import DEFAULTS as SHAPES_CLIP_DEFAULTS
from .declaration import Check, Label, Notebook, Parameter, notebook


ON_ERROR = ("raise", "skip")
"""What happens to an unreadable image: stop, naming the file, or leave it out and list it."""


DATASET = Parameter("dataset", "synthetic-shapes", Check(check_dataset, lambda: one_of(datasets())),
                    "the dataset (image-folder and image-csv hold your own labelled images)")
DATASET_OPTIONS = Parameter("dataset_options", {}, mapping("{'n_images': 60}"),
                            "the dataset loader's options, e.g. {'n_images': 60} for synthetic-shapes")
DATA_ROOT = Parameter("data_root", None, OPTIONAL_PATH, "the dataset's folder or CSV (None: its default place)")
NOTIONS = Parameter("notions", "all", Check(check_notions_value, "'all', notion names, or notions of your own",
                                            {"nargs": "*"}),
                    "'all', notion names of the dataset, or your own: {'name', 'template', 'words' (list or "
                    "word file), 'label_column'}")
BACKBONE = Parameter("backbone", "auto",
                     Check(check_backbone, "CLIP name, checkpoint path, 'shapes-clip', 'random-tiny' or 'auto'"),
                     "CLIP name ('ViT-B/32'), checkpoint path, 'shapes-clip' (trained here on synthetic shapes), "
                     "'random-tiny' or 'auto' (ViT-B/32 if its weights are here, else shapes-clip)")
CACHE_DIR = Parameter("cache_dir", None, OPTIONAL_PATH, "embedding cache folder (None: data/cache)")
DEVICE = Parameter("device", "cpu", TEXT, "torch device, e.g. 'cpu' or 'cuda'")
BATCH_SIZE = Parameter("batch_size", 64, integer(), "images per batch when embedding")
NUM_WORKERS = Parameter("num_workers", 1, integer(0), "image-loading worker processes (0: in the kernel)")
ON_ERROR_PARAMETER = Parameter("on_error", "raise", choice(ON_ERROR),
                               "unreadable images: 'raise' (stop, naming the file) or 'skip' (leave them out, "
                               "listed)")
MODEL = Parameter("model", "indirect", choice(indirect_keys),
                  "'indirect' (the authors' procedure) or 'indirect-lbfgs' (our fast solver of its objective)")
MODEL_OPTIONS = Parameter("model_options", {}, mapping("{'patience': 100}"),
                          "options of that model, e.g. {'patience': 100} (docs/PROTOCOL.md)")
N_COMPONENTS = Parameter("n_components", 128, integer(), "dimensions k of each notion's space")
N_PROMPTS = Parameter("n_prompts", None, optional_integer(),
                      "None: every prompt; an int: a random subset of that many, drawn by the seed")
PROMPT_WORDS = Parameter("prompt_words", "all", choice(prompt_words),
                         "'all', or 'strict': drop prompt words that equal an evaluation label")
SEED = Parameter("seed", 0, integer(0), "random seed")
OUTPUT_DIR = Parameter("output_dir", ".", PATH, "folder for the figures, tables and provenance")


def _resolve_notions(values: dict, label: Label, files: bool) -> dict:
    """The notions resolved against the dataset (registered names, or notions of your own)."""
    return {"notions": check_notions(values["dataset"], values["notions"], label("notions"))}


def _fit_rules(values: dict, label: Label, files: bool) -> dict:
    """A registered notion by name, or one of your own from template + words (which go together)."""
    template, words = values["template"], values["words"]
    if template is None and words is None:
        if values["label_column"] is not None:
            raise ConfigError(f"{label('label_column')}={values['label_column']!r} is for a notion of your own: "
                              "give template and words with it, or leave it None")
        return {"notion": check_notion(values["dataset"], values["notion"], label("notion"))}
    if template is None or words is None:
        given, other = ("template", "words") if words is None else ("words", "template")
        raise ConfigError(f"{label(given)} and {other} go together: give both for a notion of your own, e.g. "
                          "template='a photo of a {} object', words=['red', 'green'] (or a word file)")
    spec = {"name": values["notion"], "template": template, "words": words, "label_column": values["label_column"]}
    return {"notion": check_notion_spec(values["dataset"], spec, lambda key: label("notion" if key == "name" else key))}


def _training_rules(values: dict, label: Label, files: bool) -> dict:
    """The training data must suit the method (images for Pic2Word, captions for LinCIR) and exist."""
    if files:
        from ...composed.training_data import check_training_data

        check_training_data(values["method"], values["data"])
    if values["overwrite"] and values["resume"]:
        raise ConfigError(f"{label('overwrite')}=True replaces an existing checkpoint with a new run, which needs "
                          "resume=False: pass both, or leave overwrite False to continue the checkpoint")
    return {}


def _explore_rules(values: dict, label: Label, files: bool) -> dict:
    """With no saved spaces, one space per notion of your own (a template and words each)."""
    from ...data.notions import OWN_COLLECTION

    if values["spaces"]:
        return {"notions": []}
    notions = values["notions"]
    if not isinstance(notions, list) or not notions:
        raise ConfigError(f"{label('notions')}={notions!r} must be a non-empty list of notions of your own "
                          "({'name', 'template', 'words'}) when no spaces are given")
    return {"notions": [check_notion_spec(OWN_COLLECTION, n, f"{label('notions')}[{i}]")
                        for i, n in enumerate(notions)]}


NOTEBOOK_PARAMETERS: dict[str, Notebook] = {notebook.name: notebook for notebook in (
    notebook("01_cache_embeddings", [
        DATASET, DATASET_OPTIONS, DATA_ROOT, BACKBONE, CACHE_DIR, BATCH_SIZE, NUM_WORKERS, DEVICE,
        ON_ERROR_PARAMETER,
        Parameter("executor", "local", choice(engines),
                  "'local' (here) or 'ray': each missing cache shard a Ray task (docs/CLUSTER.md)"),
        NOTIONS.but(help="notions whose sample images are shown: 'all', names, or your own (as in 03)"),
        Parameter("n_examples", 6, integer(), "sample images per notion"),
        SEED.but(help="drives which sample images are shown"),
        OUTPUT_DIR], _resolve_notions),
    notebook("02_fit_indirect", [
        DATASET, DATASET_OPTIONS.but(help="the dataset loader's options (read when the prompts depend on the "
                                          "labels)"),
        DATA_ROOT,
        Parameter("notion", "object colour", TEXT,
                  "a notion of the dataset, or the name of your own when template and words are given"),
        Parameter("template", None, Check(optional(check_template), "None or a template with one {}"),
                  "your own prompt template with one {}, e.g. 'a photo of a {} object'"),
        Parameter("words", None, Check(check_words_or_file, "None, a list of words or a word file"),
                  "the words for your template: a list, e.g. ['red', 'green'], or a word file"),
        Parameter("label_column", None, OPTIONAL_TEXT,
                  "with your own notion: the label column it describes (None: the notion's name)"),
        BACKBONE, CACHE_DIR, DEVICE, MODEL, MODEL_OPTIONS, N_COMPONENTS, N_PROMPTS, PROMPT_WORDS,
        ON_ERROR_PARAMETER.but(help="unreadable images (read only when the prompts depend on the labels): "
                                    "'raise' or 'skip'"),
        SEED.but(help="the seed of the fit and of a prompt subset (0: the evaluation's first repetition)"),
        OUTPUT_DIR], _fit_rules),
    notebook("03_evaluate", [
        DATASET, DATASET_OPTIONS, DATA_ROOT, NOTIONS,
        Parameter("models", "all", subset(model_keys), "model keys to evaluate, or 'all' (every model)"),
        MODEL_OPTIONS.but(help="per-model options, e.g. {'clip': {'normalize': True}} (docs/PROTOCOL.md)"),
        Parameter("repetitions", 5, integer(), "repetitions of every fit, with seeds 0..repetitions-1"),
        N_COMPONENTS, N_PROMPTS.but(help="None: every prompt; an int: a random subset per repetition (the prompt "
                                         "analysis)"),
        PROMPT_WORDS, BACKBONE, CACHE_DIR, DEVICE, BATCH_SIZE, NUM_WORKERS, ON_ERROR_PARAMETER,
        Parameter("n_jobs", "auto", Check(check_auto_or_int, "'auto' or integer >= 1"),
                  "worker processes for the Adam-trained fits ('auto': one per core)"),
        Parameter("n_queries", 3, integer(), "query images in the nearest-neighbour figure"),
        Parameter("top_k", 5, integer(), "neighbours shown per query and space"),
        SEED.but(help="drives which query images the neighbour figure shows"),
        OUTPUT_DIR], _resolve_notions),
    notebook("04_attribution", [
        DATASET, DATASET_OPTIONS, DATA_ROOT, NOTIONS,
        Parameter("image_ids", [0, 1, 2], Check(check_image_ids, "non-empty list of integers >= 0"),
                  "indices of the explained images among the readable ones"),
        Parameter("method", "smoothgrad", choice(attribution_methods), "the attribution method"),
        Parameter("samples", 25, integer(), "noise samples (SmoothGrad) or integration steps (Integrated Gradients)"),
        Parameter("noise", 0.15, number(minimum=0), "SmoothGrad's noise, as a share of the input range"),
        Parameter("window", 32, integer(), "occlusion window in pixels"),
        Parameter("projections", {}, mapping("{'shape': 'runs/.../projection.pt'}"),
                  "notion -> projection file of 02_fit_indirect (a notion without one is fitted here alike)"),
        MODEL.but(help="the InDiReCT solver fitted for a notion without a projection file"),
        MODEL_OPTIONS, N_COMPONENTS, N_PROMPTS, PROMPT_WORDS, ON_ERROR_PARAMETER, BACKBONE, CACHE_DIR, DEVICE,
        SEED.but(help="seeds the fits and SmoothGrad's noise"), OUTPUT_DIR], _resolve_notions),
    notebook("05_composed_retrieval", [
        Parameter("benchmark", "synthetic-shapes-cir", choice(benchmarks), "the composed-retrieval benchmark"),
        Parameter("split", None, optional_choice(("val", "test", "test1")),
                  "None: the benchmark's default ('test' for synthetic-shapes-cir, else 'val')"),
        Parameter("layout", "auto", choice(("auto", "searle", "pic2word")),
                  "annotation layout: CIRR and FashionIQ exist in both"),
        DATA_ROOT.but(help="the benchmark's folder (None: data/<benchmark>)"),
        Parameter("benchmark_options", {}, mapping("{'n_queries': 100}"),
                  "loader options, e.g. {'n_queries': 100} or {'categories': ['dress']}"),
        Parameter("methods", "all", subset(composed_methods),
                  "query methods, or 'all': image-only, text-only, image + text, pic2word, lincir, "
                  "notion-composed (InDiReCT-CIR), notion-composed-oracle (its oracle routing)"),
        Parameter("mappers", {}, mapping("{'pic2word': 'runs/.../mapper.pt'}"),
                  "checkpoint per mapper method, e.g. {'pic2word': 'runs/.../mapper.pt'}"),
        Parameter("ks", {}, Check(check_ks, "mapping of metric family to a list of K"),
                  "K per metric family, e.g. {'recall': [1, 5, 10]} ({}: the benchmark's own)"),
        Parameter("n_examples", 4, integer(0), "example queries in the figure"),
        Parameter("solver", "indirect", MODEL.check,
                  "InDiReCT-CIR's spaces: 'indirect' (the authors' procedure) or 'indirect-lbfgs' (our solver)"),
        N_COMPONENTS.but(help="dimensions k of each of InDiReCT-CIR's notion spaces"),
        BACKBONE, CACHE_DIR, DEVICE, BATCH_SIZE, NUM_WORKERS,
        SEED.but(help="seeds InDiReCT-CIR's fits and drives which example queries are shown"), OUTPUT_DIR]),
    notebook("06_train_mapper", [
        Parameter("method", "pic2word", choice(mapper_methods),
                  "'pic2word' (trains on images) or 'lincir' (trains on captions)"),
        Parameter("data", "synthetic-shapes-cir", TEXT,
                  "training data: the embedded benchmark's train split; an image folder or dataset name "
                  "(pic2word); a caption file .txt/.csv/.tsv or 'hf:<name>' (lincir)"),
        DATA_ROOT.but(help="root folder of the training data (None: its default)"),
        Parameter("data_options", {}, mapping("{'n_train': 2000}"),
                  "loader options, e.g. {'n_train': 2000} for synthetic-shapes-cir"),
        Parameter("caption_column", "caption", TEXT, "caption column of a CSV/TSV or Hugging Face dataset (lincir)"),
        Parameter("max_captions", None, optional_integer(), "None: every caption; an int: only the first (lincir)"),
        Parameter("steps", 1000, integer(), "training steps"),
        BATCH_SIZE.but(check=integer(2), help="training samples per step (at least 2: the loss compares within "
                                               "a batch)"),
        Parameter("lr", 1e-4, number(above=0), "learning rate"),
        SEED.but(help="seeds the data order, dropout and noise"), BACKBONE,
        DEVICE.but(check=choice(("cpu", "cuda")), help="'cpu' (float32) or 'cuda' (mixed precision)"),
        CACHE_DIR.but(help="embedding cache and text targets (None: data/cache)"),
        Parameter("checkpoint_every", 250, integer(), "steps between checkpoints in output_dir"),
        Parameter("resume", True, FLAG,
                  "continue the checkpoint in output_dir when there is one (made with the same settings)"),
        Parameter("overwrite", False, FLAG,
                  "with resume=False: start anew over an existing checkpoint, replacing it when the new run ends"),
        OUTPUT_DIR], _training_rules),
    notebook("07_explore", [
        Parameter("spaces", [], Check(check_paths, "list of folders"),
                  "saved space folders (python -m indirect_core space fit ...); empty: fit them here"),
        Parameter("images", None, OPTIONAL_PATH, "with no spaces: a folder (plain or nested) or a CSV with a path "
                                                 "column"),
        Parameter("dataset", None, Check(optional(check_dataset), lambda: "None, " + one_of(datasets())),
                  "with no spaces or images: a registered dataset (e.g. 'image-folder'), with data_root"),
        DATA_ROOT, DATASET_OPTIONS,
        Parameter("notions", [
            {"name": "object colour", "template": "a {} shape",
             "words": ["aqua", "black", "blue", "fuchsia", "gray", "green", "lime", "maroon", "navy", "olive",
                       "orange", "purple", "red", "silver", "teal", "white", "yellow"]},
            {"name": "shape", "template": "a photo of a {}",
             "words": ["circle", "square", "triangle", "star", "hexagon", "cross", "heart", "crescent", "pentagon",
                       "diamond", "ring", "arrow"]}], Check(check_own_notions, "list of notions of your own"),
            "with no spaces: one space per notion, each {'name', 'template', 'words' (list or word file)}"),
        Parameter("solver", "indirect-lbfgs", MODEL.check,
                  "'indirect-lbfgs' (our fast deterministic solver) or 'indirect' (the authors' Adam)"),
        N_COMPONENTS, BACKBONE, CACHE_DIR, DEVICE,
        Parameter("k", 8, integer(), "results per space"),
        Parameter("query", "auto", Check(check_query, "text, 'auto' or None"),
                  "the first query; 'auto': 'a red shape' on the example collection, none on your own; None: none"),
        Parameter("label_column", None, OPTIONAL_TEXT, "colour the map by this label column (None: the first one)"),
        Parameter("draw_map", True, FLAG, "draw the UMAP map of the first notion's space (numba compiles UMAP "
                                          "once per machine)"),
        Parameter("static_copy", True, FLAG, "save explore.html (grids of the first query + the map) and show the "
                                             "grids here"),
        SEED.but(help="seeds the fits (solver 'indirect') and the map"), OUTPUT_DIR], _explore_rules),
    notebook("08_train_backbone", [
        Parameter("architecture", SHAPES_CLIP_DEFAULTS["architecture"], choice(tuple(SHAPES_CLIP_ARCHITECTURES)),
                  "clip.model.CLIP architecture (ModifiedResNet or ViT at 64 px; 'tiny' for checks)"),
        Parameter("steps", SHAPES_CLIP_DEFAULTS["steps"], integer(), "training steps"),
        SEED.but(default=SHAPES_CLIP_DEFAULTS["seed"], help="seeds the model's initialisation and the training stream"),
        Parameter("n_groups", SHAPES_CLIP_DEFAULTS["n_groups"], integer(),
                  "groups of the 8 drawn shapes per batch (batch size 8 x n_groups)"),
        Parameter("design", SHAPES_CLIP_DEFAULTS["design"], choice(SHAPES_CLIP_DESIGNS),
                  "'pairs': each group shares one object and background colour pair; 'random': factors drawn "
                  "independently"),
        Parameter("lr", SHAPES_CLIP_DEFAULTS["lr"], number(above=0), "peak learning rate (AdamW)"),
        Parameter("warmup", SHAPES_CLIP_DEFAULTS["warmup"], integer(), "linear warmup steps before the cosine decay"),
        Parameter("text_freeze", SHAPES_CLIP_DEFAULTS["text_freeze"], integer(0),
                  "steps the text tower is held fixed at the start"),
        Parameter("weight_decay", SHAPES_CLIP_DEFAULTS["weight_decay"], number(minimum=0), "AdamW weight decay"),
        Parameter("grad_clip", SHAPES_CLIP_DEFAULTS["grad_clip"], number(minimum=0),
                  "gradient-norm clip (0: none)"),
        Parameter("threads", SHAPES_CLIP_DEFAULTS["threads"], integer(),
                  "torch CPU threads (pinned: the numbers depend on it; recorded in the card)"),
        Parameter("eval_every", 250, optional_integer(),
                  "steps between zero-shot checks on the held-out split during training (None: none)"),
        Parameter("held_out_images", 1000, integer(), "held-out images the model card's accuracies are measured on"),
        Parameter("checkpoint_every", 100, integer(), "steps between saved training states"),
        Parameter("resume", True, FLAG, "continue the unfinished run whose state lies in work_dir (same settings)"),
        Parameter("work_dir", None, OPTIONAL_PATH, "folder of the resumable training state (None: output_dir)"),
        DEVICE.but(check=choice(("cpu", "cuda")), help="'cpu' or 'cuda' (a GPU when there is one)"),
        OUTPUT_DIR.but(help="folder for the checkpoint, model card and loss curve")]),
)}
"""Every notebook's parameters by notebook name (the file name without ``.ipynb``)."""


def notebook_declaration(notebook: str) -> Notebook:
    """The declarations of ``notebook`` ("03_evaluate" or "03_evaluate.ipynb")."""
    name = Path(notebook).stem
    if name not in NOTEBOOK_PARAMETERS:
        raise ConfigError(f"no notebook {notebook!r} declares parameters: use one of {list(NOTEBOOK_PARAMETERS)}")
    return NOTEBOOK_PARAMETERS[name]


def declared(notebook: str, name: str) -> Parameter:
    """The declaration of parameter ``name`` of ``notebook``."""
    return notebook_declaration(notebook)[name]
