"""The paper's metrics: parity with pytorch-metric-learning and known answers on planted embeddings."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

import indirect_core as ic


def test_parity_with_accuracy_calculator():
    g = torch.Generator().manual_seed(0)
    labels = np.array(["red", "blue", "green", "navy", "teal"])[torch.randint(0, 5, (300,), generator=g).numpy()]
    centres = torch.randn(5, 16, generator=g)
    codes = np.unique(labels, return_inverse=True)[1]
    embeddings = centres[codes] + 0.9 * torch.randn(300, 16, generator=g)
    ours = ic.evaluate(embeddings, labels)
    reference = AccuracyCalculator(device=torch.device("cpu")).get_accuracy(
        embeddings, torch.as_tensor(codes), embeddings, torch.as_tensor(codes), ref_includes_query=True)
    assert set(ours) == set(ic.core.metrics.METRICS) == set(reference)
    for name in ic.core.metrics.METRICS:
        assert ours[name] == pytest.approx(reference[name], abs=1e-6)
    assert 0.0 < ours["mean_average_precision_at_r"] < 1.0


def test_known_answers_on_perfectly_separated_classes():
    embeddings = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [10.0, 10.0], [10.1, 10.0], [10.0, 10.1]])
    result = ic.evaluate(embeddings, ["a", "a", "a", "b", "b", "b"])
    for name in ic.core.metrics.METRICS:
        assert result[name] == pytest.approx(1.0, abs=1e-6), name


def test_known_answer_for_a_hand_ranked_case():
    # 1-D points: the nearest neighbour of each query decides precision@1
    embeddings = torch.tensor([[0.0], [1.0], [2.1], [3.3]])
    result = ic.evaluate(embeddings, [0, 1, 0, 1], include=("precision_at_1", "mean_reciprocal_rank"))
    # neighbours: 0->1 (wrong), 1->0 (wrong), 2->1 (wrong, |2.1-1.0|=1.1 < 1.2), 3->2 (wrong)
    assert result["precision_at_1"] == 0.0
    # first correct neighbour: q0 at rank 2 (0->1->2.1), q1 at rank 3 (1->0->2.1->3.3),
    # q2 at rank 3 (2.1->1->3.3->0), q3 at rank 2 (3.3->2.1->1): MRR = (1/2 + 1/3 + 1/3 + 1/2) / 4
    assert result["mean_reciprocal_rank"] == pytest.approx(5 / 12, abs=1e-6)


def test_evaluate_rejects_bad_input():
    with pytest.raises(ic.ConfigError, match="3 embeddings but 2 labels"):
        ic.evaluate(torch.randn(3, 4), [0, 1])
    with pytest.raises(ic.ConfigError, match="NaN"):
        ic.evaluate(torch.full((3, 4), float("nan")), [0, 1, 1])
    with pytest.raises(ic.ConfigError, match="unknown metric"):
        ic.evaluate(torch.randn(3, 4), [0, 1, 1], include=("recall",))
