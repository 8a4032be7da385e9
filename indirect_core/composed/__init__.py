"""Zero-shot composed image retrieval (query = reference image + modification text) on the shared CLIP features.

Pseudo-word encoding (what Pic2Word and LinCIR share), the benchmarks' query sets, ranking, metrics and the
image / text / image + text baselines. It reuses the backbone, the embedding cache and the plotting helpers.
InDiReCT-CIR (``notion_composed``) fits InDiReCT's estimators through their public interface (``make_model``,
``fit``, ``transform``) and nothing else of them; InDiReCT's models never import this package.
"""
from .encoding import encode_with_pseudo_tokens
from .queries import QuerySet
from .tokens import placeholder_id, tokenize_prompts
from .baselines import (BASELINES, ComposedMethod, ImageOnly, ImageText, TextOnly, gallery_features,
                        modification_texts, query_features)
from .evaluate import (BENCHMARK_METRICS, evaluate, evaluate_groups, evaluate_methods, rank_gallery, rank_subsets,
                       results_table)
from .metrics import average_over_subsets, mean_average_precision_at_k, recall_at_k, recall_subset_at_k
from .ranking import rank, rank_candidates
from .synthetic import SYNTHETIC_CIR, generate_synthetic_cir, load_synthetic_cir, synthetic_cir_train
from .mappers import LinCIRPhi, Pic2WordMapper, make_mapper
from .checkpoints import load_mapper, read_checkpoint, save_mapper
from .masking import clean_caption, extract_keywords, keyword_tagger, mask_caption, masked_token_ids
from .targets import text_targets
from .training import TrainingResult
from .training_data import check_training_data, training_captions, training_images
from .train_pic2word import train_pic2word
from .train_lincir import train_lincir
from .mapper_training import train_mapper
from .methods import COMPOSED_PROMPTS, LinCIR, Pic2Word, composed_prompts, mapper_method
from .notion_composed import NotionComposed, routing_accuracy
from .notion_spaces import NotionSpace, fit_notion_spaces
from . import notion_composed
from . import benchmarks, study
from .benchmarks import available_benchmarks, check_benchmark, load_benchmark
from .study import ComposedStudy, run_benchmark

__all__ = ["encode_with_pseudo_tokens", "QuerySet", "placeholder_id", "tokenize_prompts"]
__all__ += [
    "BASELINES", "ComposedMethod", "ImageOnly", "ImageText", "TextOnly", "modification_texts", "query_features",
    "gallery_features", "BENCHMARK_METRICS", "evaluate", "evaluate_groups", "evaluate_methods", "rank_gallery", "rank_subsets", "results_table",
    "average_over_subsets", "mean_average_precision_at_k", "recall_at_k", "recall_subset_at_k", "rank",
    "rank_candidates", "SYNTHETIC_CIR", "generate_synthetic_cir", "load_synthetic_cir", "synthetic_cir_train",
]
__all__ += [
    "LinCIRPhi", "Pic2WordMapper", "make_mapper", "load_mapper", "read_checkpoint", "save_mapper", "clean_caption",
    "extract_keywords", "keyword_tagger", "mask_caption", "masked_token_ids", "text_targets", "TrainingResult",
    "check_training_data", "training_captions", "training_images", "train_pic2word", "train_lincir", "train_mapper",
    "COMPOSED_PROMPTS", "LinCIR", "Pic2Word", "composed_prompts", "mapper_method",
    "NotionComposed", "NotionSpace", "fit_notion_spaces", "routing_accuracy", "notion_composed",
]
__all__ += ["benchmarks", "study", "available_benchmarks", "check_benchmark", "load_benchmark",
            "ComposedStudy", "run_benchmark"]
