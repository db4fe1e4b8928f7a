"""The embedded backend: a folder with SQLite (the truth) and a FAISS index (a cache).

Layout of a store folder::

    memedit.db      edits, their vectors and relation vectors (float32 blobs), config; WAL mode
    index-*.faiss   FAISS index over live and superseded edit vectors (rebuildable cache)
    index.json      which index file is current, and what it was built from:
                    embedder, generation, last seq, tombstones

Every write transaction bumps ``generation`` in the config table. A reader
whose index is older pulls only what changed (new rows by ``seq``, retired
edits from the ``retired`` log), so routing never re-reads the whole store;
when the cache is missing, corrupt, built by another embedder or full of
tombstones it is rebuilt from SQLite.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from memedit.edits import Edit, Status, conflict_key
from memedit.errors import NotAStoreError, StoreError, StoreLockedError
from memedit.stores.base import SearchHit, StoreBackend, StoreDump, StoreTransaction
from memedit.stores.faiss_index import VectorIndex, choose_kind

DB_NAME = "memedit.db"
INDEX_META_NAME = "index.json"
STORE_FORMAT_VERSION = 1
MAX_SUCCESSION = 64  # superseded-by links followed to find a live edit
INDEX_FORMAT_VERSION = 2  # 2: superseded edits are indexed too (as keys of their successor)
# Persist the index cache when this many vectors were added since it was last written.
PERSIST_EVERY = 1024
_CHUNK = 500

migrations = Migrations("memedit")


@migrations()
def m001_create_tables(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE edits (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            text TEXT NOT NULL,
            subject TEXT,
            prompt TEXT,
            target TEXT,
            relation TEXT,
            derived INTEGER NOT NULL DEFAULT 0,
            created TEXT NOT NULL,
            source TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL DEFAULT 'live' CHECK (status IN ('live', 'superseded')),
            superseded_by TEXT,
            content_hash TEXT NOT NULL UNIQUE,
            conflict_key TEXT
        )
        """
    )
    db.execute("CREATE INDEX edits_conflict_key ON edits (conflict_key) WHERE status = 'live'")
    db.execute("CREATE INDEX edits_superseded_by ON edits (superseded_by)")
    db.execute("CREATE TABLE embeddings (seq INTEGER PRIMARY KEY, vector BLOB NOT NULL)")
    db.execute("CREATE TABLE retired (id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL)")
    db.table("config").create({"key": str, "value": str}, pk="key")


def _recompute_conflict_keys(db: Database) -> None:
    """Store each edit's conflict key as this memedit computes it."""
    rows = db.execute("SELECT seq, subject, prompt, relation, conflict_key FROM edits").fetchall()
    for seq, subject, prompt, relation, stored in rows:
        key = conflict_key(subject, prompt, relation)
        if key != stored:
            db.execute("UPDATE edits SET conflict_key = ? WHERE seq = ?", [key, seq])


@migrations()
def m002_conflict_keys_by_known_relation(db: Database) -> None:
    """Conflict keys name the relation :mod:`memedit.question_forms` reads in a prompt, not the
    prompt's wording ("X is in" and "X is located in" are one relation): recompute stored keys.
    Edits left live on one key stay live; the next edit on that key settles them."""
    _recompute_conflict_keys(db)


@migrations()
def m003_conflict_keys_read_from_word_starts(db: Database) -> None:
    """Relation patterns match from the start of a word ("X studied at" had read as a place of
    death, so that an edit on where X died superseded one on where X studied) and know more
    phrasings: recompute stored keys, and make an edit superseded by one on another subject
    or relation live again (the supersession was the old patterns' mistake). Edits left live
    on one key stay live; the next edit on that key settles them."""
    _rekey_and_revive(db)


def _rekey_and_revive(db: Database) -> None:
    """Recompute stored conflict keys, and make an edit superseded by one on another key live
    again (the old keys' mistake). Edits left live on one key stay live; the next edit on
    that key settles them."""
    _recompute_conflict_keys(db)
    db.execute(
        """
        UPDATE edits SET status = 'live', superseded_by = NULL
        WHERE status = 'superseded' AND NOT EXISTS (
            SELECT 1 FROM edits newer
            WHERE newer.id = edits.superseded_by AND newer.conflict_key = edits.conflict_key
        )
        """
    )


# The thresholds of the router heads earlier memedits shipped, which stores saved as if set.
FORMER_HEAD_THRESHOLDS = {"learnt": (0.35, 0.52, 0.45, 0.38, 0.48), "learnt-fast": (0.7, 0.67)}


def without_former_default(router: dict[str, Any]) -> dict[str, Any]:
    """Router settings without a learnt router's threshold when it equals one an earlier head
    shipped with: older memedits saved that default as if it had been set, so a retrained
    head kept the old one's threshold. Without it, the settings follow the head."""
    former = FORMER_HEAD_THRESHOLDS.get(router.get("kind", ""), ())
    threshold = router.get("threshold")
    if threshold is None or not any(abs(float(threshold) - t) < 1e-9 for t in former):
        return router
    return {k: v for k, v in router.items() if k != "threshold"}


@migrations()
def m004_learnt_router_follows_its_heads_threshold(db: Database) -> None:
    """Drop a saved learnt-router threshold that is an earlier head's default
    (:func:`without_former_default`); a calibrated one is kept unless it happens to equal one."""
    if "config" not in db.table_names():
        return
    row = db.execute("SELECT value FROM config WHERE key = 'router'").fetchone()
    if row is None:
        return
    router = json.loads(row[0])
    settled = without_former_default(router)
    if settled != router:
        db.execute("UPDATE config SET value = ? WHERE key = 'router'", [json.dumps(settled)])


@migrations()
def m005_relation_vectors(db: Database) -> None:
    """Each stored vector gets a relation vector beside it (:mod:`memedit.relation_vectors`);
    rows from before stay without one, and routing computes theirs when it needs them."""
    if "embeddings" in db.table_names():
        db.execute("ALTER TABLE embeddings ADD COLUMN relation BLOB")


@migrations()
def m006_subject_aliases(db: Database) -> None:
    """Edits may carry other names of their subject (``Edit.aliases``, a JSON list), which
    routing looks for in queries; the index finds the few live edits that have any."""
    if "edits" in db.table_names():
        db.execute("ALTER TABLE edits ADD COLUMN aliases TEXT NOT NULL DEFAULT '[]'")
        db.execute(f"CREATE INDEX edits_aliased ON edits (seq) WHERE {_ALIASED}")


@migrations()
def m007_award_nominations_are_no_awards(db: Database) -> None:
    """An award nomination is a relation of its own ("X received an award nomination" had
    keyed as an award received, so that one superseded the other): recompute stored keys and
    make an edit superseded by one on the other relation live again."""
    if "edits" in db.table_names():
        _rekey_and_revive(db)


_ALIASED = "status = 'live' AND aliases != '[]'"  # the live edits routing looks up aliases of
_EDIT_COLUMNS = (
    "id", "text", "subject", "prompt", "target", "relation", "derived", "created",
    "source", "tags", "status", "superseded_by", "content_hash", "conflict_key", "aliases",
)  # fmt: skip
_SELECT = "SELECT seq, " + ", ".join(_EDIT_COLUMNS) + " FROM edits"


def _row_to_edit(row: sqlite3.Row | tuple[Any, ...]) -> Edit:
    values = dict(zip(("seq", *_EDIT_COLUMNS), row, strict=True))
    return Edit(
        id=values["id"],
        text=values["text"],
        subject=values["subject"],
        prompt=values["prompt"],
        target=values["target"],
        relation=values["relation"],
        created=values["created"],
        source=values["source"],
        tags=tuple(json.loads(values["tags"])),
        derived=bool(values["derived"]),
        status=values["status"],
        superseded_by=values["superseded_by"],
        content_hash=values["content_hash"],
        conflict_key=values["conflict_key"],
        aliases=tuple(json.loads(values["aliases"])),
    )


def _select(conn: sqlite3.Connection, where: str, values: Sequence[Any]) -> list[Edit]:
    """The stored edits matching ``where``, oldest first."""
    return [_row_to_edit(r) for r in conn.execute(f"{_SELECT} WHERE {where} ORDER BY seq", values)]


def _edits_by_id(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, Edit]:
    """The stored edits (any status) with these ids, by id."""
    found: dict[str, Edit] = {}
    for chunk in _chunks(list(ids)):
        for edit in _select(conn, f"id IN ({_placeholders(len(chunk))})", chunk):
            found[edit.id] = edit
    return found


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _placeholders(n: int) -> str:
    return ", ".join("?" * n)


class _Transaction(StoreTransaction):
    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn = db.conn
        self.changed = False

    def _select(self, where: str, values: Sequence[Any]) -> list[Edit]:
        return _select(self.conn, where, values)

    def get_many(self, ids: Iterable[str]) -> dict[str, Edit]:
        return _edits_by_id(self.conn, ids)

    def by_content_hash(self, hashes: Iterable[str]) -> dict[str, Edit]:
        found: dict[str, Edit] = {}
        for chunk in _chunks(list(hashes)):
            for edit in self._select(f"content_hash IN ({_placeholders(len(chunk))})", chunk):
                found[edit.content_hash] = edit
        return found

    def live_by_conflict_key(self, keys: Iterable[str]) -> dict[str, list[Edit]]:
        groups: dict[str, list[Edit]] = {}
        for chunk in _chunks(list(keys)):
            where = f"status = 'live' AND conflict_key IN ({_placeholders(len(chunk))})"
            for edit in self._select(where, chunk):
                assert edit.conflict_key is not None
                groups.setdefault(edit.conflict_key, []).append(edit)
        return groups

    def superseded_by(self, edit_id: str) -> list[Edit]:
        return self._select("superseded_by = ?", [edit_id])

    def insert(
        self, edits: Sequence[Edit], vectors: np.ndarray, relations: np.ndarray | None = None
    ) -> None:
        if len(edits) != len(vectors) or (relations is not None and len(relations) != len(edits)):
            raise ValueError("one vector per edit")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if relations is not None:
            relations = np.ascontiguousarray(relations, dtype=np.float32)
        sql = f"INSERT INTO edits ({', '.join(_EDIT_COLUMNS)}) VALUES ({_placeholders(len(_EDIT_COLUMNS))})"
        blobs = []
        for edit, vector in zip(edits, vectors, strict=True):
            cursor = self.conn.execute(
                sql,
                (
                    edit.id,
                    edit.text,
                    edit.subject,
                    edit.prompt,
                    edit.target,
                    edit.relation,
                    int(edit.derived),
                    edit.created,
                    edit.source,
                    json.dumps(list(edit.tags)),
                    edit.status,
                    edit.superseded_by,
                    edit.content_hash,
                    edit.conflict_key,
                    json.dumps(list(edit.aliases)),
                ),
            )
            blobs.append((cursor.lastrowid, vector.tobytes()))
        related = [None] * len(blobs) if relations is None else [r.tobytes() for r in relations]
        self.conn.executemany(
            "INSERT INTO embeddings (seq, vector, relation) VALUES (?, ?, ?)",
            [(seq, blob, relation) for (seq, blob), relation in zip(blobs, related, strict=True)],
        )
        self.changed = self.changed or bool(edits)

    def _retire(self, ids: Sequence[str]) -> None:
        for chunk in _chunks(list(ids)):
            self.conn.execute(
                f"INSERT INTO retired (seq) SELECT seq FROM edits WHERE id IN ({_placeholders(len(chunk))})",
                chunk,
            )

    def set_status(self, edit_id: str, status: Status, superseded_by: str | None) -> None:
        # Only the status changes: superseded edits stay in the index (their vectors find the
        # edit that replaced them), so a revived edit is already there, and search reads
        # each hit's status from SQLite.
        self.conn.execute(
            "UPDATE edits SET status = ?, superseded_by = ? WHERE id = ?",
            (status, superseded_by, edit_id),
        )
        self.changed = True

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        self._retire(ids)
        for chunk in _chunks(ids):
            marks = _placeholders(len(chunk))
            self.conn.execute(
                f"DELETE FROM embeddings WHERE seq IN (SELECT seq FROM edits WHERE id IN ({marks}))",
                chunk,
            )
            self.conn.execute(f"DELETE FROM edits WHERE id IN ({marks})", chunk)
        self.changed = self.changed or bool(ids)

    def set_config(self, updates: Mapping[str, Any]) -> None:
        self.db.table("config").upsert_all(
            [{"key": k, "value": json.dumps(v)} for k, v in updates.items()], pk="key"
        )
        self.changed = True


class SQLiteStore(StoreBackend):
    """SQLite (WAL, one connection per thread) plus a FAISS cache, in one folder."""

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        initial_config: Callable[[], Mapping[str, Any]] | None = None,
        lock_timeout: float = 5.0,
    ) -> None:
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self.db_path = self.path / DB_NAME
        self.lock_timeout = lock_timeout
        self._local = threading.local()
        self._connections: list[Database] = []
        self._connections_lock = threading.Lock()
        self._index_lock = threading.RLock()
        self._index: VectorIndex | None = None
        self._index_state: dict[str, int] = {}
        self._unsaved = 0
        self._aliased: tuple[str | None, list[Edit]] | None = None  # (generation, edits)
        self._open(create, initial_config)

    @staticmethod
    def exists(path: str | Path) -> bool:
        return (Path(path).expanduser() / DB_NAME).is_file()

    # -- opening -----------------------------------------------------------------
    def _open(self, create: bool, initial_config: Callable[[], Mapping[str, Any]] | None) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise NotAStoreError(
                f"{self.path} is a file, not a memedit store; --store takes a folder."
            )
        if not self.db_path.exists():
            if self.path.is_dir() and any(self.path.iterdir()):
                raise NotAStoreError(
                    f"{self.path} is not a memedit store (it has no {DB_NAME}) and is not empty; "
                    "choose a new or empty folder."
                )
            if not create:
                raise StoreError(f"No memedit store at {self.path}; `memedit add` creates one.")
            self.path.mkdir(parents=True, exist_ok=True)
        try:
            db = self._db()
            applied = {m.name for m in migrations.applied(db)}
            is_new = not applied
            if is_new and db.table_names():
                raise NotAStoreError(f"{self.db_path} is an SQLite file but not a memedit store.")
            if is_new:
                db.enable_wal()
            if migrations.pending(db):
                with self._write_lock(db):
                    migrations.apply(db)
            config = self.config()
            version = int(config.get("format_version", STORE_FORMAT_VERSION))
            if version > STORE_FORMAT_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer memedit (store format {version}, this one "
                    f"reads {STORE_FORMAT_VERSION}); upgrade memedit: pip install -U memedit."
                )
            missing: dict[str, Any] = {}
            if "embedder" not in config and initial_config is not None:
                missing.update(initial_config())
            if "format_version" not in config:
                missing["format_version"] = STORE_FORMAT_VERSION
            if missing:
                with self.transaction() as tx:
                    tx.set_config(missing)
        except sqlite3.DatabaseError as exc:
            self.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise self._locked_error() from None
            raise NotAStoreError(f"{self.db_path} is not a usable memedit store ({exc}).") from None

    def _db(self) -> Database:
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(
                str(self.db_path), timeout=self.lock_timeout, check_same_thread=False
            )
            conn.execute("PRAGMA synchronous = NORMAL")
            db = Database(conn, execute_plugins=False)
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    def _locked_error(self) -> StoreLockedError:
        return StoreLockedError(
            f"Store {self.path} is held by another writer; waited {self.lock_timeout:g}s. "
            "Try again once it has finished."
        )

    @contextmanager
    def _write_lock(self, db: Database) -> Iterator[None]:
        try:
            db.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise self._locked_error() from None
            raise
        try:
            yield
        except BaseException:
            db.conn.rollback()
            raise
        else:
            db.conn.commit()

    # -- the interface -------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        db = self._db()
        if "config" not in db.table_names():
            return {}
        return {
            row[0]: json.loads(row[1]) for row in db.conn.execute("SELECT key, value FROM config")
        }

    @contextmanager
    def transaction(self) -> Iterator[_Transaction]:
        db = self._db()
        with self._write_lock(db):
            tx = _Transaction(db)
            yield tx
            if tx.changed:
                db.conn.execute(
                    "INSERT INTO config (key, value) VALUES ('generation', '1') "
                    "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
                )

    def get(self, edit_id: str) -> Edit | None:
        row = self._db().conn.execute(f"{_SELECT} WHERE id = ?", [edit_id]).fetchone()
        return _row_to_edit(row) if row else None

    def ids_with_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._db().conn.execute(
            "SELECT id FROM edits WHERE id LIKE ? ESCAPE '\\' ORDER BY seq LIMIT ?",
            [escaped + "%", limit],
        )
        return [r[0] for r in rows]

    def iter_edits(self, *, live_only: bool = False) -> Iterator[Edit]:
        where = " WHERE status = 'live'" if live_only else ""
        for row in self._db().conn.execute(f"{_SELECT}{where} ORDER BY created, id"):
            yield _row_to_edit(row)

    def aliased(self) -> list[Edit]:
        """Read again only after a write (a new ``generation``): routing asks on every query."""
        conn = self._db().conn
        row = conn.execute("SELECT value FROM config WHERE key = 'generation'").fetchone()
        generation = None if row is None else str(row[0])
        cached = self._aliased
        if cached is None or cached[0] != generation:  # read after it: never older than it
            edits = [_row_to_edit(r) for r in conn.execute(f"{_SELECT} WHERE {_ALIASED}")]
            cached = self._aliased = (generation, edits)
        return cached[1]

    def count(self, *, live_only: bool = False) -> int:
        where = " WHERE status = 'live'" if live_only else ""
        return int(self._db().conn.execute(f"SELECT count(*) FROM edits{where}").fetchone()[0])

    def dump(self) -> StoreDump:
        conn = self._db().conn
        conn.execute("BEGIN")  # one snapshot: edits and vectors agree even while others write
        try:
            dimension = int(self.config()["dimension"])
            rows = conn.execute(
                f"SELECT {', '.join('e.' + c for c in ('seq', *_EDIT_COLUMNS))}, v.vector, "
                "v.relation FROM edits e JOIN embeddings v ON v.seq = e.seq "
                "ORDER BY e.created, e.id"
            ).fetchall()
        finally:
            conn.rollback()
        edits = [_row_to_edit(row[:-2]) for row in rows]

        def matrix(blobs: list[bytes]) -> np.ndarray:
            joined = np.frombuffer(b"".join(blobs), dtype=np.float32)
            return joined.reshape(len(blobs), dimension).copy()

        vectors = matrix([row[-2] for row in rows])
        relations = [row[-1] for row in rows]
        whole = bool(rows) and all(r is not None for r in relations)
        return StoreDump(edits, vectors, matrix(relations) if whole else None)

    def search(self, queries: np.ndarray, k: int) -> list[list[SearchHit]]:
        with self._index_lock:
            index = self._synced_index()
            # superseded edits are indexed as keys of their successor: look a little further
            # so that k distinct live edits remain when several keys of one edit are near
            scores, seqs = index.search(queries, 2 * k)
        conn = self._db().conn
        found: dict[int, tuple[Edit, np.ndarray, np.ndarray | None]] = {}
        live: dict[str, Edit] = {}  # edit id -> the live edit it stands for
        tried: set[int] = set()
        columns = ", ".join("e." + c for c in ("seq", *_EDIT_COLUMNS))

        def fetch(wanted: Iterable[int]) -> None:
            new = sorted({s for s in wanted if s >= 0} - tried)
            tried.update(new)
            edits = []
            for chunk in _chunks(new):
                rows = conn.execute(
                    f"SELECT {columns}, v.vector, v.relation FROM edits e "
                    f"JOIN embeddings v ON v.seq = e.seq WHERE e.seq IN ({_placeholders(len(chunk))})",
                    chunk,
                )
                for row in rows:
                    edit = _row_to_edit(row[:-2])
                    relation = None if row[-1] is None else np.frombuffer(row[-1], np.float32)
                    found[int(row[0])] = (edit, np.frombuffer(row[-2], np.float32), relation)
                    edits.append(edit)
            live.update(self._live_successors(conn, edits))

        def distinct(row_scores: np.ndarray, row_seqs: np.ndarray) -> list[SearchHit]:
            # SQLite wins: anything the index returns that is gone, or whose line of
            # successors ends in no live edit, is dropped; each live edit appears once,
            # at its nearest key
            hits: list[SearchHit] = []
            seen: set[str] = set()
            for score, s in zip(row_scores, row_seqs, strict=True):
                if int(s) not in found:
                    continue
                edit, vector, relation = found[int(s)]
                successor = live.get(edit.id)
                if successor is None or successor.id in seen:
                    continue
                seen.add(successor.id)
                key = None if successor.id == edit.id else edit.route_text
                hits.append(SearchHit(successor, float(score), vector, key, relation))
                if len(hits) == k:
                    break
            return hits

        # the k nearest first; the next ones only for queries that came up short
        fetch(int(s) for s in seqs[:, :k].ravel())
        results = [distinct(sc, sq) for sc, sq in zip(scores, seqs, strict=True)]
        short = [i for i, hits in enumerate(results) if len(hits) < k and (seqs[i, k:] >= 0).any()]
        if short:
            fetch(int(s) for i in short for s in seqs[i, k:])
            for i in short:
                results[i] = distinct(scores[i], seqs[i])
        return results

    @staticmethod
    def _live_successors(conn: sqlite3.Connection, edits: Iterable[Edit]) -> dict[str, Edit]:
        """For each edit, the live edit at the end of its line of successors (itself when
        live); edits whose line ends elsewhere (removed, or a cycle) are left out."""
        resolved: dict[str, Edit] = {}
        pending: dict[str, str] = {}  # edit id -> the successor id still to look up
        for edit in edits:
            if edit.live:
                resolved[edit.id] = edit
            elif edit.superseded_by:
                pending[edit.id] = edit.superseded_by
        for _ in range(MAX_SUCCESSION):
            if not pending:
                break
            fetched = _edits_by_id(conn, sorted(set(pending.values())))
            still: dict[str, str] = {}
            for origin, target in pending.items():
                successor = fetched.get(target)
                if successor is None:
                    continue
                if successor.live:
                    resolved[origin] = successor
                elif successor.superseded_by:
                    still[origin] = successor.superseded_by
            pending = still
        return resolved

    def stats(self) -> dict[str, Any]:
        files = [p for p in self.path.iterdir() if p.is_file()]
        with self._index_lock:
            kind = self._index.kind if self._index is not None else self._cached_meta().get("kind")
        return {
            "index_kind": kind or choose_kind(self.count()),  # superseded edits are indexed too
            "bytes_on_disk": sum(p.stat().st_size for p in files),
            "files": {p.name: p.stat().st_size for p in sorted(files)},
        }

    def close(self) -> None:
        with self._index_lock:
            if self._index is not None and self._unsaved:
                self._save_index()
        with self._connections_lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

    # -- the index cache -------------------------------------------------------------
    def _cached_meta(self) -> dict[str, Any]:
        try:
            meta = json.loads((self.path / INDEX_META_NAME).read_text())
            return meta if isinstance(meta, dict) else {}
        except (OSError, ValueError):
            return {}

    def _synced_index(self) -> VectorIndex:
        """The index, brought up to date with SQLite. Caller holds the index lock."""
        conn = self._db().conn
        conn.execute("BEGIN")  # one snapshot for everything read below
        try:
            config = self.config()
            generation = int(config.get("generation", 0))
            if self._index is None:
                self._index = self._load_cache(config)
            if self._index is None:
                self._rebuild(config, generation)
            elif self._index_state["generation"] != generation:
                self._catch_up(generation)
        finally:
            conn.rollback()
        assert self._index is not None
        live = self._index.ntotal - len(self._index.dead)
        too_many_dead = len(self._index.dead) > max(256, live // 4)
        if too_many_dead or self._index.kind != choose_kind(live, self._index.kind):
            self._index = None
            return self._synced_index_rebuilt()
        if self._unsaved >= PERSIST_EVERY:
            self._save_index()
        return self._index

    def _synced_index_rebuilt(self) -> VectorIndex:
        conn = self._db().conn
        conn.execute("BEGIN")
        try:
            config = self.config()
            self._rebuild(config, int(config.get("generation", 0)))
        finally:
            conn.rollback()
        assert self._index is not None
        return self._index

    def _load_cache(self, config: Mapping[str, Any]) -> VectorIndex | None:
        meta = self._cached_meta()
        name = str(meta.get("file", ""))
        if not name.startswith("index-") or "/" in name or "\\" in name:
            return None
        index_path = self.path / name
        if not index_path.exists():
            return None
        expected = (INDEX_FORMAT_VERSION, config.get("embedder"), config.get("dimension"))
        if (meta.get("format"), meta.get("embedder"), meta.get("dimension")) != expected:
            return None  # built by another embedder or another memedit: rebuild
        try:
            index = VectorIndex.load(
                index_path, int(meta["dimension"]), str(meta["kind"]), list(meta.get("dead", []))
            )
            state = {k: int(meta[k]) for k in ("generation", "max_seq", "last_retired")}
        except Exception:  # a corrupt or foreign cache file is just a cache miss
            return None
        if index.ntotal != int(meta.get("ntotal", -1)):
            return None
        self._index_state = state
        self._unsaved = 0
        if state["generation"] != int(config.get("generation", 0)):
            self._index = index
            self._catch_up(int(config.get("generation", 0)))
        return index

    def _rebuild(self, config: Mapping[str, Any], generation: int) -> None:
        conn = self._db().conn
        dimension = int(config["dimension"])
        indexed = int(conn.execute("SELECT count(*) FROM edits").fetchone()[0])
        index = VectorIndex(dimension, choose_kind(indexed))
        max_seq = 0
        rows = conn.execute(
            "SELECT e.seq, v.vector FROM edits e JOIN embeddings v ON v.seq = e.seq ORDER BY e.seq"
        )
        while batch := rows.fetchmany(8192):
            seqs = np.array([r[0] for r in batch], dtype=np.int64)
            vectors = np.frombuffer(b"".join(r[1] for r in batch), dtype=np.float32).reshape(
                len(batch), dimension
            )
            index.add(seqs, vectors)
            max_seq = int(seqs[-1])
        last_retired = conn.execute("SELECT coalesce(max(id), 0) FROM retired").fetchone()[0]
        top_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM edits").fetchone()[0]
        self._index = index
        self._index_state = {
            "generation": generation,
            "max_seq": max(max_seq, int(top_seq)),
            "last_retired": int(last_retired),
        }
        self._save_index()

    def _catch_up(self, generation: int) -> None:
        """Add edits written since the index was synced, retire those removed."""
        assert self._index is not None
        conn = self._db().conn
        dimension = self._index.dimension
        state = self._index_state
        rows = conn.execute(
            "SELECT e.seq, v.vector FROM edits e JOIN embeddings v ON v.seq = e.seq "
            "WHERE e.seq > ? ORDER BY e.seq",
            [state["max_seq"]],
        ).fetchall()
        if rows:
            seqs = np.array([r[0] for r in rows], dtype=np.int64)
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(
                len(rows), dimension
            )
            self._index.add(seqs, vectors)
            self._unsaved += len(rows)
        retired = conn.execute(
            "SELECT id, seq FROM retired WHERE id > ? ORDER BY id", [state["last_retired"]]
        ).fetchall()
        if retired:
            self._index.retire([int(r[1]) for r in retired])
            state["last_retired"] = int(retired[-1][0])
            self._unsaved += len(retired)
        top_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM edits").fetchone()[0]
        state["max_seq"] = max(state["max_seq"], int(top_seq))
        state["generation"] = generation

    def _save_index(self) -> None:
        assert self._index is not None
        config = self.config()
        # A new file name each time: a reader never pairs one file with another's metadata.
        name = f"index-{secrets.token_hex(6)}.faiss"
        self._index.save(self.path / name)
        meta = {
            "format": INDEX_FORMAT_VERSION,
            "file": name,
            "embedder": config.get("embedder"),
            "dimension": config.get("dimension"),
            "kind": self._index.kind,
            "ntotal": self._index.ntotal,
            "dead": sorted(self._index.dead),
            "saved": time.time(),
            **self._index_state,
        }
        tmp = self.path / f"{INDEX_META_NAME}.{secrets.token_hex(4)}.tmp"
        tmp.write_text(json.dumps(meta))
        tmp.replace(self.path / INDEX_META_NAME)
        self._unsaved = 0
        for old in self.path.glob("index-*.faiss"):
            if old.name != name:
                old.unlink(missing_ok=True)
