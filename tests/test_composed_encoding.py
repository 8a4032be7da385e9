"""encode_with_pseudo_tokens against the official replacement (77 tokens, torch.where, CLIP's parts written out)."""
from __future__ import annotations

import clip
import pytest
import torch

import indirect_core as ic
from indirect_core.composed import encode_with_pseudo_tokens, placeholder_id
from indirect_core._util.errors import ConfigError

STAR_PROMPTS = [
    "a photo of * , is red",
    "a photo of * , has a navy background and is a star instead of a circle",
    "* , is bigger",
    "a * next to another *",  # every placeholder is replaced, as LinCIR does
]
DOLLAR_PROMPTS = [
    "a photo of $ that is a heart instead of a cross",
    "a photo of $ that is smaller and has an orange background",
    "$ that is white",
]


@pytest.fixture(scope="module")
def vit_b32(cache_dir):
    """The ViT-B/32 architecture with random weights, loaded through clip.load."""
    return ic.load_backbone("random-vit-b-32", cache_dir=cache_dir)


def official_pseudo_encoding(model: torch.nn.Module, prompts: list[str], tokens: torch.Tensor, placeholder: str,
                             normalize: bool = True) -> torch.Tensor:
    """The official computation: 77-token ids, the placeholder's embedding replaced with torch.where, then
    clip.model.CLIP.encode_text's steps on the full context."""
    ids = clip.tokenize(prompts, context_length=77)
    token_id = int(clip.tokenize([placeholder])[0, 1])
    x = model.token_embedding(ids).type(model.dtype)
    x = torch.where((ids == token_id)[..., None], tokens[:, None].type(model.dtype), x)
    x = x + model.positional_embedding.type(model.dtype)
    x = model.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
    x = model.ln_final(x).type(model.dtype)
    x = x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ model.text_projection
    x = x.float()
    return x / x.norm(dim=1, keepdim=True) if normalize else x


def _tokens(n: int, width: int, seed: int = 0) -> torch.Tensor:
    """Pseudo-word tokens on the scale of CLIP's token embeddings (std 0.02)."""
    return 0.02 * torch.randn(n, width, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("placeholder, prompts", [("*", STAR_PROMPTS), ("$", DOLLAR_PROMPTS)])
def test_equals_official_replacement(vit_b32, placeholder, prompts):
    tokens = _tokens(len(prompts), vit_b32.token_width)
    with torch.no_grad():
        expected = official_pseudo_encoding(vit_b32.model, prompts, tokens, placeholder)
        expected_raw = official_pseudo_encoding(vit_b32.model, prompts, tokens, placeholder, normalize=False)
    ours = encode_with_pseudo_tokens(vit_b32, prompts, tokens, placeholder=placeholder)
    assert ours.shape == (len(prompts), vit_b32.embed_dim) and ours.dtype == torch.float32
    assert float((ours - expected).abs().max()) <= 1e-5
    raw = encode_with_pseudo_tokens(vit_b32, prompts, tokens, placeholder=placeholder, normalize=False)
    assert float((raw - expected_raw).abs().max()) <= 1e-5 * float(expected_raw.abs().max())
    # Batches trimmed to different lengths give the same rows.
    small_batches = encode_with_pseudo_tokens(vit_b32, prompts, tokens, placeholder=placeholder, batch_size=1)
    assert float((small_batches - expected).abs().max()) <= 1e-5


def test_placeholder_ids_are_looked_up():
    # OpenAI BPE: "*" and "$" surrounded by spaces are the single tokens 265 and 259.
    assert placeholder_id("*") == 265 and placeholder_id("$") == 259


def test_own_embedding_gives_encode_texts(vit_b32):
    prompts = STAR_PROMPTS[:3]
    own = vit_b32.model.token_embedding.weight[placeholder_id("*")].detach()
    tokens = own.expand(len(prompts), -1).clone()
    ours = encode_with_pseudo_tokens(vit_b32, prompts, tokens)
    assert float((ours - vit_b32.encode_texts(prompts)).abs().max()) <= 1e-5
    # A different token changes the features: the replacement is not a no-op.
    other = encode_with_pseudo_tokens(vit_b32, prompts, _tokens(len(prompts), vit_b32.token_width, seed=1))
    assert float((other - ours).abs().max()) > 1e-3


def test_gradients_reach_tokens(vit_b32):
    prompts = STAR_PROMPTS
    weights = torch.randn(len(prompts), vit_b32.embed_dim, generator=torch.Generator().manual_seed(2))
    ours_tokens = _tokens(len(prompts), vit_b32.token_width).requires_grad_(True)
    (encode_with_pseudo_tokens(vit_b32, prompts, ours_tokens) * weights).sum().backward()
    official_tokens = _tokens(len(prompts), vit_b32.token_width).requires_grad_(True)
    (official_pseudo_encoding(vit_b32.model, prompts, official_tokens, "*") * weights).sum().backward()
    ours_grad, official_grad = ours_tokens.grad, official_tokens.grad
    assert ours_grad is not None and (ours_grad.abs().sum(dim=1) > 0).all()  # every row gets a gradient
    assert float((ours_grad - official_grad).abs().max()) <= 1e-4 * float(official_grad.abs().max())
    vit_b32.model.zero_grad(set_to_none=True)  # both paths also reach CLIP's own (trainable) parameters
    # Without grad on the tokens no graph is built.
    assert not encode_with_pseudo_tokens(vit_b32, prompts[:1], _tokens(1, vit_b32.token_width)).requires_grad


def test_errors_name_the_prompt(tiny_backbone):
    width = tiny_backbone.token_width
    with pytest.raises(ConfigError, match=r"a photo of a red shape.*no placeholder"):
        encode_with_pseudo_tokens(tiny_backbone, ["a photo of * , red", "a photo of a red shape"], _tokens(2, width))
    long_prompt = "a photo of " + "very " * 80 + "* , red"
    with pytest.raises(ConfigError, match=r"composed prompt 0 .*cut off"):
        encode_with_pseudo_tokens(tiny_backbone, [long_prompt], _tokens(1, width))
    with pytest.raises(ConfigError, match=r"'a photo of \*, red'.*spaces around it"):
        encode_with_pseudo_tokens(tiny_backbone, ["a photo of *, red"], _tokens(1, width))
    with pytest.raises(ConfigError, match=r"'a photo of \$, red'.*spaces around it"):
        encode_with_pseudo_tokens(tiny_backbone, ["a photo of $, red"], _tokens(1, width), placeholder="$")


def test_wrong_tokens_are_refused(tiny_backbone):
    width = tiny_backbone.token_width
    prompts = ["a photo of * , red", "a photo of * , blue"]
    with pytest.raises(ConfigError, match=rf"shape \(2, {width + 1}\); expected \(2, {width}\)"):
        encode_with_pseudo_tokens(tiny_backbone, prompts, _tokens(2, width + 1))
    with pytest.raises(ConfigError, match=rf"shape \(1, {width}\); expected \(2, {width}\)"):
        encode_with_pseudo_tokens(tiny_backbone, prompts, _tokens(1, width))
    with pytest.raises(ConfigError, match="floating point"):
        encode_with_pseudo_tokens(tiny_backbone, prompts, torch.zeros(2, width, dtype=torch.long))
    with pytest.raises(ConfigError, match="NaN"):
        encode_with_pseudo_tokens(tiny_backbone, prompts, torch.full((2, width), float("nan")))
    with pytest.raises(ConfigError, match="one string"):
        encode_with_pseudo_tokens(tiny_backbone, "a photo of * , red", _tokens(1, width))
