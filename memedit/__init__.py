"""memedit: edit what a Hugging Face language model knows, without touching its weights.

Edits live in an :class:`EditStore` (SQLite is the source of truth, FAISS a
rebuildable cache). Every query passes a scope classifier that finds the
nearest stored edits and decides whether the query is in scope of one.
"""

from memedit.edits import Edit, EditDraft
from memedit.errors import MemeditError
from memedit.router import (
    CosineScopeClassifier,
    LearntScopeClassifier,
    RoutedEdit,
    RouteResult,
    ScopeClassifier,
)
from memedit.store import AddResult, EditStore, ImportReport, StoreStats

__version__ = "0.1.0"

__all__ = [
    "AddResult",
    "CosineScopeClassifier",
    "Edit",
    "EditDraft",
    "EditStore",
    "ImportReport",
    "LearntScopeClassifier",
    "MemeditError",
    "RouteResult",
    "RoutedEdit",
    "ScopeClassifier",
    "StoreStats",
    "__version__",
]
