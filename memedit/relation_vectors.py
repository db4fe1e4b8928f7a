"""Relation vectors: what a text asks about its subject, with the subject left out.

A sentence embedding of "Miles Millar attended" is mostly about Miles Millar, so it is
near every edit on him, whatever the relation. The relation vector is the mean of the
encoder's last-layer token states over the text's *content* words outside the subject:
"attended" there, "educated" in "Miles Millar was educated at", each as read in its
sentence. Function words ("the", "of", "is", ...), punctuation and the special tokens are
left out too: in "The gender of X is" against "The occupation of X is" they would make two
relations look alike. A query is also cut to the sentence or line that names the subject,
so that an unrelated sentence before it ("SANA launched its website in 1997. The original
language of Zampa is") or a prompt template's words do not count.

Both sides come from passes the encoder makes anyway: an edit's at ingest, a query's when
it is embedded for the search (:meth:`memedit.embedder.Embedder.encode_tokens`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from memedit.words import ENGLISH_STOPWORDS, WORD, content_words, fold, same_word

if TYPE_CHECKING:
    from memedit.embedder import Embedder

# Names how relation vectors are pooled. Bundles carry it beside the vectors they export, and
# a store reuses a bundle's relation vectors only when it is this one: change it with any
# change to what the vectors hold (the words pooled, the window, the layer).
RECIPE = "memedit.relation_vectors/1"

FUNCTION_WORDS = ENGLISH_STOPWORDS | frozenset(
    [
        "are",
        "were",
        "be",
        "been",
        "by",
        "with",
        "as",
        "its",
        "his",
        "her",
        "their",
        "this",
        "that",
        "which",
        "who",
        "what",
        "whom",
        "whose",
        "where",
        "when",
        "how",
        "it",
    ]
)
_SEGMENT = re.compile(r"[^\n]+?(?:[.!?](?=\s)|$)", re.M)  # a sentence, never across lines

Span = tuple[int, int]


def subject_spans(text: str, subject: str | None) -> list[Span]:
    """Where ``text`` names the subject: the character spans of its words that are the
    subject's content words (folded; "iPhones" counts for "iPhone")."""
    content = content_words(subject) if subject else []
    if not content:
        return []
    spans = []
    for m in WORD.finditer(text):
        folded = fold(m.group())
        if any(same_word(folded, word) for word in content):
            spans.append(m.span())
    return spans


def subject_window(text: str, spans: Sequence[Span]) -> Span:
    """The stretch of ``text`` from the first to the last sentence (or line) that names the
    subject; all of it when ``spans`` is empty."""
    if not spans:
        return 0, len(text)
    naming = [
        m.span()
        for m in _SEGMENT.finditer(text)
        if any(m.start() <= a and b <= m.end() for a, b in spans)
    ]
    if not naming:
        return 0, len(text)
    return min(a for a, _ in naming), max(b for _, b in naming)


def subject_part(text: str, subject: str | None) -> str | None:
    """The part of ``text`` that names ``subject`` (:func:`subject_window`), when that is
    less than all of it: "Shree Pundalik, that was from" in "It is monotypic within the
    genus Kenopia. Shree Pundalik, that was from". None when the subject is not named, or
    named in every sentence."""
    spans = subject_spans(text, subject)
    if not spans:
        return None
    start, end = subject_window(text, spans)
    part = text[start:end].strip()
    return part if part and part != text.strip() else None


def pooled_tokens(
    text: str, offsets: Sequence[Span], subject: str | None, *, window: bool
) -> np.ndarray:
    """Which tokens (given by their character ``offsets`` in ``text``; (0, 0) for special
    tokens) a relation vector pools: those inside a content word outside the subject, and
    with ``window`` (queries) inside :func:`subject_window`. Where none is left ("Paris
    is"), all of them, so that the vector is the text's own."""
    spans = subject_spans(text, subject)
    low, high = subject_window(text, spans) if window else (0, len(text))
    words = np.array(
        [
            m.span()
            for m in WORD.finditer(text)
            if low <= m.start()
            and m.end() <= high
            and m.group().lower() not in FUNCTION_WORDS
            and not any(a <= m.start() and m.end() <= b for a, b in spans)
        ],
        dtype=np.int64,
    ).reshape(-1, 2)
    tokens = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    if len(words):
        word = np.searchsorted(words[:, 0], tokens[:, 0], side="right") - 1  # starts before
        keep = (
            (word >= 0)
            & (tokens[:, 1] > tokens[:, 0])
            & (tokens[:, 1] <= words[np.maximum(word, 0), 1])
        )
    else:
        keep = np.zeros(len(tokens), dtype=bool)
    return keep if keep.any() else np.ones(len(offsets), dtype=bool)


def relation_vector(
    text: str,
    states: np.ndarray,
    offsets: Sequence[Span],
    subject: str | None,
    *,
    window: bool = False,
) -> np.ndarray:
    """The unit-length mean of ``states`` (one row per token of ``text``) over
    :func:`pooled_tokens`."""
    keep = pooled_tokens(text, offsets, subject, window=window)
    mean = states[keep].mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).astype(np.float32)


def embed_with_relations(
    embedder: Embedder,
    texts: Sequence[str],
    subjects: Sequence[str | None],
    *,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Edit question parts embedded, and their relation vectors from the same pass."""
    vectors, states, offsets = embedder.encode_tokens(texts, progress=progress)
    relations = [
        relation_vector(text, state, offset, subject)
        for text, state, offset, subject in zip(texts, states, offsets, subjects, strict=True)
    ]
    return vectors, np.stack(relations) if relations else np.zeros_like(vectors)
