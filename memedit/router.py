"""The scope classifier: is a query in scope of a stored edit, and which one?

Routing starts the same way for every classifier: the query is embedded and
the ``top_k`` nearest live edits are found by cosine similarity to each
edit's question part. The classifier then decides, per candidate:

``learnt`` (the default for all-MiniLM-L6-v2 stores)
    A small head trained on editing benchmarks (``memedit/data/router_head.*``,
    made by ``examples/train_router.py``), in two tiers. The fast tier scores
    each candidate above a similarity gate from what routing already has: the
    query and edit vectors (elementwise product and difference), the
    similarity, the evidence that the query names the edit's subject, the
    relation cosine (the query's relation vector against the edit's,
    :mod:`memedit.relation_vectors`; not for a head trained with
    ``--no-relation-feature``), and whether it is the nearest candidate. When a
    candidate's score is unsure, the
    second look re-reads the query together with that edit: the pair "query [SEP]
    edit question" goes through the first layers of the same encoder
    (``pair_layers`` in the head's JSON: the first of MiniLM's 6, mean-pooled; a
    fifth to a quarter of the cost of embedding the query, in bfloat16 where the device
    computes it natively) and the full tier scores it with that reading added to the fast
    features. A query's unsure candidates are read one at a time, best fast score
    (after the relation evidence) first, until one is in scope; the rest stay out of
    scope (a query is about one fact), so a paraphrase among its subject's other edits
    costs one pair, not three.
    The shallow reading was chosen by measurement: on training edits held
    aside it did better than the whole encoder's (docs/scope-classifier-history.md has both). This is what tells a
    paraphrase ("Toko Yasuda is incredible at") from a neighbour that shares the
    relation but not the subject ("John Lennon performs on the") and from a
    question on the same subject but another relation ("The gender of Jallal is"
    against an edit on Jallal's birthplace). A head trained with
    ``--cross-encoder`` also carries a cross-encoder (the same transformer with
    its top layers fine-tuned, :class:`CrossTier`); the one pass then gives both
    readings, and the second look's score is their weighted mean (measured, not
    shipped: see docs/scope-classifier-history.md). Scores are probabilities; the threshold was chosen on
    training data held aside (``threshold`` in the head's JSON). Before either tier, five
    rules (:func:`ruled_out`) give a score of 0 to a candidate whose question the query
    asks with its verb in the other voice ("X is followed by" against "X follows"), about
    other kin of the subject (a father against a child), about the other side of its
    doctoral supervision (an advisor against a student), about its award nominations
    against its awards won, or for a time or an amount that the edit's answer is not
    ("When was Mozart born?" against "born in Vienna"); two (:func:`ruled_in`) give a
    score of 1 to one that the query asks about the same kin, or the same side of a
    doctoral supervision, and nothing else.

``learnt-fast``
    The fast tier alone, with its own threshold (``band_choice.fast_only_threshold``
    in the head's JSON): one encoder call per query, always, for less accuracy
    (the README's routing table has both).

``threshold``
    Cosine similarity against a calibrated threshold (0.66 for MiniLM: the
    balanced point on CounterFact train, ``examples/benchmarks/route_threshold.py``).
    Used for stores built with other embedders, for which no head is trained.

Settings live in the store's config, so ``memedit calibrate`` and bundles carry them.
``$MEMEDIT_ROUTER_HEAD`` names a folder with another head (what ``train_router.py
--output`` writes) to use instead of the shipped one, read when the first store routes.
"""

from __future__ import annotations

import json
import os
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from memedit.answer_type import other_answer
from memedit.edits import Edit
from memedit.errors import StoreError
from memedit.kinship import other_kin, same_kin
from memedit.mentorship import other_side, same_side
from memedit.nomination import nominated_or_won
from memedit.stores.base import SearchHit
from memedit.verb_voice import turned_around
from memedit.words import WORD, content_words, fold, has_word, same_word, words_of

DEFAULT_THRESHOLD = 0.66  # cosine, for the "threshold" classifier
DEFAULT_TOP_K = 5
# How a candidate's score was reached: the cosine itself (threshold router); below the gate
# or past the first top_m candidates, so out of scope without a look; the fast tier alone;
# the second look; unsure, but left unread because a better candidate was in scope first
# (its fast score, capped below the threshold); ruled out, out of scope without a look
# (router.ruled_out): a verb of the edit's question in the other voice, other kin, the other
# side of a doctoral supervision, a nomination against an award won, a question for a time or
# an amount that the edit's answer is not; ruled in, in scope without a look (router.ruled_in):
# the same kin, the same side of a doctoral supervision; in
# scope of a part of the query, routed again by EditStore.route_many: the sentences that name
# the subject, the last clause, the query with an alias of the subject replaced by it, a
# follow-up's question with its pronoun resolved.
BASES = (
    "similarity",
    "gated",
    "fast",
    "second look",
    "unread",
    "turned around",
    "other kin",
    "advisor or student",
    "nominated or won",
    "other answer",
    "same kin",
    "same side",
    "subject window",
    "question part",
    "alias",
    "follow-up",
)
EXACT_SIMILARITY = 0.98  # the edit's own question, up to case and punctuation
SCALAR_NAMES = ("similarity", "subject_evidence", "name_evidence", "is_nearest")
SCALARS = len(SCALAR_NAMES)  # the last feature columns, similarity first
# A head may also read the relation cosine (the query's relation vector against the edit's),
# in the column just before the scalars: it then lists this name before SCALAR_NAMES.
RELATION_FEATURE = "relation_similarity"
HEAD_DIR = Path(__file__).resolve().parent / "data"
HEAD_NAME = "router_head"
HEAD_ENV = "MEMEDIT_ROUTER_HEAD"  # a folder holding another head to route with
CROSS_PREFIX = "cross.layer."  # safetensors keys of the cross-encoder's fine-tuned parameters

Candidates = Sequence[SearchHit]


class Encoder(Protocol):
    id: str

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...

    def encode_with_top(
        self,
        key: str,
        weights: Mapping[str, np.ndarray],
        texts: Sequence[str],
        *,
        max_length: int = 128,
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def encode_layers(self, texts: Sequence[str], layers: int) -> np.ndarray: ...


@dataclass(frozen=True)
class RoutedEdit:
    """One stored edit near a query: the classifier's ``score`` for it (a cosine
    similarity or a probability), the decision, the raw cosine ``similarity``, the
    ``basis`` of the score (see ``BASES``), and ``via``: the question part of an edit it
    superseded, when that is what the query matched (None: the edit's own)."""

    edit: Edit
    score: float
    in_scope: bool
    similarity: float | None = None
    basis: str | None = None
    via: str | None = None

    @property
    def id(self) -> str:
        return self.edit.id

    @property
    def text(self) -> str:
        return self.edit.text

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.edit.id,
            "text": self.edit.text,
            "score": round(self.score, 6),
            "in_scope": self.in_scope,
            "similarity": round(self.score if self.similarity is None else self.similarity, 6),
            "basis": self.basis,
            "via": self.via,
            "subject": self.edit.subject,
            "target": self.edit.target,
        }


@dataclass(frozen=True)
class RouteResult:
    """Where a query goes: ``in_scope`` says whether any edit covers it;
    ``edits`` are the nearest live edits, best first, each marked in or out of scope."""

    query: str
    in_scope: bool
    edits: tuple[RoutedEdit, ...]
    threshold: float

    @property
    def matched(self) -> tuple[RoutedEdit, ...]:
        """Only the edits the query is in scope of."""
        return tuple(e for e in self.edits if e.in_scope)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "in_scope": self.in_scope,
            "threshold": self.threshold,
            "edits": [e.to_dict() for e in self.edits],
        }


class ScopeClassifier(ABC):
    """Decides, for each query and its nearest edits, which edits it is in scope of."""

    kind: ClassVar[str]
    threshold_dependent: ClassVar[bool] = False  # whether scores depend on the cut (see tops)
    reads_relations = False  # whether it wants hits' relation_similarity set (see scored_hits)

    def __init__(self, threshold: float, top_k: int = DEFAULT_TOP_K) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise StoreError(f"Router threshold must be in [-1, 1]; got {threshold}.")
        if not 1 <= top_k <= 100:
            raise StoreError(f"Router top_k must be between 1 and 100; got {top_k}.")
        self.threshold = float(threshold)
        self.top_k = int(top_k)

    @abstractmethod
    def scores(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        candidates: Sequence[Candidates],
        encoder: Encoder,
        threshold: float | None = None,
    ) -> list[list[float]]:
        """One score per candidate (higher: more likely in scope), for every query.
        ``threshold`` is the cut the scores will be compared with (the classifier's own
        when None); the learnt classifier stops its second look by it."""

    def decide(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        candidates: Sequence[Candidates],
        encoder: Encoder,
        threshold: float | None = None,
    ) -> list[RouteResult]:
        """Route a batch: the candidates of each query, best score first, marked in or out of scope."""
        cut = self.threshold if threshold is None else float(threshold)
        all_scores, all_bases = self.scored(queries, query_vectors, candidates, encoder, cut)
        results = []
        for query, found, scores, bases in zip(
            queries, candidates, all_scores, all_bases, strict=True
        ):
            routed = sorted(
                (
                    RoutedEdit(
                        hit.edit, float(score), float(score) >= cut, hit.similarity, basis, hit.key
                    )
                    for hit, score, basis in zip(found, scores, bases, strict=True)
                ),
                key=lambda r: r.score,
                reverse=True,
            )
            results.append(RouteResult(query, any(r.in_scope for r in routed), tuple(routed), cut))
        return results

    def scored(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        candidates: Sequence[Candidates],
        encoder: Encoder,
        threshold: float | None = None,
    ) -> tuple[list[list[float]], list[list[str]]]:
        """:meth:`scores`, with the basis of each (one of ``BASES``)."""
        scores = self.scores(queries, query_vectors, candidates, encoder, threshold)
        return scores, [["similarity"] * len(row) for row in scores]

    def tops(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        candidates: Sequence[Candidates],
        encoder: Encoder,
        cuts: Sequence[float],
    ) -> np.ndarray:
        """For each cut, each query's best candidate as :meth:`decide` at that cut ranks them:
        an array (cuts, queries, 2) of (its position among the query's candidates, -1 when it
        has none; its score). What calibration sweeps, without routing once per cut."""
        dense = _dense(self.scores(queries, query_vectors, candidates, encoder), candidates)
        best = _best_of(dense)
        return np.broadcast_to(best, (len(cuts), *best.shape)).copy()

    def scored_hits(self, hits: Candidates) -> list[int]:
        """The positions of the hits that get a score of their own (the others are gated)."""
        return list(range(len(hits)))

    def to_config(self) -> dict[str, Any]:
        """The settings a store saves."""
        return {"kind": self.kind, "threshold": self.threshold, "top_k": self.top_k}

    def in_effect(self) -> dict[str, Any]:
        """The settings routing uses, to show: :meth:`to_config` with the threshold always."""
        return {**self.to_config(), "threshold": self.threshold}

    def updated(
        self, *, threshold: float | None = None, top_k: int | None = None
    ) -> ScopeClassifier:
        config = self.to_config()
        if threshold is not None:
            config["threshold"] = threshold
        if top_k is not None:
            config["top_k"] = top_k
        return classifier_from_config(config)


class CosineScopeClassifier(ScopeClassifier):
    """In scope when the cosine similarity reaches the threshold."""

    kind = "threshold"

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, top_k: int = DEFAULT_TOP_K) -> None:
        super().__init__(threshold, top_k)

    def scores(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        candidates: Sequence[Candidates],
        encoder: Encoder,
        threshold: float | None = None,
    ) -> list[list[float]]:
        return [[hit.similarity for hit in found] for found in candidates]


def _dense(scores: Sequence[Sequence[float]], candidates: Sequence[Candidates]) -> np.ndarray:
    """Scores as a (queries, most candidates) array, -inf where a query has fewer."""
    width = max((len(found) for found in candidates), default=0)
    dense = np.full((len(candidates), max(width, 1)), -np.inf)
    for qi, row in enumerate(scores):
        dense[qi, : len(row)] = row
    return dense


def _best_of(dense: np.ndarray) -> np.ndarray:
    """Each row's first highest score and its position (-1 for a row of -inf): (rows, 2)."""
    position = np.argmax(dense, axis=1)
    score = dense[np.arange(len(dense)), position]
    return np.stack([np.where(np.isfinite(score), position, -1), score], axis=1)


# -- the learnt classifier ----------------------------------------------------------------------


def subject_evidence(query: str, subject: str | None) -> float:
    """The share of the subject's content words that the query contains (0 without a subject)."""
    content = content_words(subject) if subject else []
    if not content:
        return 0.0
    present = set(words_of(query))
    return sum(has_word(w, present) for w in content) / len(content)


_NAME_SUFFIXES = frozenset(["jr", "sr", "ii", "iii", "iv"])


def last_name_word(subject: str | None) -> str | None:
    """The subject's last content word, the one people keep when they shorten a name
    ("Mozart" for "Wolfgang Amadeus Mozart", "King" for "Martin Luther King Jr.")."""
    content = content_words(subject) if subject else []
    named = [w for w in content if w not in _NAME_SUFFIXES] or content
    return named[-1] if named else None


def name_evidence(query: str, subject: str | None) -> float:
    """1 when the query names the subject's :func:`last_name_word`, and not after a
    capitalised word the subject lacks ("Venus Williams" does not name Serena Williams;
    a query's first word does not count, it is capitalised anyway), else 0."""
    word = last_name_word(subject)
    if word is None or subject is None:
        return 0.0
    known = set(words_of(subject))
    tokens = WORD.findall(unicodedata.normalize("NFKC", query))
    folded = [fold(t) for t in tokens]
    for i, token in enumerate(folded):
        if not same_word(word, token):
            continue
        before = tokens[i - 1] if i > 1 else ""
        if before[:1].isupper() and folded[i - 1] not in known:
            continue  # another first name
        return 1.0
    return 0.0


def scalar_features(query: str, subject: str | None, similarity: float, rank: int) -> np.ndarray:
    """The head's scalar features for one candidate (``rank`` 0: the nearest), in
    ``SCALAR_NAMES`` order."""
    return np.array(
        [
            similarity,
            subject_evidence(query, subject),
            name_evidence(query, subject),
            1.0 if rank == 0 else 0.0,
        ],
        dtype=np.float32,
    )


@dataclass(frozen=True)
class Mlp:
    """One hidden ReLU layer to one logit.

    It runs in torch, not numpy: numpy's BLAS keeps its own worker threads
    spinning after each product, and on a small machine they took the cores
    from the query encoder that runs next (route latency was 2.5 times worse).
    Torch shares one thread pool with the encoder."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float

    @cached_property
    def _tensors(self) -> tuple[Any, Any, Any]:
        import torch

        return (
            torch.from_numpy(np.ascontiguousarray(self.w1, dtype=np.float32)),
            torch.from_numpy(np.ascontiguousarray(self.b1, dtype=np.float32)),
            torch.from_numpy(np.ascontiguousarray(self.w2, dtype=np.float32)),
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        import torch

        w1, b1, w2 = self._tensors
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
            logits = torch.relu(x @ w1 + b1) @ w2 + float(self.b2)
            return torch.sigmoid(logits).numpy().astype(np.float64)


@dataclass(frozen=True)
class CrossTier:
    """The cross-encoder in the second look: the embedder's transformer with the
    parameters in ``layers`` (its top layers) fine-tuned on (query, edit) pairs; its
    mean-pooled output and the ``SCALAR_NAMES`` go through ``mlp``. Only the fine-tuned
    layers ship; the layers below are the embedder's own and run once for both readings
    (:meth:`memedit.embedder.Embedder.encode_with_top`)."""

    layers: Mapping[str, np.ndarray]
    mlp: Mlp
    weight: float  # of the second look's score; the full tier has the rest
    max_length: int = 128

    @cached_property
    def key(self) -> str:
        """Names these weights, so that an embedder builds its copy of the top layers once."""
        import hashlib

        digest = hashlib.sha256()
        for name in sorted(self.layers):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(self.layers[name], dtype=np.float32).tobytes())
        return "router-cross-" + digest.hexdigest()[:16]


@dataclass(frozen=True)
class RelationEvidence:
    """How the relation cosine (the query's relation vector against the edit's:
    :mod:`memedit.relation_vectors`) moves a score: its logit falls by ``fall`` x (``low`` -
    cosine) below ``low``, and rises by ``rise`` x (cosine - ``high``) above ``high`` where
    the query names the edit's subject (evidence ``named`` or more). The head tells the
    benchmarks' relations apart better than the cosine does, but not relations it never
    saw; the cosine does both fairly, so it only acts where it is clear."""

    fall: float
    low: float
    rise: float
    high: float
    named: float

    def shift(self, cosine: np.ndarray, named: np.ndarray) -> np.ndarray:
        """Logit shifts, one per candidate (none where ``cosine`` is NaN: not known)."""
        known = np.nan_to_num(cosine, nan=(self.low + self.high) / 2)
        down = np.where(known < self.low, -self.fall * (self.low - known), 0.0)
        clear = (known > self.high) & (named >= self.named)
        up = np.where(clear, self.rise * (known - self.high), 0.0)
        return down + up

    def shift_pairs(self, cosine: np.ndarray, scalars: np.ndarray) -> np.ndarray:
        """:meth:`shift` for candidates given by their scalar features (``SCALAR_NAMES``, one
        row each): the query names the subject by either evidence, and a query that is the
        edit's own question is never moved."""
        shift = self.shift(cosine, scalars[:, 1:3].max(axis=1))
        shift[scalars[:, 0] >= EXACT_SIMILARITY] = 0.0
        return shift

    def to_json(self) -> dict[str, float]:
        return {
            "fall": self.fall,
            "low": self.low,
            "rise": self.rise,
            "high": self.high,
            "named": self.named,
        }


def shifted(probabilities: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Probabilities with their logits moved by ``shift`` (unchanged where it is 0)."""
    p = np.clip(probabilities, 1e-7, 1 - 1e-7)
    moved = 1.0 / (1.0 + np.exp(-(np.log(p / (1 - p)) + shift)))
    return np.where(shift == 0, probabilities, moved)


@dataclass(frozen=True)
class RouterHead:
    """The trained head, in two tiers.

    ``fast`` scores every gated candidate from what routing already has — the
    query and edit vectors (elementwise product and difference), and the
    ``SCALAR_NAMES``. Only a candidate whose fast score falls
    inside ``band`` gets the second look: the pair "query [SEP] edit question"
    is read through the encoder's first ``pair_layers`` layers (all of them when
    None) and ``full`` (the same features plus that reading), averaged with
    ``cross`` when the head has one, decides. Clear cases cost one encoder call;
    unsure ones one more, shallower call.
    """

    embedder: str
    fast: Mlp
    full: Mlp
    band: tuple[float, float]
    gate: float  # candidates below this cosine similarity are out of scope without a look
    top_m: int  # at most this many candidates per query are scored
    threshold: float
    pair_template: str
    info: dict[str, Any]
    cross: CrossTier | None = None
    pair_layers: int | None = None  # layers the second look reads pairs through; None: all
    relation: RelationEvidence | None = None  # how relation cosines move scores; None: unread
    relation_feature: bool = False  # the relation cosine is a feature, before the scalars

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature columns after the vectors: saved as ``scalars``, checked on load."""
        return ((RELATION_FEATURE,) if self.relation_feature else ()) + SCALAR_NAMES

    @property
    def reads_relations(self) -> bool:
        """Whether routing with this head needs relation cosines (as a feature or evidence)."""
        return self.relation_feature or self.relation is not None

    def __post_init__(self) -> None:
        if self.cross is not None and self.pair_layers is not None:
            raise StoreError(
                "A router head with a cross-encoder reads pairs through all layers, so it "
                "cannot also set pair_layers; retrain it with examples/train_router.py."
            )

    def second_look(
        self, encoder: Encoder, texts: Sequence[str], features: np.ndarray
    ) -> np.ndarray:
        """The second look's probabilities for pairs (``texts``, with their fast ``features``)."""
        if self.cross is None:
            crossed = None
            if self.pair_layers is None:
                pairs = encoder.encode(texts)
            else:
                pairs = encoder.encode_layers(texts, self.pair_layers)
        else:
            pairs, crossed = encoder.encode_with_top(
                self.cross.key, self.cross.layers, texts, max_length=self.cross.max_length
            )
        full = self.full.probabilities(np.concatenate([pairs, features], axis=1))
        if self.cross is None or crossed is None:
            return full
        cross = self.cross.mlp.probabilities(
            np.concatenate([crossed, features[:, -SCALARS:]], axis=1)
        )
        return self.cross.weight * cross + (1.0 - self.cross.weight) * full

    def save(self, directory: Path, name: str = HEAD_NAME) -> None:
        from safetensors.numpy import save_file

        directory.mkdir(parents=True, exist_ok=True)
        tensors = {}
        tiers = [("fast", self.fast), ("full", self.full)]
        if self.cross is not None:
            tiers.append(("cross", self.cross.mlp))
            for layer, value in self.cross.layers.items():
                tensors[f"{CROSS_PREFIX}{layer}"] = np.asarray(value).astype(np.float16)
        for tier, mlp in tiers:
            tensors[f"{tier}.w1"] = mlp.w1.astype(np.float16)
            tensors[f"{tier}.b1"] = mlp.b1.astype(np.float16)
            tensors[f"{tier}.w2"] = mlp.w2.astype(np.float16)
            tensors[f"{tier}.b2"] = np.array([mlp.b2], dtype=np.float32)
        save_file(tensors, str(directory / f"{name}.safetensors"))
        meta = {
            "embedder": self.embedder,
            "band": list(self.band),
            "gate": self.gate,
            "top_m": self.top_m,
            "threshold": self.threshold,
            "pair_template": self.pair_template,
            "scalars": list(self.feature_names),
            "info": self.info,
        }
        if self.cross is not None:
            meta["cross"] = {"weight": self.cross.weight, "max_length": self.cross.max_length}
        if self.pair_layers is not None:
            meta["pair_layers"] = self.pair_layers
        if self.relation is not None:
            meta["relation_evidence"] = self.relation.to_json()
        (directory / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path = HEAD_DIR, name: str = HEAD_NAME) -> RouterHead:
        from safetensors.numpy import load_file

        tensors = load_file(str(directory / f"{name}.safetensors"))
        meta = json.loads((directory / f"{name}.json").read_text())
        names = tuple(meta.get("scalars", ()))
        if names not in (SCALAR_NAMES, (RELATION_FEATURE, *SCALAR_NAMES)):
            raise StoreError(
                f"The router head in {directory} was trained on features {meta.get('scalars')}, "
                f"but this memedit computes {list(SCALAR_NAMES)} (and, before them, "
                f"{RELATION_FEATURE!r}); retrain it with examples/train_router.py."
            )

        def mlp(tier: str) -> Mlp:
            return Mlp(
                tensors[f"{tier}.w1"].astype(np.float32),
                tensors[f"{tier}.b1"].astype(np.float32),
                tensors[f"{tier}.w2"].astype(np.float32),
                float(tensors[f"{tier}.b2"][0]),
            )

        cross = None
        if "cross" in meta:
            layers = {
                key[len(CROSS_PREFIX) :]: value.astype(np.float32)
                for key, value in tensors.items()
                if key.startswith(CROSS_PREFIX)
            }
            cross = CrossTier(
                layers,
                mlp("cross"),
                float(meta["cross"]["weight"]),
                int(meta["cross"].get("max_length", 128)),
            )
        low, high = meta["band"]
        return cls(
            embedder=str(meta["embedder"]),
            fast=mlp("fast"),
            full=mlp("full"),
            band=(float(low), float(high)),
            gate=float(meta["gate"]),
            top_m=int(meta["top_m"]),
            threshold=float(meta["threshold"]),
            pair_template=str(meta["pair_template"]),
            info=dict(meta.get("info", {})),
            cross=cross,
            pair_layers=None if meta.get("pair_layers") is None else int(meta["pair_layers"]),
            relation=(
                RelationEvidence(**{k: float(v) for k, v in meta["relation_evidence"].items()})
                if meta.get("relation_evidence")
                else None
            ),
            relation_feature=names[0] == RELATION_FEATURE,
        )

    @property
    def fast_threshold(self) -> float:
        """The threshold for the fast tier alone, chosen in training (the tiered one if absent)."""
        return float(self.info.get("band_choice", {}).get("fast_only_threshold", self.threshold))

    def unsure(self, fast: np.ndarray) -> np.ndarray:
        low, high = self.band
        return (fast >= low) & (fast <= high)


def exact_or(similarity: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """A query that is the edit's own question is always in scope."""
    return np.where(similarity >= EXACT_SIMILARITY, 1.0, probabilities)


def _head_override() -> Path | None:
    """The folder ``$MEMEDIT_ROUTER_HEAD`` names, if it is set."""
    override = os.environ.get(HEAD_ENV)
    return Path(override).expanduser() if override else None


def uses_relation_vectors(embedder_id: str) -> bool:
    """Whether stores with this embedder keep relation vectors and route with them: the
    learnt router's head reads them and was trained for it."""
    head = shipped_head()
    return head is not None and head.reads_relations and head.embedder == embedder_id


@cache
def shipped_head() -> RouterHead | None:
    """The head the learnt router uses: the one in ``$MEMEDIT_ROUTER_HEAD`` when that is set
    (to try a retrained head without reinstalling), else the one that ships with memedit, or
    None when that is missing. Read once per process."""
    directory = _head_override()
    if directory is not None:
        missing = [
            f"{HEAD_NAME}.{ext}"
            for ext in ("safetensors", "json")
            if not (directory / f"{HEAD_NAME}.{ext}").is_file()
        ]
        if missing:
            raise StoreError(
                f"${HEAD_ENV} is {str(directory)!r}, which has no {' or '.join(missing)}; point "
                "it at a folder examples/train_router.py --output wrote, or unset it."
            )
        try:
            return RouterHead.load(directory)
        except StoreError:
            raise
        except Exception as exc:  # a damaged JSON or safetensors file: the user's folder
            raise StoreError(
                f"${HEAD_ENV} is {str(directory)!r}, whose head cannot be read "
                f"({type(exc).__name__}: {exc}); retrain it with examples/train_router.py "
                "--output, or unset it."
            ) from None
    if not (HEAD_DIR / f"{HEAD_NAME}.safetensors").is_file():
        return None
    return RouterHead.load()


def head_origin() -> str:
    """Where learnt routers get their head, to show it: ``$MEMEDIT_ROUTER_HEAD``'s folder, or
    "shipped"."""
    directory = _head_override()
    return "shipped" if directory is None else str(directory)


def ruled_out(query: str, hit: SearchHit) -> str | None:
    """The rule by which ``query`` asks another relation than ``hit``'s edit (its basis), or
    None: a verb of the edit's question in the other voice, the subject in its place
    (:mod:`memedit.verb_voice`); other kin of the subject (:mod:`memedit.kinship`); the
    other side of its doctoral supervision (:mod:`memedit.mentorship`); its award
    nominations against its awards won (:mod:`memedit.nomination`); a time or an amount,
    where the edit's answer is neither (:mod:`memedit.answer_type`). Embeddings and the head
    read such queries as nearly the edit's question ("X is followed by" against "X follows"
    at cosine 0.99). The edit's own question is never ruled out: the first four rules cannot
    fire on it, and the last is not asked where the query is the edit's question (cosine
    ``EXACT_SIMILARITY`` or more), whatever its answer."""
    subject = hit.edit.subject
    if turned_around(query, hit.route_text, subject):
        return "turned around"
    if other_kin(query, hit.route_text, subject):
        return "other kin"
    if other_side(query, hit.route_text, subject):
        return "advisor or student"
    if nominated_or_won(query, hit.route_text, subject):
        return "nominated or won"
    if hit.similarity < EXACT_SIMILARITY and other_answer(query, hit.edit.target):
        return "other answer"
    return None


def ruled_in(query: str, hit: SearchHit) -> str | None:
    """The rule by which ``query`` asks ``hit``'s edit's question (its basis), or None: the
    same kin of the subject, and only that (:func:`memedit.kinship.same_kin`), or the same
    side of its doctoral supervision (:func:`memedit.mentorship.same_side`). The head,
    trained to keep a subject's other kin out, scored "One child of X is" 0.02 against "The
    child of X is"; the words for kin and for supervision say which relation is asked. On
    the training and validation splits neither rule fires on a query that should stay out
    of scope; a query that is about the edit's kin ("Where was X's father born?") is in
    scope, as KnowEdit's portability prompts are."""
    subject = hit.edit.subject
    if same_kin(query, hit.route_text, subject):
        return "same kin"
    if same_side(query, hit.route_text, subject):
        return "same side"
    return None


def pair_text(template: str, query: str, question: str) -> str:
    """What the second look reads: the query and the edit's question part (the one whose
    vector matched: see :attr:`memedit.stores.base.SearchHit.key`)."""
    return template.replace("{query}", query).replace("{edit}", question)


def gated(hits: Candidates, gate: float, top_m: int) -> list[int]:
    """The positions of the hits the learnt head scores: the nearest ``top_m`` whose
    similarity reaches ``gate``."""
    return [i for i, hit in enumerate(hits[:top_m]) if hit.similarity >= gate]


def pair_features(
    head_template: str,
    queries: Sequence[str],
    query_vectors: np.ndarray,
    candidates: Sequence[Candidates],
    gate: float,
    top_m: int,
    relation: bool = False,
) -> tuple[list[tuple[int, int]], list[str], np.ndarray]:
    """Which (query, candidate) pairs get scored, their pair texts, and their other features:
    query * edit and |query - edit| (elementwise), with ``relation`` the candidate's relation
    cosine (0 where it is not known), then the scalars (``SCALAR_NAMES``)."""
    index: list[tuple[int, int]] = []
    texts: list[str] = []
    rows: list[np.ndarray] = []
    for qi, (query, found) in enumerate(zip(queries, candidates, strict=True)):
        for ci in gated(found, gate, top_m):
            hit = found[ci]
            scalars = scalar_features(query, hit.edit.subject, hit.similarity, ci)
            q, e = query_vectors[qi], hit.vector
            index.append((qi, ci))
            texts.append(pair_text(head_template, query, hit.route_text))
            cosine = [hit.relation_similarity or 0.0] if relation else []
            rows.append(np.concatenate([q * e, np.abs(q - e), cosine, scalars]))
    width = 2 * query_vectors.shape[1] + int(relation) + SCALARS
    return index, texts, np.asarray(rows, dtype=np.float32).reshape(-1, width)


class LearntScopeClassifier(ScopeClassifier):
    """The trained head (see the module docstring); scores are probabilities."""

    kind = "learnt"
    second_look: ClassVar[bool] = True  # whether unsure candidates get the full tier
    threshold_dependent = True  # the second look stops at the first candidate in scope

    def __init__(
        self,
        threshold: float | None = None,
        top_k: int = DEFAULT_TOP_K,
        head: RouterHead | None = None,
    ) -> None:
        head = head or shipped_head()
        if head is None:
            raise StoreError("This memedit has no trained router head; use the 'threshold' router.")
        self.head = head
        self.reads_relations = head.reads_relations
        self.threshold_given = threshold is not None  # else the head's, which may change
        if threshold is None:
            threshold = head.threshold if self.second_look else head.fast_threshold
        super().__init__(threshold, top_k)

    def to_config(self) -> dict[str, Any]:
        """The threshold is saved only when it was set (``calibrate``, ``--threshold``): a
        store on the head's own threshold follows a retrained head's."""
        config = super().to_config()
        if not self.threshold_given:
            del config["threshold"]
        return config

    def scored_hits(self, hits: Candidates) -> list[int]:
        """The hits :func:`pair_features` scores (:func:`gated`)."""
        return gated(hits, self.head.gate, self.head.top_m)

    def in_effect(self) -> dict[str, Any]:
        """Also whether the threshold was set (else it is the head's) and which head is used."""
        return {**super().in_effect(), "threshold_set": self.threshold_given, "head": head_origin()}

    def scores(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        candidates: Sequence[Candidates],
        encoder: Encoder,
        threshold: float | None = None,
    ) -> list[list[float]]:
        return self.scored(queries, query_vectors, candidates, encoder, threshold)[0]

    def scored(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        candidates: Sequence[Candidates],
        encoder: Encoder,
        threshold: float | None = None,
    ) -> tuple[list[list[float]], list[list[str]]]:
        out = [[0.0] * len(found) for found in candidates]
        bases = [["gated"] * len(found) for found in candidates]
        index, texts, others, fast, shift, rules = self._first_look(
            queries, query_vectors, candidates, encoder
        )
        scores = shifted(fast, shift)
        basis = [rule or "fast" for rule in rules]
        if index and self.second_look:
            cut = self.threshold if threshold is None else float(threshold)
            looks = self._look_again(encoder, texts, others, index, fast, scores, shift, rules, cut)
            for n, read in looks.items():
                basis[n] = "second look" if read else "unread"
        for (qi, ci), score, how in zip(index, scores, basis, strict=True):
            out[qi][ci] = float(score)
            bases[qi][ci] = how
        return out, bases

    def _look_again(
        self,
        encoder: Encoder,
        texts: Sequence[str],
        others: np.ndarray,
        index: Sequence[tuple[int, int]],
        fast: np.ndarray,
        scores: np.ndarray,
        shift: np.ndarray,
        rules: Sequence[str | None],
        cut: float,
    ) -> dict[int, bool]:
        """The second look, in place on ``scores``: each query's unsure candidates are read
        one at a time, best first, until one is in scope (``cut``). The rest stay
        unread and out of scope (their fast score, capped below the cut): a query is about
        one fact, and a query with an edit's paraphrase and that subject's other edits as
        candidates then costs one pair, not three. Each round reads one pair of every
        query still unsure in one encoder call. On the held-out sets it decides as
        reading every unsure pair at once did, to within a query or two per set. Which
        candidates are unsure follows the ``fast`` scores, their order ``scores``: those
        with the relation evidence's ``shift``, as the second look's are. Returns the
        unsure candidates, each with whether it was read."""
        queue = self._queues(fast, scores, index, rules)
        first = scores.copy()
        below = float(np.nextafter(cut, -np.inf))
        similarity = others[:, -SCALARS]
        read: dict[int, bool] = {}
        while queue:
            batch = [waiting.pop(0) for waiting in queue.values()]
            looked = self.head.second_look(encoder, [texts[n] for n in batch], others[batch])
            scores[batch] = shifted(exact_or(similarity[batch], looked), shift[batch])
            for n in batch:
                read[n] = True
                query = index[n][0]
                if scores[n] >= cut or not queue[query]:
                    for unread in queue.pop(query):
                        scores[unread] = min(first[unread], below)
                        read[unread] = False
        return read

    def _queues(
        self,
        fast: np.ndarray,
        first: np.ndarray,
        index: Sequence[tuple[int, int]],
        rules: Sequence[str | None],
    ) -> dict[int, list[int]]:
        """Each query's unsure candidates (by their ``fast`` scores; positions in it; never
        one of ``rules`` has ruled out or in, :func:`ruled_out`, :func:`ruled_in`), in the
        order they are read: best ``first`` score (the fast one after the relation evidence,
        the best guess before reading) first."""
        queue: dict[int, list[int]] = {}
        ruled = np.array([rule is not None for rule in rules], dtype=bool)
        unsure = np.flatnonzero(self.head.unsure(fast) & ~ruled)
        for n in sorted(unsure.tolist(), key=lambda n: (-first[n], n)):
            queue.setdefault(index[n][0], []).append(n)
        return queue

    def tops(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        candidates: Sequence[Candidates],
        encoder: Encoder,
        cuts: Sequence[float],
    ) -> np.ndarray:
        """As the base class, with every unsure candidate read once, and the one-at-a-time
        look (where it stops, what stays unread) worked out for each cut from those readings."""
        if not self.second_look:
            return super().tops(queries, query_vectors, candidates, encoder, cuts)
        index, texts, others, fast, shift, rules = self._first_look(
            queries, query_vectors, candidates, encoder
        )
        dense = _dense([[0.0] * len(found) for found in candidates], candidates)
        similarity = others[:, -SCALARS]
        first = shifted(fast, shift)
        read = first.copy()
        queues = self._queues(fast, first, index, rules)
        unsure = [n for waiting in queues.values() for n in waiting]
        if unsure:
            looked = self.head.second_look(encoder, [texts[n] for n in unsure], others[unsure])
            read[unsure] = shifted(exact_or(similarity[unsure], looked), shift[unsure])
        order = np.full((len(queues), max(map(len, queues.values()), default=1)), -1)
        for row, waiting in enumerate(queues.values()):
            order[row, : len(waiting)] = waiting
        present = order >= 0
        rows = np.array([qi for qi, _ in index], dtype=int)
        cols = np.array([ci for _, ci in index], dtype=int)
        out = np.empty((len(cuts), len(candidates), 2))
        for k, cut in enumerate(cuts):
            scores = read.copy()
            passed = present & (read[order] >= cut)
            after = np.cumsum(passed, axis=1) - passed > 0  # read after the first in scope
            unread = order[after & present]
            scores[unread] = np.minimum(first[unread], np.nextafter(cut, -np.inf))
            dense[rows, cols] = scores
            out[k] = _best_of(dense)
        return out

    def _first_look(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        candidates: Sequence[Candidates],
        encoder: Encoder,
    ) -> tuple[
        list[tuple[int, int]], list[str], np.ndarray, np.ndarray, np.ndarray, list[str | None]
    ]:
        """The gated candidates (query, candidate) positions, their pair texts and features,
        the fast tier's scores of them, the relation evidence's logit shift for each (0
        without it, and for a query that is the edit's own question), and the rule that
        takes each out of scope (:func:`ruled_out`; its fast score is then 0) or puts it in
        scope (:func:`ruled_in`; 1), or None."""
        if encoder.id != self.head.embedder:
            raise StoreError(
                f"The learnt router was trained for {self.head.embedder!r}, not {encoder.id!r}; "
                "use the 'threshold' router for this store."
            )
        index, texts, others = pair_features(
            self.head.pair_template,
            queries,
            query_vectors,
            candidates,
            self.head.gate,
            self.head.top_m,
            self.head.relation_feature,
        )
        similarity = others[:, -SCALARS]
        fast = exact_or(similarity, self.head.fast.probabilities(others))
        shift = np.zeros(len(index))
        if self.head.relation is not None and index:
            cosine = np.array(
                [candidates[qi][ci].relation_similarity for qi, ci in index], dtype=float
            )  # None (not given) becomes NaN: no shift
            shift = self.head.relation.shift_pairs(cosine, others[:, -SCALARS:])
        rules: list[str | None] = []
        for n, (qi, ci) in enumerate(index):
            rule = ruled_out(queries[qi], candidates[qi][ci])
            if rule is not None:
                fast[n], shift[n] = 0.0, 0.0  # a score of 0 (no shift moves it)
            else:
                rule = ruled_in(queries[qi], candidates[qi][ci])
                if rule is not None:
                    fast[n], shift[n] = 1.0, 0.0
            rules.append(rule)
        return index, texts, others, fast, shift, rules


class FastLearntScopeClassifier(LearntScopeClassifier):
    """The learnt head's fast tier alone: never a second encoder call (see the module docstring)."""

    kind = "learnt-fast"
    second_look = False
    threshold_dependent = False


_KINDS: dict[str, type[ScopeClassifier]] = {
    "threshold": CosineScopeClassifier,
    "learnt": LearntScopeClassifier,
    "learnt-fast": FastLearntScopeClassifier,
}
KINDS = tuple(_KINDS)


def classifier_from_config(config: Mapping[str, Any] | None) -> ScopeClassifier:
    """The classifier a store's config describes (the cosine threshold when none is set)."""
    config = dict(config or {})
    kind = config.get("kind", CosineScopeClassifier.kind)
    if kind not in _KINDS:
        raise StoreError(
            f"This memedit does not know router kind {kind!r}; upgrade memedit to use this store."
        )
    top_k = int(config.get("top_k", DEFAULT_TOP_K))
    learnt = _KINDS[kind]
    if issubclass(learnt, LearntScopeClassifier):
        threshold = config.get("threshold")
        return learnt(None if threshold is None else float(threshold), top_k)
    return CosineScopeClassifier(float(config.get("threshold", DEFAULT_THRESHOLD)), top_k)


def default_classifier(embedder_id: str) -> ScopeClassifier:
    """The learnt router when a head was trained for this embedder, the cosine threshold otherwise."""
    head = shipped_head()
    if head is not None and head.embedder == embedder_id:
        return LearntScopeClassifier(head=head)
    return CosineScopeClassifier()
