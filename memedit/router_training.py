"""Train the learnt router head from editing benchmarks.

The head (see :mod:`memedit.router`) scores (query, candidate edit) pairs.
Training pairs come from routing every benchmark query against a store-sized
index of all training edits, exactly as a store would at query time: each
query's nearest edits that pass the gate become pairs, labelled 1 when the
candidate is the query's own edit. Those neighbours are the hard negatives
(SERAC's recipe): paraphrases of other edits, same-relation neighbours,
same-subject questions on other relations. Each edit whose relation is known
also gets question forms (:mod:`memedit.question_forms`): questions on its
relation, some wrapped in a prompt template, as positives, and questions on
another relation of its subject as negatives, because people ask questions
where benchmarks state cloze prompts. The loss is balanced between the
two classes. The decision threshold is then chosen on the training queries to
maximise the worst of reliability, generality and every locality kind.

A stable 30% of KnowEdit records, chosen by a hash of their subject
(:func:`heldout_subject`), is never used, so that it can be reported on.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memedit.edits import build_edit
from memedit.embedder import Embedder
from memedit.evaluation import (
    QUESTION_KINDS,
    RoutingQuery,
    question_queries,
    routing_queries,
    valid_cases,
)
from memedit.formats import EditCase, read_cases
from memedit.router import DEFAULT_TOP_K, SCALARS, Mlp, RouterHead, exact_or, pair_features
from memedit.stores.base import SearchHit

PAIR_TEMPLATE = "{query} [SEP] {edit}"
GATE = 0.3
TOP_M = 3
BAND = (0.05, 0.98)  # fast scores in here get the second look
HOLDOUT_SHARE = 0.3
TRAIN_SOURCES = (
    ("counterfact/train.json", "counterfact"),
    ("knowedit/train_cf.json", "knowedit"),
    ("knowedit/recent_train.json", "knowedit"),
    ("zsre/zsre_mend_train-1k.json", "zsre"),
)
CALIBRATION_SHARE = 0.15  # of the training edits, kept aside to choose the threshold
GOAL_KINDS = (
    "reliability",
    "generality",
    "neighborhood",
    "relation_specificity",
    "unrelated",
    *QUESTION_KINDS,
)


def _bucket(subject: str | None, salt: str = "") -> float:
    digest = hashlib.sha256((salt + (subject or "")).casefold().encode("utf-8")).digest()
    return digest[0] / 256


def heldout_subject(subject: str | None) -> bool:
    """Whether a KnowEdit record (by subject) is held out from router training: a stable 30%."""
    return _bucket(subject) < HOLDOUT_SHARE


def calibration_subject(subject: str | None) -> bool:
    """Whether a training edit is kept aside to choose the threshold (another stable 15%)."""
    return _bucket(subject, "calibration:") < CALIBRATION_SHARE


def training_cases(data_root: Path) -> list[EditCase]:
    cases: list[EditCase] = []
    for relative, fmt in TRAIN_SOURCES:
        found = read_cases(data_root / relative, fmt)
        if fmt == "knowedit":
            found = [c for c in found if not heldout_subject(c.draft.subject)]
        cases += valid_cases(found)
    return cases


@dataclass
class PairData:
    features: (
        np.ndarray
    )  # (pairs, 3 * dimension + 4): pair embedding, query*edit, |query-edit|, scalars
    labels: np.ndarray  # (pairs,)
    pair_query: np.ndarray  # (pairs,) index of the query each pair belongs to
    pair_rank: np.ndarray  # (pairs,) rank of the candidate among the query's neighbours
    queries: list[RoutingQuery]
    own_rank: (
        np.ndarray
    )  # (queries,) rank of the query's own edit among its neighbours, -1 if absent


def build_pairs(
    cases: Sequence[EditCase],
    embedder: Embedder,
    *,
    top_k: int = DEFAULT_TOP_K,
    gate: float = GATE,
    top_m: int = TOP_M,
    queries: Sequence[RoutingQuery] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> PairData:
    """Route every query of ``cases`` (or the given ``queries`` about them) against an index of
    all their edits; make the head's pairs."""
    import faiss

    edits = [build_edit(c.draft) for c in cases]
    # one live edit per fact, as in a store: the last case with a subject+relation or text wins
    holder: dict[str, int] = {}
    for i, edit in enumerate(edits):
        holder[edit.content_hash] = i
        if edit.conflict_key:
            holder[edit.conflict_key] = i
    live = sorted({holder[e.conflict_key or e.content_hash] for e in edits})
    position = {case: n for n, case in enumerate(live)}
    owner = [position[holder[e.conflict_key or e.content_hash]] for e in edits]
    started = time.perf_counter()
    vectors = embedder.encode([edits[i].route_text for i in live], progress=True)
    log(f"embedded {len(live):,} edits in {time.perf_counter() - started:.0f}s")
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    prompts = {edits[i].prompt for i in live}
    if queries is None:
        queries = routing_queries(cases) + question_queries(cases)
    queries = [q for q in queries if q.case is not None or q.text not in prompts]
    started = time.perf_counter()
    query_vectors = embedder.encode([q.text for q in queries], progress=True)
    similarities, neighbours = index.search(query_vectors, top_k)
    log(f"embedded and searched {len(queries):,} queries in {time.perf_counter() - started:.0f}s")
    candidates = [
        [
            SearchHit(edits[live[j]], float(s), vectors[j])
            for s, j in zip(srow, nrow, strict=True)
            if j >= 0
        ]
        for srow, nrow in zip(similarities, neighbours, strict=True)
    ]
    pair_index, texts, others = pair_features(
        PAIR_TEMPLATE, [q.text for q in queries], query_vectors, candidates, gate, top_m
    )
    started = time.perf_counter()
    pair_vectors = embedder.encode(texts, progress=True)
    log(f"embedded {len(texts):,} pairs in {time.perf_counter() - started:.0f}s")
    own = np.array([owner[q.case] if q.case is not None else -1 for q in queries])
    labels = np.array([neighbours[qi, ci] == own[qi] for qi, ci in pair_index], dtype=np.float32)
    own_rank = np.array(
        [
            int(np.where(neighbours[i] == own[i])[0][0])
            if own[i] >= 0 and (neighbours[i] == own[i]).any()
            else -1
            for i in range(len(queries))
        ]
    )
    return PairData(
        features=np.concatenate([pair_vectors, others], axis=1).astype(np.float32),
        labels=labels,
        pair_query=np.array([qi for qi, _ in pair_index]),
        pair_rank=np.array([ci for _, ci in pair_index]),
        queries=queries,
        own_rank=own_rank,
    )


def fit_mlp(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    hidden: int = 256,
    epochs: int = 40,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-2,
    seed: int = 0,
) -> tuple[Mlp, list[float]]:
    """An MLP trained with a class-balanced logistic loss (mini-batch AdamW)."""
    import torch

    torch.manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(features))
    y = torch.from_numpy(labels)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
    )
    positives = float(y.sum())
    pos_weight = torch.tensor([(len(y) - positives) / max(positives, 1.0)])
    optimizer = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        total = 0.0
        for start in range(0, len(y), 1024):
            batch = order[start : start + 1024]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                net(x[batch])[:, 0], y[batch], pos_weight=pos_weight
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / len(y))
    first, second = net[0], net[2]
    assert isinstance(first, torch.nn.Linear) and isinstance(second, torch.nn.Linear)
    mlp = Mlp(
        first.weight.detach().numpy().T.copy(),
        first.bias.detach().numpy().copy(),
        second.weight.detach().numpy()[0].copy(),
        float(second.bias.detach()[0]),
    )
    return mlp, losses


def tiered_scores(head: RouterHead, data: PairData) -> np.ndarray:
    """The scores the router computes at query time, from precomputed pair features."""
    dimension = (data.features.shape[1] - SCALARS) // 3
    similarity = data.features[:, -SCALARS]
    scores = exact_or(similarity, head.fast.probabilities(data.features[:, dimension:]))
    second = head.unsure(scores)
    if second.any():
        scores[second] = exact_or(
            similarity[second], head.full.probabilities(data.features[second])
        )
    return scores


def subset(data: PairData, keep_queries: np.ndarray) -> PairData:
    """The pairs of the queries where ``keep_queries`` is true (query indices renumbered)."""
    kept = np.flatnonzero(keep_queries)
    renumber = -np.ones(len(data.queries), dtype=int)
    renumber[kept] = np.arange(len(kept))
    pairs = keep_queries[data.pair_query]
    return PairData(
        features=data.features[pairs],
        labels=data.labels[pairs],
        pair_query=renumber[data.pair_query[pairs]],
        pair_rank=data.pair_rank[pairs],
        queries=[data.queries[i] for i in kept],
        own_rank=data.own_rank[kept],
    )


def save_pairs(data: PairData, path: Path) -> None:
    """Cache pairs: embedding them is most of the training time."""
    np.savez_compressed(
        path,
        features=data.features,
        labels=data.labels,
        pair_query=data.pair_query,
        pair_rank=data.pair_rank,
        own_rank=data.own_rank,
        query_text=np.array([q.text for q in data.queries]),
        query_case=np.array([-1 if q.case is None else q.case for q in data.queries]),
        query_kind=np.array([q.kind for q in data.queries]),
    )


def load_pairs(path: Path) -> PairData:
    raw = np.load(path)
    queries = [
        RoutingQuery(str(text), None if int(case) < 0 else int(case), str(kind))
        for text, case, kind in zip(
            raw["query_text"], raw["query_case"], raw["query_kind"], strict=True
        )
    ]
    return PairData(
        raw["features"],
        raw["labels"],
        raw["pair_query"],
        raw["pair_rank"],
        queries,
        raw["own_rank"],
    )


def query_scores(data: PairData, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query: the best candidate's probability (0 with none) and whether it is the own edit."""
    best = np.zeros(len(data.queries))
    right = np.zeros(len(data.queries), dtype=bool)
    for p, qi, label in zip(probabilities, data.pair_query, data.labels, strict=True):
        if p > best[qi]:
            best[qi] = p
            right[qi] = bool(label)
    return best, right


def rates_at(data: PairData, best: np.ndarray, right: np.ndarray, cut: float) -> dict[str, float]:
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for qi, query in enumerate(data.queries):
        in_scope = best[qi] >= cut
        by_kind[query.kind].append(
            in_scope and right[qi] if query.case is not None else not in_scope
        )
    return {kind: float(np.mean(v)) for kind, v in by_kind.items()}


def choose_threshold(
    data: PairData, best: np.ndarray, right: np.ndarray
) -> tuple[float, dict[str, float]]:
    """The threshold that maximises the worst goal metric on the training queries."""
    chosen, chosen_rates, chosen_worst = 0.5, {}, -1.0
    for cut in np.round(np.arange(0.05, 0.96, 0.01), 2):
        rates = rates_at(data, best, right, float(cut))
        worst = min(rates[k] for k in GOAL_KINDS if k in rates)
        if worst > chosen_worst:
            chosen, chosen_rates, chosen_worst = float(cut), rates, worst
    return chosen, chosen_rates


def train_router(
    data_root: Path,
    output: Path,
    embedder: Embedder,
    *,
    log: Callable[[str], None] = lambda _: None,
    epochs: int = 40,
    hidden: int = 512,
    weight_decay: float = 1e-2,
    seed: int = 0,
    cache: Path | None = None,
) -> tuple[RouterHead, dict[str, Any]]:
    """Build pairs from the training splits, fit the head on 85% of the edits, choose its
    threshold on the other 15%, and save it to ``output``."""
    cases = training_cases(data_root)
    log(f"{len(cases):,} training edits from {', '.join(r for r, _ in TRAIN_SOURCES)}")
    if cache is not None and cache.is_file():
        data = load_pairs(cache)
        log(f"pairs read from {cache}")
    else:
        data = build_pairs(cases, embedder, log=log)
        if cache is not None:
            save_pairs(data, cache)
    log(f"{len(data.labels):,} pairs, {int(data.labels.sum()):,} positive")
    aside = np.array(
        [
            calibration_subject(cases[q.case].draft.subject if q.case is not None else q.text)
            for q in data.queries
        ]
    )
    fitting, calibration = subset(data, ~aside), subset(data, aside)
    dimension = (data.features.shape[1] - SCALARS) // 3
    started = time.perf_counter()
    fast, fast_losses = fit_mlp(
        fitting.features[:, dimension:],
        fitting.labels,
        hidden=hidden,
        epochs=epochs,
        weight_decay=weight_decay,
        seed=seed,
    )
    full, full_losses = fit_mlp(
        fitting.features,
        fitting.labels,
        hidden=hidden,
        epochs=epochs,
        weight_decay=weight_decay,
        seed=seed,
    )
    log(
        f"fitted both tiers in {time.perf_counter() - started:.0f}s; loss fast {fast_losses[-1]:.4f}, "
        f"full {full_losses[-1]:.4f}"
    )
    head = RouterHead(embedder.id, fast, full, BAND, GATE, TOP_M, 0.5, PAIR_TEMPLATE, {})
    best, right = query_scores(calibration, tiered_scores(head, calibration))
    threshold, rates = choose_threshold(calibration, best, right)
    log(f"threshold {threshold:.2f} on {len(calibration.queries):,} calibration queries: {rates}")
    reachable = {
        kind: float(
            np.mean(
                [
                    0 <= data.own_rank[i] < TOP_M
                    for i, q in enumerate(data.queries)
                    if q.kind == kind
                ]
            )
        )
        for kind in ("reliability", "generality", "portability")
        if any(q.kind == kind for q in data.queries)
    }
    info = {
        "trained_on": [r for r, _ in TRAIN_SOURCES],
        "knowedit_heldout": f"records whose subject's sha256 first byte / 256 < {HOLDOUT_SHARE} are held out",
        "edits": len(cases),
        "pairs": len(data.labels),
        "positives": int(data.labels.sum()),
        "epochs": epochs,
        "hidden": hidden,
        "weight_decay": weight_decay,
        "seed": seed,
        "final_loss": {"fast": fast_losses[-1], "full": full_losses[-1]},
        "calibration_queries": len(calibration.queries),
        "calibration_rates_at_threshold": rates,
        "own_edit_within_top_m": reachable,
    }
    head = RouterHead(embedder.id, fast, full, BAND, GATE, TOP_M, threshold, PAIR_TEMPLATE, info)
    head.save(output)
    return head, info
