"""Every model is an honest scikit-learn transformer: scikit-learn's own estimator checks, the output type rule,
``fit(X, y=None)``, ``n_features_in_`` and the errors. The numbers are the ones of tests/test_models.py and
tests/test_objectives.py: a NumPy input gives the same bits as the float32 tensor the models fitted on before."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import estimator_checks_generator

import indirect_core as ic
from indirect_core.core.models import MODELS, NotFittedModelError, make_model

# Small settings so every check runs in seconds: two components, 50 optimiser iterations at most.
CHECKED = [
    ic.core.models.RandomEmbedding(n_components=2),
    ic.core.models.CLIPFeatures(),
    ic.InDiReCT(n_components=2, max_iter=50),
    ic.InDiReCTLBFGS(n_components=2),
    ic.core.models.RandomTransform(n_components=2),
    ic.core.models.PCA(n_components=2),
    ic.core.models.LinearAutoencoder(n_components=2, max_iter=50),
    ic.core.models.Autoencoder(n_components=2, max_iter=50),
    ic.core.models.Oracle(n_components=2, max_iter=50),
]

# At most five per model, each with its reason. Strict: a check listed here that starts passing fails the suite,
# so the list cannot go stale. Every other check passes; scikit-learn's array-API
# input check is left out (NOT_APPLICABLE). The zero rows of the integer data in check_estimators_dtypes
# pass because InDiReCT and the Oracle floor row norms as F.normalize does (a zero row stays zero, not NaN).
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "RandomEmbedding": {
        "check_methods_subset_invariance": "by design: row i is the i-th draw of randn(n, k) seeded by random_state, "
                                           "so an image's embedding depends on its position, not its values (the "
                                           "paper's Random lower bound)",
        "check_methods_sample_order_invariance": "by design: the embedding ignores the values of X, so permuting "
                                                 "the rows does not permute the output",
    },
}


def expected_failures(estimator) -> dict[str, str]:
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


def test_every_registered_model_is_checked_with_at_most_five_expected_failures():
    assert sorted(type(e).__name__ for e in CHECKED) == sorted(cls.__name__ for cls in MODELS.values())
    assert set(EXPECTED_FAILURES) <= set(cls.__name__ for cls in MODELS.values())
    assert all(len(failures) <= 5 and all(reason for reason in failures.values())
               for failures in EXPECTED_FAILURES.values())


NOT_APPLICABLE = {"check_array_api_input": "the models compute with torch, not through the array API; scikit-learn "
                                           "runs this check only with SCIPY_ARRAY_API set and skips it otherwise"}
"""Checks left out of the run (rather than reported as skipped), each with why it does not apply."""


def _check_name(check) -> str:
    return getattr(check, "func", check).__name__


def _scikit_learn_checks() -> list:
    """Every (estimator, check) pair scikit-learn generates for the models, expected failures marked xfail
    (strict), the checks of NOT_APPLICABLE left out."""
    cases = []
    for model in CHECKED:
        for case in estimator_checks_generator(model, expected_failed_checks=expected_failures(model),
                                               mark="xfail", xfail_strict=True):
            _, check = case.values if hasattr(case, "values") else case  # a ParameterSet when marked xfail
            if _check_name(check) not in NOT_APPLICABLE:
                cases.append(case)
    return cases


@pytest.mark.parametrize("estimator, check", _scikit_learn_checks(),
                         ids=lambda value: _check_name(value) if callable(value) else repr(value))
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def planted(n: int = 40, dim: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(12, dim, generator=g), torch.randn(n, dim, generator=g),
            torch.randint(0, 3, (n,), generator=g).numpy())


def fitted(key: str, texts, images, labels, **options):
    model = make_model(key, n_components=4, random_state=0,
                       **({"max_iter": 40} if key in ("indirect", "lae", "ae", "oracle") else {}), **options)
    if model.fit_input == "image_labels":
        return model.fit(images, labels)
    return model.fit(texts)


@pytest.mark.parametrize("key", list(MODELS))
def test_output_type_follows_the_input_and_numbers_do_not_depend_on_it(key):
    texts, images, labels = planted()
    model = fitted(key, texts, images, labels)
    as_tensor = model.transform(images)
    as_array = model.transform(images.double().numpy())
    as_list = model.transform(images.tolist())
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.dtype == torch.float32
    assert isinstance(as_array, np.ndarray) and as_array.dtype == np.float32
    assert isinstance(as_list, np.ndarray) and as_list.dtype == np.float32
    assert np.array_equal(as_array, as_tensor.numpy()) and np.array_equal(as_list, as_array)
    # a NumPy float64 fit consumes the float32 tensor a tensor fit consumes: the same bits
    again = fitted(key, texts.double().numpy(), images.double().numpy(), labels)
    assert torch.equal(again.transform(images), as_tensor), key
    assert model.n_features_in_ == again.n_features_in_ == 16
    # scikit-learn's fit_transform: fit on X, then transform X (y passed on, as the Oracle needs it)
    out = clone(model).fit_transform(images.numpy(), labels) if model.fit_input == "image_labels" else \
        clone(model).fit_transform(texts.numpy())
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape[0] == (
        len(images) if model.fit_input == "image_labels" else len(texts))


def test_indirect_transform_stays_differentiable_and_on_the_input_device():
    texts, images, _ = planted()
    for model in (ic.InDiReCT(n_components=4, max_iter=30).fit(texts), ic.InDiReCTLBFGS(n_components=4).fit(texts)):
        pixels = images.clone().requires_grad_(True)
        out = model.transform(pixels)
        assert out.requires_grad
        out.sum().backward()
        assert pixels.grad is not None and torch.isfinite(pixels.grad).all()
        assert torch.equal(out.detach(), model.transform(images))


def test_cached_features_give_a_tensor_and_keep_the_backbone_check(tmp_path):
    from indirect_core.features.cache import ImageFeatures

    texts, images, _ = planted()
    mine = {"name": "random-tiny", "sha256": "a" * 64}
    cached = ImageFeatures(images, np.arange(len(images)), {}, tmp_path, mine, {"name": "x"})
    for key in ("indirect", "pca", "clip"):
        model = fitted(key, texts, images, None)
        model.backbone_ = mine
        out = model.transform(cached)
        assert isinstance(out, torch.Tensor) and torch.equal(out, model.transform(images)), key
        foreign = ImageFeatures(images, np.arange(len(images)), {}, tmp_path, {"name": "ViT-B/16", "sha256": "f" * 64},
                                {"name": "x"})
        with pytest.raises(ic.ConfigError, match="come from backbone ViT-B/16"):
            model.transform(foreign)


def test_fit_takes_x_and_y_positionally_and_by_name():
    texts, images, labels = planted()
    a = ic.InDiReCTLBFGS(n_components=4).fit(texts, labels[:12])  # y is ignored by text-fitted models
    b = ic.InDiReCTLBFGS(n_components=4).fit(X=texts)
    assert torch.equal(a.components_, b.components_)
    oracle = ic.core.models.Oracle(n_components=4, max_iter=20)
    assert torch.equal(clone(oracle).fit(images, labels).components_, clone(oracle).fit(X=images, y=labels).components_)
    with pytest.raises(ic.ConfigError, match="needs the labels.*requires y to be passed"):
        clone(oracle).fit(images)
    with pytest.raises(ic.ConfigError, match="y should be a 1d array"):
        clone(oracle).fit(images, labels.reshape(-1, 1))


def test_models_fitted_without_features_accept_any_width_and_record_one_when_given():
    _, images, _ = planted()
    for cls in (ic.core.models.RandomEmbedding, ic.core.models.CLIPFeatures):
        free = cls(n_components=4).fit()
        assert not hasattr(free, "n_features_in_") and free.transform(images[:, :5]).shape[0] == len(images)
        bound = cls(n_components=4).fit(images)
        assert bound.n_features_in_ == 16
        with pytest.raises(ic.ConfigError, match="X has 5 features, but .* is expecting 16 features"):
            bound.transform(images[:, :5])
        assert not hasattr(bound.fit(), "n_features_in_")  # a refit without features forgets the width


def test_errors_are_project_errors_that_scikit_learn_recognises():
    texts, images, _ = planted()
    model = ic.InDiReCT(n_components=4, max_iter=10)
    with pytest.raises(NotFittedError, match="not fitted yet: call fit"):
        model.transform(images)
    assert issubclass(NotFittedModelError, ic.ConfigError) and issubclass(NotFittedModelError, NotFittedError)
    model.fit(texts)
    with pytest.raises(ic.ConfigError, match="X has 3 features, but InDiReCT is expecting 16 features as input.*"
                                             "same CLIP backbone"):
        model.transform(images[:, :3].numpy())
    with pytest.raises(ic.ConfigError, match="Reshape your data"):
        model.transform(images[0].numpy())
    bad = images.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ic.ConfigError, match="NaN or infinite"):
        model.transform(bad)
    with pytest.raises(ic.ConfigError, match="NaN or infinite"):
        model.transform(bad.clone().requires_grad_(True))
    with pytest.raises(ic.ConfigError, match="text_features is empty"):
        clone(model).fit(np.empty((0, 16)))
    with pytest.raises(ic.ConfigError, match=r"0 feature\(s\)"):
        clone(model).fit(np.empty((5, 0)))
    with pytest.raises(ic.ConfigError, match="sparse input is not supported"):
        from scipy import sparse
        clone(model).fit(sparse.csr_matrix(texts.numpy()))
    with pytest.raises(ic.ConfigError, match="Complex data not supported"):
        clone(model).fit(texts.numpy() + 1j)


def test_a_zero_row_stays_finite_through_the_scikit_learn_interface():
    """Integer features with a zero row (as scikit-learn's dtype check feeds): norms are floored as F.normalize."""
    texts = np.random.RandomState(0).randint(0, 3, size=(12, 6))
    texts[0] = 0
    for model in (ic.InDiReCT(n_components=2, max_iter=30), ic.core.models.Oracle(n_components=2, max_iter=30)):
        out = model.fit(texts, np.arange(12) % 3).transform(texts)
        assert isinstance(out, np.ndarray) and np.isfinite(out).all() and not out[0].any()


def test_models_work_inside_a_scikit_learn_pipeline():
    texts, _, _ = planted()
    pipeline = make_pipeline(FunctionTransformer(lambda x: 2 * x), ic.InDiReCTLBFGS(n_components=4))
    out = pipeline.fit(texts.numpy()).transform(texts.numpy())
    assert isinstance(out, np.ndarray) and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
