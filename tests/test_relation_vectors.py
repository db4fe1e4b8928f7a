"""Relation vectors: which tokens they pool, and that they tell relations apart where the
sentence embedding does not."""

from __future__ import annotations

import numpy as np
import pytest

from memedit.embedder import Embedder
from memedit.errors import EmbedderError
from memedit.relation_vectors import (
    pooled_tokens,
    relation_vector,
    subject_part,
    subject_spans,
    subject_window,
)


def _pooled_words(embedder: Embedder, text: str, subject: str, window: bool) -> list[str]:
    _, _, (offsets,) = embedder.encode_tokens([text])
    keep = pooled_tokens(text, offsets, subject, window=window)
    return [text[a:b] for (a, b), kept in zip(offsets, keep, strict=True) if kept]


def test_subject_spans_match_folded_words_and_inflections() -> None:
    text = "Where did Nestlé open its first iPhones store?"
    assert [text[a:b] for a, b in subject_spans(text, "Nestle")] == ["Nestlé"]
    assert [text[a:b] for a, b in subject_spans(text, "iPhone")] == ["iPhones"]
    assert subject_spans(text, None) == []


def test_subject_window_is_the_sentence_or_line_naming_the_subject() -> None:
    text = "SANA launched its website in 1997. The original language of Zampa is"
    low, high = subject_window(text, subject_spans(text, "Zampa"))
    assert text[low:high].strip() == "The original language of Zampa is"
    templated = "Answer briefly.\nQ: Where was Zampa made?\nA:"
    low, high = subject_window(templated, subject_spans(templated, "Zampa"))
    assert templated[low:high] == "Q: Where was Zampa made?"
    assert subject_window(text, []) == (0, len(text))


def test_subject_part_is_the_window_only_when_it_leaves_something_out() -> None:
    text = "SANA launched its website in 1997. The original language of Zampa is"
    assert subject_part(text, "Zampa") == "The original language of Zampa is"
    assert subject_part("User: Where was Zampa made?\nAssistant:", "Zampa") == (
        "User: Where was Zampa made?"
    )
    assert subject_part("The original language of Zampa is", "Zampa") is None  # all of it
    assert subject_part(text, "Toko Yasuda") is None  # not named
    assert subject_part(text, None) is None


def test_relation_vectors_pool_the_content_words_outside_the_subject(embedder: Embedder) -> None:
    query = "SANA launched its website in 1997. The original language of Zampa is"
    assert _pooled_words(embedder, query, "Zampa", window=True) == ["original", "language"]
    assert "launched" in _pooled_words(embedder, query, "Zampa", window=False)
    assert _pooled_words(embedder, "The father of Frodo Gardner is", "Frodo Gardner", False) == [
        "father"
    ]
    # nothing left but the subject and function words: the whole text, special tokens too
    assert _pooled_words(embedder, "Paris is", "Paris", False) == ["", "Paris", "is", ""]


def test_encode_tokens_gives_encodes_vectors_from_the_same_pass(embedder: Embedder) -> None:
    texts = ["Miles Millar attended", "The Eiffel Tower is located in the city of Paris."]
    vectors, states, offsets = embedder.encode_tokens(texts)
    assert np.allclose(vectors, embedder.encode(texts), atol=1e-5)
    assert [s.shape for s in states] == [(len(o), embedder.dimension) for o in offsets]
    assert offsets[0][0] == (0, 0) and texts[0][slice(*offsets[0][1])] == "Miles"


def test_relation_cosine_separates_relations_of_one_subject(embedder: Embedder) -> None:
    """Against "The language of Zampa is": a paraphrase behind an unrelated sentence is
    near, another relation of Zampa is far, though both sentence embeddings are close."""
    edit = "The language of Zampa is"
    paraphrase = "SANA launched its website in 1997. The original language of Zampa is"
    other = "The gender of Zampa is"
    vectors, states, offsets = embedder.encode_tokens([edit, paraphrase, other])
    rel = [
        relation_vector(text, s, o, "Zampa", window=i > 0)
        for i, (text, s, o) in enumerate(
            zip([edit, paraphrase, other], states, offsets, strict=True)
        )
    ]
    assert float(rel[0] @ rel[1]) > 0.7 > 0.3 > float(rel[0] @ rel[2])
    assert abs(float(vectors[0] @ vectors[2]) - float(vectors[0] @ vectors[1])) < 0.05


def test_encode_tokens_refuses_a_model_that_adds_a_prompt_to_what_it_encodes() -> None:
    """A sentence-transformers model with a default prompt encodes more tokens than the
    texts hold, so token states cannot be matched to the text's offsets: a clear error,
    never relation vectors pooled from the wrong tokens."""
    prompted = Embedder()
    prompted.model.prompts = {"query": "query: "}
    prompted.model.default_prompt_name = "query"
    with pytest.raises(EmbedderError, match="tokenises differently"):
        prompted.encode_tokens(["The language of Zampa is"])
    prompted.model.default_prompt_name = None
    _, (states,), (offsets,) = prompted.encode_tokens(["The language of Zampa is"])
    assert len(states) == len(offsets)
