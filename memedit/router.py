"""The scope classifier: is a query in scope of a stored edit?

Given a query and its nearest stored edits (cosine similarity of the query to
each edit's question part), decide which edits, if any, the query is about.
This is the calibrated-threshold classifier; the threshold and the number of
neighbours live in the store's config, so that ``memedit calibrate`` and
bundles carry them along.

The default threshold (0.66) is the balanced point of reliability,
generality and neighbourhood locality on CounterFact train with
all-MiniLM-L6-v2; ``examples/benchmarks/route_threshold.py`` reproduces it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memedit.edits import Edit
from memedit.errors import StoreError

DEFAULT_THRESHOLD = 0.66
DEFAULT_TOP_K = 5


@dataclass(frozen=True)
class RoutedEdit:
    """One stored edit near a query, with its similarity and the decision for it."""

    edit: Edit
    score: float
    in_scope: bool

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


class ScopeClassifier:
    """Cosine-threshold scope decision over the top-k nearest edits."""

    kind = "threshold"

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, top_k: int = DEFAULT_TOP_K) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise StoreError(
                f"Router threshold must be a cosine similarity in [-1, 1]; got {threshold}."
            )
        if not 1 <= top_k <= 100:
            raise StoreError(f"Router top_k must be between 1 and 100; got {top_k}.")
        self.threshold = float(threshold)
        self.top_k = int(top_k)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> ScopeClassifier:
        config = dict(config or {})
        kind = config.get("kind", cls.kind)
        if kind != cls.kind:
            raise StoreError(
                f"This memedit does not know router kind {kind!r}; upgrade memedit to use this store."
            )
        return cls(
            threshold=float(config.get("threshold", DEFAULT_THRESHOLD)),
            top_k=int(config.get("top_k", DEFAULT_TOP_K)),
        )

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "threshold": self.threshold, "top_k": self.top_k}

    def decide(
        self, query: str, candidates: Sequence[tuple[Edit, float]], threshold: float | None = None
    ) -> RouteResult:
        """Mark each candidate in or out of scope; candidates come best first."""
        cut = self.threshold if threshold is None else threshold
        routed = tuple(
            RoutedEdit(edit, float(score), float(score) >= cut) for edit, score in candidates
        )
        return RouteResult(
            query=query, in_scope=any(r.in_scope for r in routed), edits=routed, threshold=cut
        )
