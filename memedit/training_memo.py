"""What router training computed, kept under the text it was computed from.

Router training spends most of its 40 minutes embedding: 120,000-odd queries, 360,000
(query, edit) pairs read through the embedder's first layer, and their relation cosines.
Whole-file caches serve a rerun with exactly the same queries, and nothing else: a new
shape of training question meant embedding everything again. The memo keeps each value
under its text (per table and embedder), so that a rerun computes only the texts it has
not seen.

On disk: one folder per table and embedder, holding ``.npz`` shards of plain arrays (the
keys as one UTF-8 blob split at NUL, and their values, one row each), never pickles. Each
run that computes something new adds a shard; nothing is rewritten.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from memedit.errors import MemeditError

SHARD_GLOB = "[0-9][0-9][0-9][0-9][0-9].npz"  # whole shards only, not one being written
SEPARATOR = "\x1f"  # between the parts of a composite key (query, edit text, subject)


def composite_key(*parts: str | None) -> str:
    """One key from several texts; None and "" stay apart."""
    return SEPARATOR.join("\x1e" if part is None else part for part in parts)


class TrainingMemo:
    """Values (vectors, readings, cosines) by text, for one embedder, under ``folder``."""

    def __init__(self, folder: Path, embedder_id: str) -> None:
        self.folder = Path(folder)
        self.embedder_id = embedder_id
        self._tables: dict[str, tuple[dict[str, tuple[int, int]], list[np.ndarray]]] = {}

    def _path(self, table: str) -> Path:
        digest = hashlib.sha256(f"{self.embedder_id}\n{table}".encode()).hexdigest()[:16]
        return self.folder / f"{table}.{digest}"

    def _table(self, table: str) -> tuple[dict[str, tuple[int, int]], list[np.ndarray]]:
        if table not in self._tables:
            where: dict[str, tuple[int, int]] = {}
            shards: list[np.ndarray] = []
            path = self._path(table)
            for shard in sorted(path.glob(SHARD_GLOB)) if path.is_dir() else ():
                try:
                    with np.load(shard, allow_pickle=False) as saved:
                        keys = bytes(saved["keys"]).decode("utf-8").split("\0")
                        values = np.asarray(saved["values"])
                except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
                    raise MemeditError(
                        f"{shard} is not a readable memo shard ({error}); delete it, and "
                        "training computes again what it held."
                    ) from error
                if len(keys) != len(values):
                    raise MemeditError(
                        f"{shard} holds {len(keys)} keys for {len(values)} values; delete it."
                    )
                for row, key in enumerate(keys):
                    where.setdefault(key, (len(shards), row))
                shards.append(values)
            self._tables[table] = (where, shards)
        return self._tables[table]

    def __contains__(self, item: tuple[str, str]) -> bool:
        table, key = item
        return key in self._table(table)[0]

    def missing(self, table: str, keys: Sequence[str]) -> list[int]:
        """The positions of ``keys`` the memo has no value for."""
        where = self._table(table)[0]
        return [i for i, key in enumerate(keys) if key not in where]

    def values(self, table: str, keys: Sequence[str]) -> np.ndarray:
        """The values of ``keys``, which must all be there, in their order."""
        where, shards = self._table(table)
        rows = [shards[s][r] for s, r in (where[key] for key in keys)]
        if not rows:
            raise ValueError("values() needs at least one key")
        return np.stack(rows)

    def remember(self, table: str, keys: Sequence[str], values: np.ndarray) -> None:
        """Keep the values of the keys not there yet, in a new shard."""
        if len(keys) != len(values):
            raise ValueError(f"{len(keys)} keys for {len(values)} values")
        where, shards = self._table(table)
        new = {}
        for i, key in enumerate(keys):
            if "\0" in key:
                raise ValueError("a memo key cannot hold a NUL character")
            if key not in where and key not in new:
                new[key] = i
        if not new:
            return
        kept = np.ascontiguousarray(values[list(new.values())])
        path = self._path(table)
        path.mkdir(parents=True, exist_ok=True)
        shard = path / f"{len(shards):05d}.npz"
        partial = path / f"{len(shards):05d}.partial.npz"
        blob = np.frombuffer("\0".join(new).encode("utf-8"), dtype=np.uint8)
        np.savez(partial, keys=blob, values=kept)
        os.replace(partial, shard)  # a shard is there whole or not at all
        for row, key in enumerate(new):
            where[key] = (len(shards), row)
        shards.append(kept)

    def computed(
        self,
        table: str,
        keys: Sequence[str],
        compute: Callable[[list[str]], np.ndarray],
        log: Callable[[str], None] = lambda _: None,
    ) -> np.ndarray:
        """The values of ``keys``: from the memo where it has them, from ``compute`` (called
        once, on the distinct keys it lacks) otherwise, which are then kept."""
        if not keys:
            return np.asarray(compute([]))
        lacking = list(dict.fromkeys(keys[i] for i in self.missing(table, keys)))
        if lacking:
            log(f"{table}: computing {len(lacking):,} of {len(set(keys)):,} texts not in the memo")
            self.remember(table, lacking, np.asarray(compute(lacking)))
        return self.values(table, keys)
