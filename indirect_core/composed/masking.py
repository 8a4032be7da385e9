"""LinCIR's keyword masking: which words of a caption become the pseudo word ``$`` that phi must fill.

As published (LinCIR's caption dataset): the caption is cleaned (lower case, ``$`` deleted, ``<PERSON>`` ->
``person``, at most 75 BPE tokens); runs of consecutive NOUN / PROPN / ADJ / DET tokens are the keywords; every
keyword is replaced through ``str.replace`` (so every occurrence, also inside longer words, in keyword order);
without keywords one random whitespace word is replaced; when no ``$`` survives tokenization and truncation the
text falls back to ``a photo of $`` (indicator 0).

The part-of-speech tags come from spaCy's ``en_core_web_sm`` when it is installed. Without it a rule-based
tagger stands in (a documented deviation): small closed-class word lists (determiners, adpositions, pronouns,
auxiliaries, conjunctions, particles, common adverbs, numbers), common verbs and ``-ing`` forms are VERB, and
every other word is a content word (NOUN), i.e. a keyword.
"""
from __future__ import annotations

import functools
import re
import warnings
from typing import Callable, Sequence

import numpy as np
import torch

from .._util.errors import ConfigError
from .tokens import CONTEXT_LENGTH, placeholder_id

MASK = "[$]"
"""How a masked span is written in a masked caption (LinCIR's added token); it becomes the ``$`` token."""
FALLBACK_TEXT = f"a photo of {MASK}"
"""The masked text used when no ``$`` survives tokenization (indicator 0)."""
CAPTION_TOKENS = 75
"""Longest cleaned caption in BPE tokens (77 minus the start and end tokens)."""
KEYWORD_POS = frozenset({"NOUN", "PROPN", "ADJ", "DET"})
"""Universal POS tags whose consecutive runs form the keywords."""
TAGGERS = ("auto", "spacy", "rules")

Tagged = list[tuple[str, str]]
"""One caption's tokens with their universal POS tags."""


@functools.lru_cache(maxsize=1)
def _bpe():
    """CLIP's BPE tokenizer (the vocabulary ``clip.tokenize`` uses), loaded once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from clip.simple_tokenizer import SimpleTokenizer
    return SimpleTokenizer()


def clean_caption(caption: str) -> str:
    """LinCIR's caption cleaning: lower case, ``$`` removed, ``<PERSON>`` -> ``person``, cut to 75 BPE tokens."""
    if not isinstance(caption, str):
        raise ConfigError(f"caption {caption!r} must be a string")
    text = re.sub(r"<person>", "person", caption.lower().replace("$", "")).strip()
    tokens = _bpe().encode(text)
    if len(tokens) > CAPTION_TOKENS:
        text = _bpe().decode(tokens[:CAPTION_TOKENS]).strip()
    return text


# ------------------------------------------------------------------------------------------ part-of-speech tags

_DETERMINERS = frozenset("a an the this these those some any each every no another all both either neither "
                         "few several".split())
_ADPOSITIONS = frozenset("of in on at by with from to for into onto over under above below near behind beside "
                         "besides between through across along around against among amongst during without "
                         "within inside outside up down off out about like toward towards upon after before via "
                         "past beneath underneath beyond throughout per than".split())
_PRONOUNS = frozenset("i me you he him she her it we us they them my your his its our their mine yours hers ours "
                      "theirs myself yourself himself herself itself ourselves themselves who whom whose what "
                      "which that someone somebody something everyone everybody everything anyone anybody "
                      "anything nobody nothing one".split())
_AUXILIARIES = frozenset("is are was were be been being am has have had having do does did can could will would "
                         "shall should may might must".split())
_CONJUNCTIONS = frozenset("and or but nor yet so plus".split())
_SUBORDINATORS = frozenset("while as because if when where whereas although though whether since until unless "
                           "once".split())
_PARTICLES = frozenset("not n't to".split())
_ADVERBS = frozenset("very too also just here there now then only really almost quite still together away back "
                     "again more most less least much rather slightly somewhat even well fully partly instead "
                     "how why".split())
_NUMBERS = frozenset("zero one two three four five six seven eight nine ten eleven twelve twenty hundred "
                     "thousand".split())
_VERBS = frozenset("sit sits sat stand stands stood hold holds held look looks looked walk walks ride rides rode "
                   "wear wears wore show shows play plays eat eats ate run runs ran fly flies lie lies lay lays "
                   "hang hangs make makes made take takes took get gets got go goes went come comes came watch "
                   "watches carry carries use uses seem seems appear appears contain contains cover covers "
                   "feature features pose poses wait waits rest rests stare stares smile smiles".split())
_ING_NOUNS = frozenset("building buildings clothing ceiling painting paintings morning evening thing things ring "
                       "rings king kings wing wings spring string strings wedding ceiling sibling siblings "
                       "pudding railing railings awning awnings setting lighting something nothing everything "
                       "anything".split())
_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*|'[^\W_]+|[^\w\s]|_")


def rule_pos(word: str) -> str:
    """The rule-based tagger's universal POS tag of one lower-case token."""
    if not any(c.isalnum() for c in word):
        return "PUNCT"
    if word.isdigit() or word in _NUMBERS:
        return "NUM"
    for tag, words in (("DET", _DETERMINERS), ("ADP", _ADPOSITIONS), ("PRON", _PRONOUNS),
                       ("AUX", _AUXILIARIES), ("CCONJ", _CONJUNCTIONS), ("SCONJ", _SUBORDINATORS),
                       ("PART", _PARTICLES), ("ADV", _ADVERBS), ("VERB", _VERBS)):
        if word in words:
            return tag
    if word.startswith("'"):
        return "PART"
    if len(word) >= 5 and word.endswith("ing") and word not in _ING_NOUNS:
        return "VERB"
    return "NOUN"


def rule_tagger(texts: Sequence[str]) -> list[Tagged]:
    """Rule-based POS tags (closed-class word lists, everything else a content word), for when spaCy is missing."""
    return [[(word, rule_pos(word)) for word in _WORD.findall(text.lower())] for text in texts]


def spacy_tagger(model: str = "en_core_web_sm") -> Callable[[Sequence[str]], list[Tagged]]:
    """spaCy's POS tags (as LinCIR uses); raises ConfigError when spaCy or the model is not installed."""
    try:
        import spacy
    except ImportError:
        raise ConfigError("tagger='spacy' needs spaCy: `pip install spacy` and its model (`python -m spacy "
                          f"download {model}`), or use tagger='rules'") from None
    try:
        nlp = spacy.load(model, exclude=["parser", "ner", "lemmatizer"])
    except OSError:
        raise ConfigError(f"spaCy is installed but its model {model!r} is not: `python -m spacy download "
                          f"{model}`, or use tagger='rules'") from None

    def tag(texts: Sequence[str]) -> list[Tagged]:
        return [[(token.text, token.pos_) for token in doc] for doc in nlp.pipe(list(texts), batch_size=256)]

    return tag


class TaggerFallbackWarning(UserWarning):
    """Issued once when keyword masking uses the rule-based tagger because spaCy's model is missing."""


_warned_fallback = False


def keyword_tagger(kind: str = "auto") -> tuple[Callable[[Sequence[str]], list[Tagged]], str]:
    """(tagger, the kind used): ``"spacy"``, ``"rules"``, or ``"auto"`` (spaCy if installed, else the rules with
    a warning once per process)."""
    global _warned_fallback
    if kind not in TAGGERS:
        raise ConfigError(f"tagger={kind!r} must be one of {list(TAGGERS)}")
    if kind == "rules":
        return rule_tagger, "rules"
    try:
        return spacy_tagger(), "spacy"
    except ConfigError as why:
        if kind == "spacy":
            raise
        if not _warned_fallback:
            _warned_fallback = True
            warnings.warn(f"LinCIR keyword masking: spaCy's en_core_web_sm is not available ({why}). Using the "
                          "rule-based tagger instead (closed-class word lists; see docs/PROTOCOL.md), which masks "
                          "somewhat different spans than the published setup", TaggerFallbackWarning, stacklevel=2)
        return rule_tagger, "rules"


# ------------------------------------------------------------------------------------------------- masking


def extract_keywords(tagged: Tagged) -> list[str]:
    """Runs of consecutive NOUN / PROPN / ADJ / DET tokens, each joined with single spaces, in caption order."""
    keywords, run = [], []
    for word, pos in list(tagged) + [("", "END")]:
        if pos in KEYWORD_POS:
            run.append(word)
        elif run:
            keywords.append(" ".join(run))
            run = []
    return keywords


def mask_caption(caption: str, keywords: Sequence[str], rng: np.random.Generator) -> str:
    """The caption with every keyword replaced by ``[$]`` (``str.replace``, in keyword order); without keywords,
    one random whitespace word drawn by ``rng``; an empty caption gives the fallback ``a photo of [$]``."""
    if keywords:
        for keyword in keywords:
            caption = caption.replace(keyword, MASK)
        return caption
    words = caption.split()
    if not words:
        return FALLBACK_TEXT
    words[int(rng.integers(len(words)))] = MASK
    return " ".join(words)


def masked_token_ids(masked_texts: Sequence[str], context_length: int = CONTEXT_LENGTH
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (n, context_length) of masked captions with the ``$`` id at every ``[$]``, and the indicator
    (n,) int64: 1, or 0 where no ``$`` survived truncation and the row is ``a photo of $``.

    Each text is split at ``[$]`` and the pieces are tokenized on their own (as an added special token is), so
    punctuation next to a mask never merges into it; rows longer than the context keep their first tokens and
    end with the end-of-text token, as ``clip.tokenize(truncate=True)``.
    """
    bpe = _bpe()
    start, end = bpe.encoder["<|startoftext|>"], bpe.encoder["<|endoftext|>"]
    mask_id = placeholder_id("$")

    def encode(text: str) -> list[int]:
        body: list[int] = []
        for number, piece in enumerate(text.split(MASK)):
            if number:
                body.append(mask_id)
            body.extend(bpe.encode(piece))
        row = [start] + body + [end]
        if len(row) > context_length:
            row = row[:context_length - 1] + [end]
        return row

    fallback = encode(FALLBACK_TEXT)
    ids = torch.zeros(len(masked_texts), context_length, dtype=torch.long)
    indicator = torch.ones(len(masked_texts), dtype=torch.long)
    for index, text in enumerate(masked_texts):
        row = encode(text)
        if mask_id not in row:
            row, indicator[index] = fallback, 0
        ids[index, :len(row)] = torch.tensor(row)
    return ids, indicator
