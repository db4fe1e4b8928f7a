"""The FAISS index over edit vectors: a cache, never the source of truth.

Ids in the index are the edits' ``seq`` numbers in SQLite: live edits, and superseded
ones (their vectors stand for the edits that replaced them). Edits removed since the
index was built stay in it as tombstones and are excluded at search time with an ID
selector; once they pile up the owner rebuilds the index from SQLite.

Index kind follows size, in this one place:
- below ``HNSW_MIN_VECTORS`` indexed edits, exact inner-product search (IndexFlatIP);
  its cost grows linearly with the store: about 1 ms for one query at 20k
  vectors on one core, under a tenth of the ~12 ms it takes to embed the query;
- from there on, HNSW (IndexHNSWFlat, M=32): under a millisecond whatever the
  size (0.5 ms at 100k, where exact search takes 7.6 ms), recall@1 about 0.98
  against exact search, at the price of a slower build (about 20 s for 100k on
  2 cores). ``examples/benchmarks/store_benchmark.py --kinds`` measures both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import faiss
import numpy as np

HNSW_MIN_VECTORS = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96
KINDS = ("flat", "hnsw")
SINGLE_THREAD_MAX_QUERIES = 16


def choose_kind(n_vectors: int, current: str | None = None) -> str:
    """Exact search while it is fast enough, HNSW beyond.

    An HNSW index stays HNSW until the store shrinks to 3/4 of the threshold,
    so that a store hovering around it is not rebuilt back and forth.
    """
    if current == "hnsw" and n_vectors >= HNSW_MIN_VECTORS * 3 // 4:
        return "hnsw"
    return "hnsw" if n_vectors >= HNSW_MIN_VECTORS else "flat"


class VectorIndex:
    """An id-mapped FAISS index with tombstones."""

    def __init__(self, dimension: int, kind: str, index: Any = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown index kind {kind!r}")
        self.dimension = dimension
        self.kind = kind
        if index is None:
            base: Any
            if kind == "flat":
                base = faiss.IndexFlatIP(dimension)
            else:
                base = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
                base.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index = faiss.IndexIDMap2(base)
        self._index = index
        self._dead: set[int] = set()
        self._params: Any = None

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def dead(self) -> frozenset[int]:
        return frozenset(self._dead)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )

    def retire(self, ids: list[int]) -> None:
        """Mark ids as tombstones: they stay in the index but are never returned."""
        fresh = set(ids) - self._dead
        if fresh:
            self._dead |= fresh
            self._params = None

    def _search_params(self) -> Any:
        if self._params is None:
            selector: Any = None
            if self._dead:
                batch = faiss.IDSelectorBatch(np.fromiter(self._dead, dtype=np.int64))
                selector = faiss.IDSelectorNot(batch)
                selector.referenced = batch  # keep the wrapped selector alive as long as ours
            if self.kind == "hnsw":
                self._params = faiss.SearchParametersHNSW(efSearch=HNSW_EF_SEARCH)  # type: ignore[attr-defined]
            else:
                self._params = faiss.SearchParameters()
            if selector is not None:
                self._params.sel = selector
                self._params.referenced = selector
        return self._params

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids, best first; ids of -1 mark empty slots."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        k = min(k, self.ntotal)
        if k <= 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        # A few queries search fastest on one thread; more importantly, FAISS's OpenMP
        # workers would otherwise spin after each search and slow the next query's
        # torch encoder (measured: embed + search 25 ms with 2 threads, 12 ms with 1).
        threads = faiss.omp_get_max_threads()
        if len(queries) <= SINGLE_THREAD_MAX_QUERIES:
            faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(queries, k, params=self._search_params())
        finally:
            faiss.omp_set_num_threads(threads)
        return scores, ids

    def save(self, path: Path) -> None:
        """Write atomically: a reader never sees half a file."""
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        faiss.write_index(self._index, str(tmp))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, dimension: int, kind: str, dead: list[int]) -> VectorIndex:
        """Read this store's own cache file (never a file from an imported bundle)."""
        index = faiss.read_index(str(path))
        if index.d != dimension:
            raise ValueError(f"cached index has dimension {index.d}, store has {dimension}")
        loaded = cls(dimension, kind, index)
        loaded.retire(dead)
        return loaded
