"""InDiReCT and the baselines: planted-data behaviour, the paper's objective, solvers, contracts, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SklearnPCA

import indirect_core as ic
from indirect_core.core.models import MODELS, acos_safe, indirect_loss, make_model


def planted(seed: int = 0, n_images: int = 480, dim: int = 96):
    """Images = colour direction + shape direction + strong nuisance + noise; prompts = word direction +
    shared template context + noise. Returns images, colour/shape labels, colour/shape prompt features."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(dim, dim, generator=g))[0].T  # orthonormal rows
    colours, shapes, nuisance = basis[:8], basis[8:14], basis[14:30]
    context_colour, context_shape = basis[30], basis[31]
    colour = torch.randint(0, 8, (n_images,), generator=g)
    shape = torch.randint(0, 6, (n_images,), generator=g)
    images = (colours[colour] + shapes[shape] + 1.2 * torch.randn(n_images, 16, generator=g) @ nuisance
              + 0.05 * torch.randn(n_images, dim, generator=g))
    colour_prompts = colours + 0.8 * context_colour + 0.05 * torch.randn(8, dim, generator=g)
    shape_prompts = shapes + 0.8 * context_shape + 0.05 * torch.randn(6, dim, generator=g)
    return images, colour.numpy(), shape.numpy(), colour_prompts, shape_prompts


def map_at_r(embeddings, labels) -> float:
    return ic.evaluate(embeddings, labels, include=("mean_average_precision_at_r",))["mean_average_precision_at_r"]


def test_planted_notions_beat_clip_baseline():
    images, colour, shape, colour_prompts, shape_prompts = planted()
    clip_colour = map_at_r(ic.core.models.CLIPFeatures().fit().transform(images), colour)
    clip_shape = map_at_r(ic.core.models.CLIPFeatures().fit().transform(images), shape)
    colour_space = ic.InDiReCTLBFGS(n_components=8).fit(colour_prompts).transform(images)
    shape_space = ic.InDiReCTLBFGS(n_components=6).fit(shape_prompts).transform(images)
    assert map_at_r(colour_space, colour) > clip_colour + 0.3
    assert map_at_r(shape_space, shape) > clip_shape + 0.3
    # and each notion space forgets the other notion
    assert map_at_r(colour_space, shape) < clip_shape
    assert map_at_r(shape_space, colour) < clip_colour


def test_indirect_contract_and_objective():
    _, _, _, prompts, _ = planted()
    images = torch.randn(20, 96)
    model = ic.InDiReCT(n_components=5, random_state=0)
    assert model.fit(prompts) is model
    assert model.components_.shape == (5, 96)
    out = model.transform(images)
    assert out.shape == (20, 5) and torch.allclose(out.norm(dim=1), torch.ones(20), atol=1e-5)
    unit = torch.nn.functional.normalize(prompts, dim=1)
    assert model.loss_ == pytest.approx(float(indirect_loss(model.components_, unit)), rel=1e-6)
    # transform = normalise, project, renormalise
    expected = torch.nn.functional.normalize(torch.nn.functional.normalize(images, dim=1) @ model.components_.T, dim=1)
    assert torch.allclose(out, expected, atol=1e-6)
    # transform never refits; the same seed gives the same numbers
    again = ic.InDiReCT(n_components=5, random_state=0).fit(prompts)
    assert torch.equal(again.components_, model.components_)


def test_indirect_loss_matches_hand_computed_angles():
    texts = torch.nn.functional.normalize(torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]), dim=1)
    components = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # projects onto the x-y plane
    # x̂ of row 1 is row 1 itself (angle 0 up to acos_safe's edge, < 5e-4); x̂ of row 2 is (0,1,0): angle 45°
    assert float(indirect_loss(components, texts)) == pytest.approx(math.pi / 8, abs=5e-4)


def test_acos_safe_equals_acos_inside_and_extends_linearly():
    x = torch.linspace(-0.999, 0.999, 101)
    assert torch.allclose(acos_safe(x), torch.acos(x), atol=1e-6)
    edge = torch.tensor([1.0, -1.0, 1.0 - 1e-7], dtype=torch.float64, requires_grad=True)
    values = acos_safe(edge)
    values.sum().backward()
    assert torch.isfinite(edge.grad).all()
    values = values.detach()
    assert float(values[0]) == pytest.approx(0.0, abs=1e-9) and float(values[1]) == pytest.approx(math.pi, abs=1e-6)


def test_lbfgs_reaches_at_most_the_loss_of_the_authors_adam():
    g = torch.Generator().manual_seed(1)
    spectrum = torch.arange(1, 65, dtype=torch.float32) ** -0.5
    texts = torch.randn(150, 64, generator=g) * spectrum + 0.3
    fast = ic.InDiReCTLBFGS(n_components=16).fit(texts)
    authors = ic.InDiReCT(n_components=16, random_state=0).fit(texts)
    assert fast.loss_ <= authors.loss_ * 1.01
    # the authors' stopping rule: stop `patience` iterations after the best one
    assert authors.n_iter_ == int(np.argmin(authors.loss_curve_)) + 1 + authors.patience


def test_adam_solver_seeds_its_initialisation():
    texts = torch.randn(30, 32, generator=torch.Generator().manual_seed(0))
    a = ic.InDiReCT(n_components=4, random_state=3, max_iter=50).fit(texts)
    b = ic.InDiReCT(n_components=4, random_state=3, max_iter=50).fit(texts)
    c = ic.InDiReCT(n_components=4, random_state=4, max_iter=50).fit(texts)
    assert torch.equal(a.components_, b.components_) and not torch.equal(a.components_, c.components_)


def test_bad_inputs_get_clear_errors():
    texts = torch.randn(10, 32)
    with pytest.raises(ic.ConfigError, match="n_components=64 is larger than the feature dimension 32"):
        ic.InDiReCT(n_components=64).fit(texts)
    with pytest.raises(ic.ConfigError, match="n_components=0"):
        ic.InDiReCT(n_components=0).fit(texts)
    with pytest.raises(ic.ConfigError, match="text_features is empty"):
        ic.InDiReCT(n_components=4).fit(torch.empty(0, 32))
    with pytest.raises(ic.ConfigError, match="has no option"):
        make_model("indirect-lbfgs", n_components=4, lr=0.5)
    with pytest.raises(ic.ConfigError, match="not fitted"):
        ic.InDiReCT(n_components=4).transform(texts)
    model = ic.InDiReCT(n_components=4).fit(texts)
    with pytest.raises(ic.ConfigError, match="same CLIP backbone"):
        model.transform(torch.randn(3, 16))
    with pytest.raises(ic.ConfigError, match="unknown model 'umap'"):
        make_model("umap")


def test_pca_fails_like_the_paper_or_truncates_on_request():
    texts = torch.nn.functional.normalize(torch.randn(12, 32, generator=torch.Generator().manual_seed(0)), dim=1)
    images = torch.randn(40, 32, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ic.NotApplicableError, match="at least 16 prompts, got 12"):
        ic.core.models.PCA(n_components=16).fit(texts)
    truncated = ic.core.models.PCA(n_components=16, too_few_prompts="truncate").fit(texts)
    assert truncated.transform(images).shape == (40, 12)
    reference = SklearnPCA(n_components=8, svd_solver="full").fit(texts.double().numpy())
    ours = ic.core.models.PCA(n_components=8).fit(texts).transform(images)
    assert np.allclose(ours.numpy(), reference.transform(images.double().numpy()), atol=1e-5)
    normalised = ic.core.models.PCA(n_components=8, normalize=True).fit(texts).transform(images)
    assert torch.allclose(normalised.norm(dim=1), torch.ones(40), atol=1e-5)


def test_random_baselines_are_seeded():
    images = torch.randn(25, 32)
    a, b = (ic.core.models.RandomEmbedding(8, random_state=s).fit().transform(images) for s in (0, 0))
    c = ic.core.models.RandomEmbedding(8, random_state=1).fit().transform(images)
    assert torch.equal(a, b) and not torch.equal(a, c) and torch.allclose(a.norm(dim=1), torch.ones(25))
    transform = ic.core.models.RandomTransform(16, random_state=2).fit(torch.randn(5, 32))
    assert transform.components_.std().item() == pytest.approx(0.1, rel=0.15)
    expected = torch.nn.functional.normalize(torch.nn.functional.normalize(images, dim=1) @ transform.components_.T)
    assert torch.allclose(transform.transform(images), expected, atol=1e-6)
    raw = ic.core.models.CLIPFeatures().fit().transform(images)
    assert torch.equal(raw, images) and torch.allclose(
        ic.core.models.CLIPFeatures(normalize=True).fit().transform(images).norm(dim=1), torch.ones(25))


def test_autoencoders_reduce_reconstruction_error_and_keep_the_best():
    texts = torch.randn(20, 32, generator=torch.Generator().manual_seed(0))
    for cls in (ic.core.models.LinearAutoencoder, ic.core.models.Autoencoder):
        model = cls(n_components=8, random_state=0, max_iter=400).fit(texts)
        assert model.loss_ == min(model.loss_curve_) < model.loss_curve_[0] / 2
        assert model.transform(torch.randn(7, 32)).shape == (7, 8)
        again = cls(n_components=8, random_state=0, max_iter=400).fit(texts)
        assert torch.equal(again.transform(texts), model.transform(texts))


def test_oracle_learns_the_labels_it_is_given():
    images, colour, shape, _, _ = planted(n_images=240)
    oracle = ic.core.models.Oracle(n_components=16, random_state=0, max_iter=600).fit(images, colour)
    assert list(oracle.classes_) == [str(i) for i in range(8)]
    assert map_at_r(oracle.transform(images), colour) > map_at_r(images, colour) + 0.3
    with pytest.raises(ic.ConfigError, match="needs the labels"):
        ic.core.models.Oracle(n_components=4).fit(images)


def test_every_model_follows_the_same_contract():
    images, colour, _, prompts, _ = planted(n_images=60)
    for key, cls in MODELS.items():
        model = make_model(key, n_components=6, random_state=0, **({"max_iter": 30} if key in ("lae", "ae", "oracle") else {}))
        assert isinstance(model, cls) and model.random_state == 0 and model.fit_input in ("text", "image_labels", "none")
        if model.fit_input == "text":
            fitted = model.fit(prompts)
        elif model.fit_input == "image_labels":
            fitted = model.fit(images, colour)
        else:
            fitted = model.fit()
        assert fitted is model
        out = model.transform(images)
        assert out.shape[0] == 60 and torch.isfinite(out).all()


def _fit(model, images, labels, prompts):
    if model.fit_input == "text":
        return model.fit(prompts)
    if model.fit_input == "image_labels":
        return model.fit(images, labels)
    return model.fit()


def test_options_a_model_does_not_have_are_refused():
    for key, option in (("indirect-lbfgs", "lr"), ("indirect-lbfgs", "patience"), ("clip", "tol"),
                        ("pca", "lr"), ("indirect", "solver")):
        with pytest.raises(ic.ConfigError, match=f"has no option.*{option}"):
            make_model(key, n_components=4, **{option: 1})


def test_max_iter_counts_iterations_for_both_solvers():
    texts = torch.randn(40, 32, generator=torch.Generator().manual_seed(0))
    assert ic.InDiReCT(n_components=8, max_iter=7).fit(texts).n_iter_ == 7
    assert ic.InDiReCTLBFGS(n_components=8, max_iter=2).fit(texts).n_iter_ <= 2
    for model in (ic.InDiReCT(n_components=8, max_iter=0), ic.InDiReCTLBFGS(n_components=8, max_iter=-1)):
        with pytest.raises(ic.ConfigError, match="max_iter"):
            model.fit(texts)


def test_loss_is_the_papers_mean_angle_computed_independently():
    texts = torch.randn(25, 48, generator=torch.Generator().manual_seed(2)) + 0.5
    for model in (ic.InDiReCT(n_components=6, random_state=0, max_iter=300), ic.InDiReCTLBFGS(n_components=6)):
        model.fit(texts)
        x = texts.double().numpy()
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        u = model.components_.double().numpy()
        v = x @ u.T
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        r = v @ u
        r /= np.linalg.norm(r, axis=1, keepdims=True)
        angles = np.arccos(np.clip((x * r).sum(axis=1), -1, 1))
        assert model.loss_ == pytest.approx(angles.mean(), rel=1e-4, abs=1e-6)
        assert model.loss_ == pytest.approx(min(model.loss_curve_), rel=1e-5)  # the best U is the one returned


def test_adam_models_are_deterministic_to_the_bit_and_seed_dependent():
    images, colour, _, prompts, _ = planted(n_images=80)
    for key in ("indirect", "lae", "ae", "oracle"):
        runs = [_fit(make_model(key, n_components=6, random_state=s, max_iter=60), images, colour, prompts)
                for s in (5, 5, 6)]
        a, b, c = (m.transform(images) for m in runs)
        assert torch.equal(a, b) and runs[0].n_iter_ == runs[1].n_iter_, key
        assert runs[0].loss_curve_ == runs[1].loss_curve_, key
        assert not torch.equal(a, c), key
    lbfgs = [ic.InDiReCTLBFGS(n_components=6, random_state=s).fit(prompts).components_ for s in (0, 1)]
    assert torch.equal(*lbfgs)  # deterministic: the seed does not matter


def test_lae_ae_pca_see_raw_image_features_and_clip_is_raw():
    """B4: the authors apply LAE, AE and PCA to raw (unnormalised) image features and evaluate raw CLIP
    features; InDiReCT, Rand. transform and the Oracle normalise first."""
    images, colour, _, prompts, _ = planted(n_images=60)
    scaled = images * torch.linspace(0.5, 3.0, 60).unsqueeze(1)  # same directions, other lengths
    short = {"max_iter": 30}
    for key in ("lae", "ae", "pca", "clip"):
        model = _fit(make_model(key, n_components=6, random_state=0, **(short if key in ("lae", "ae") else {})),
                     images, colour, prompts)
        assert not torch.allclose(model.transform(scaled), model.transform(images)), key
    clip_out = ic.core.models.CLIPFeatures().fit().transform(scaled)
    assert torch.equal(clip_out, scaled)
    lae = ic.core.models.LinearAutoencoder(n_components=6, max_iter=30).fit(prompts)
    layer = lae.encoder_[0]
    assert torch.allclose(lae.transform(scaled), scaled @ layer.weight.T + layer.bias, atol=1e-6)
    for key in ("indirect", "randtransform", "oracle"):
        model = _fit(make_model(key, n_components=6, random_state=0, **(short if key != "randtransform" else {})),
                     images, colour, prompts)
        assert torch.allclose(model.transform(scaled), model.transform(images), atol=1e-6), key


def test_a_projection_refuses_features_of_another_backbone(tiny_backbone, tmp_path):
    from indirect_core.features.cache import ImageFeatures

    texts = tiny_backbone.encode_texts(["a red shape", "a blue shape", "a green shape"])
    model = ic.InDiReCTLBFGS(n_components=2).fit(texts)
    path = ic.core.projections.save_projection(model, tmp_path / "p.pt", ["a", "b", "c"], tiny_backbone.identity())
    other = {**tiny_backbone.identity(), "name": "ViT-B/16", "sha256": "f" * 64}
    with pytest.raises(ic.ConfigError, match="fitted with backbone random-tiny"):
        ic.core.projections.load_projection(path, backbone=other)
    loaded, record = ic.core.projections.load_projection(path, backbone=tiny_backbone)
    assert isinstance(loaded, ic.InDiReCTLBFGS) and record["model"] == "indirect-lbfgs"
    features = torch.randn(4, 512)
    same = ImageFeatures(features, np.arange(4), {}, tmp_path, tiny_backbone.identity(), {"name": "x"})
    assert torch.equal(loaded.transform(same), loaded.transform(features))
    foreign = ImageFeatures(features, np.arange(4), {}, tmp_path, other, {"name": "x"})
    with pytest.raises(ic.ConfigError, match="come from backbone ViT-B/16"):
        loaded.transform(foreign)


def test_a_damaged_projection_file_says_so_and_never_advises_unsafe_loading(tiny_backbone, tmp_path):
    texts = tiny_backbone.encode_texts(["a red shape", "a blue shape"])
    path = ic.core.projections.save_projection(ic.InDiReCTLBFGS(n_components=2).fit(texts), tmp_path / "p.pt",
                                          ["a", "b"], tiny_backbone.identity())
    whole = path.read_bytes()
    for name, content, reason in (("empty.pt", b"", "is empty"), ("cut.pt", whole[: len(whole) // 2], "damaged"),
                                  ("noise.pt", bytes(range(256)) * 4, "damaged")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ic.DatasetError) as caught:
            ic.core.projections.load_projection(tmp_path / name, backbone=tiny_backbone)
        message = str(caught.value)
        assert f"projection file {tmp_path / name} " in message and reason in message and "fit it again" in message
        assert "weights_only" not in message
