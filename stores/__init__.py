"""Edit-store backends behind one small interface (:class:`StoreBackend`).

``open_backend`` is the factory: a folder path opens the embedded
SQLite+FAISS store; other backends (a shared PostgreSQL/pgvector store is
planned) will be chosen by URL scheme.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from memedit.errors import StoreError
from memedit.stores.base import SearchHit, StoreBackend, StoreTransaction
from memedit.stores.sqlite import SQLiteStore

__all__ = [
    "SQLiteStore",
    "SearchHit",
    "StoreBackend",
    "StoreTransaction",
    "open_backend",
    "store_exists",
]


def store_exists(location: str | Path) -> bool:
    """Whether a store is already at ``location`` (so that opening it creates nothing)."""
    return SQLiteStore.exists(location)


def open_backend(
    location: str | Path,
    *,
    create: bool = True,
    initial_config: Callable[[], Mapping[str, Any]] | None = None,
    lock_timeout: float = 5.0,
) -> StoreBackend:
    """Open the backend that serves ``location`` (a folder, for now).

    ``initial_config`` is called only when a new store is created, so that an
    embedder is loaded just to learn its dimension when it has to be.
    """
    text = str(location)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise StoreError(
            f"Store URLs ({scheme}://...) are not supported by this memedit yet; give a folder path."
        )
    return SQLiteStore(
        location, create=create, initial_config=initial_config, lock_timeout=lock_timeout
    )
