"""The interface every edit-store backend implements.

Kept small on purpose: the embedded SQLite+FAISS backend implements it
today, and a shared PostgreSQL/pgvector backend can implement it later
without touching the rest of memedit. Conflict rules, deduplication and
embedding live above this line, in :class:`memedit.store.EditStore`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from memedit.edits import Edit, Status


@dataclass(frozen=True)
class SearchHit:
    """A live edit near a query vector: its cosine similarity and the stored vector that
    matched. That vector is the edit's own, or (``key`` set) that of an edit it superseded:
    an older phrasing of the same subject and relation still asks the live edit's question."""

    edit: Edit
    similarity: float
    vector: np.ndarray
    key: str | None = None  # the superseded edit's question part, when its vector matched
    relation: np.ndarray | None = None  # that question part's relation vector, when stored
    relation_similarity: float | None = None  # the query's to it (set by the store to route)

    @property
    def route_text(self) -> str:
        """The question part whose vector matched."""
        return self.edit.route_text if self.key is None else self.key


class StoreDump(NamedTuple):
    """Every edit of a store from one snapshot, with the vectors export writes."""

    edits: list[Edit]  # oldest first
    vectors: np.ndarray  # row i for edit i
    relations: np.ndarray | None  # relation vectors, row i for edit i; None unless all have one


class StoreTransaction(ABC):
    """Reads and writes inside one atomic transaction: all land, or none."""

    @abstractmethod
    def get_many(self, ids: Iterable[str]) -> dict[str, Edit]:
        """Edits by id, among those given."""

    @abstractmethod
    def by_content_hash(self, hashes: Iterable[str]) -> dict[str, Edit]:
        """Stored edits by content hash, among those given."""

    @abstractmethod
    def live_by_conflict_key(self, keys: Iterable[str]) -> dict[str, list[Edit]]:
        """Live edits grouped by conflict key (subject + relation), among those given."""

    @abstractmethod
    def superseded_by(self, edit_id: str) -> list[Edit]:
        """Edits that ``edit_id`` superseded."""

    @abstractmethod
    def insert(
        self, edits: Sequence[Edit], vectors: np.ndarray, relations: np.ndarray | None = None
    ) -> None:
        """Add edits with their vectors and relation vectors (row i belongs to edit i;
        :mod:`memedit.relation_vectors`), or without relation vectors."""

    @abstractmethod
    def set_status(self, edit_id: str, status: Status, superseded_by: str | None) -> None:
        """Mark an edit superseded by another, or live again (searchable from the next query)."""

    @abstractmethod
    def delete(self, ids: Iterable[str]) -> None:
        """Remove edits and their vectors."""

    @abstractmethod
    def set_config(self, updates: Mapping[str, Any]) -> None:
        """Update store config keys."""


class StoreBackend(ABC):
    """Where edits, their vectors and the store's config live."""

    location: str

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The store's config: embedder, dimension, router settings, format version."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """An exclusive write transaction; raises StoreLockedError if another writer holds the store too long."""

    @abstractmethod
    def get(self, edit_id: str) -> Edit | None:
        """One edit by its full id."""

    @abstractmethod
    def ids_with_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        """Edit ids that start with ``prefix`` (to resolve abbreviated ids)."""

    @abstractmethod
    def iter_edits(self, *, live_only: bool = False) -> Iterator[Edit]:
        """All edits, oldest first."""

    @abstractmethod
    def aliased(self) -> list[Edit]:
        """The live edits that carry aliases of their subject (``Edit.aliases``): the same
        list object until the store changes, so that callers can cache what they build
        from it."""

    @abstractmethod
    def count(self, *, live_only: bool = False) -> int:
        """How many edits are stored (or live)."""

    @abstractmethod
    def dump(self) -> StoreDump:
        """Every edit, oldest first, with its vector and relation vector (row i for edit i),
        from one consistent snapshot."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> list[list[SearchHit]]:
        """For each query vector, up to ``k`` distinct live edits with their similarity, best
        first. A live edit is found through its own vector or that of an edit it superseded
        (same subject and relation), whichever is nearer (``SearchHit.key``)."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Backend facts for ``memedit stats``: index kind, bytes on disk, ..."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and persist caches."""
