"""EditStore: add, manage, route, export and import edits.

The one object Python users and the CLI work with. It validates edits,
embeds them (one encoder call per batch), applies the conflict rule — a new
edit on the same subject and relation as a live one supersedes it; the
older stays as history and is no longer routed — and hands storage to a
backend from :mod:`memedit.stores`.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from memedit.bundle import EditBundle, bundle_files, read_bundle, write_bundle
from memedit.edits import Edit, EditDraft, build_edit, supersedes, utc_now
from memedit.embedder import Embedder, get_embedder
from memedit.errors import (
    EditNotFoundError,
    EmbedderError,
    ImportConflictError,
    InvalidEditError,
    MemeditError,
    StoreError,
)
from memedit.formats import read_edit_file
from memedit.paths import default_store_path
from memedit.query_parts import (
    AliasIndex,
    alias_question,
    question_part,
    resolved_question,
    with_alias_resolved,
)
from memedit.relation_vectors import RECIPE as RELATION_RECIPE
from memedit.relation_vectors import embed_with_relations, relation_vector, subject_part
from memedit.router import (
    RoutedEdit,
    RouteResult,
    ScopeClassifier,
    classifier_from_config,
    default_classifier,
    uses_relation_vectors,
)
from memedit.stores import StoreBackend, StoreTransaction, open_backend, store_exists
from memedit.stores.base import SearchHit
from memedit.stores.sqlite import without_former_default

MAX_BATCH_EDITS = 5_000_000
MAX_QUERY_BYTES = 16_384
WINDOW_CANDIDATES = 3  # the nearest edits whose subject's parts of a query are routed again
PartMaker = Callable[[str, Edit], str | None]  # (query, candidate edit) -> a part to route
WINDOW_PARTS: tuple[tuple[PartMaker, str], ...] = (
    (lambda text, edit: subject_part(text, edit.subject), "subject window"),
    (lambda text, edit: question_part(text, edit.subject), "question part"),
)
ALIAS_PARTS: tuple[tuple[PartMaker, str], ...] = (
    (with_alias_resolved, "alias"),
    (alias_question, "alias"),
)
FOLLOW_UP_PARTS: tuple[tuple[PartMaker, str], ...] = (
    (lambda text, edit: resolved_question(text, edit.subject), "follow-up"),
)
PROGRESS_MIN_EDITS = 256
OnConflict = Literal["skip", "replace", "fail"]
ON_CONFLICT: tuple[OnConflict, ...] = ("skip", "replace", "fail")


@dataclass
class AddResult:
    """What a batch add did: new edits, edits already stored, and supersessions."""

    added: list[Edit] = field(default_factory=list)
    # inputs not added because the same fact was stored already, or came earlier in the batch
    duplicates: list[Edit] = field(default_factory=list)
    superseded: list[tuple[str, str]] = field(default_factory=list)  # (old id, superseded by)
    skipped: list[str] = field(
        default_factory=list
    )  # with skip_invalid: why each edit was left out

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [e.to_dict() for e in self.added],
            "duplicates": [e.to_dict() for e in self.duplicates],
            "superseded": [{"id": old, "superseded_by": new} for old, new in self.superseded],
            "skipped": self.skipped,
        }


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    dry_run: bool
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # same fact already stored under another id
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # conflicting ids kept as stored
    superseded: list[tuple[str, str]] = field(default_factory=list)
    reembedded: int = 0
    router_adopted: bool = False  # an empty store took the bundle's router settings

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "added": len(self.added),
            "unchanged": len(self.unchanged),
            "duplicates": len(self.duplicates),
            "replaced": len(self.replaced),
            "skipped_conflicts": len(self.skipped),
            "superseded": [{"id": old, "superseded_by": new} for old, new in self.superseded],
            "reembedded": self.reembedded,
            "router_adopted": self.router_adopted,
        }


@dataclass(frozen=True)
class StoreStats:
    path: str
    edits: int
    live: int
    superseded: int
    embedder: str
    dimension: int
    index_kind: str
    bytes_on_disk: int
    router: dict[str, Any]
    format_version: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _DryRun(Exception):
    """Raised inside an import transaction to roll it back after planning."""


def _as_draft(item: EditDraft | str | Mapping[str, Any]) -> EditDraft:
    if isinstance(item, EditDraft):
        return item
    if isinstance(item, str):
        return EditDraft(text=item)
    if isinstance(item, Mapping):
        known = {k: item[k] for k in EditDraft.__dataclass_fields__ if k in item}
        return EditDraft(**known)  # every field, tags included, is validated by build_edit
    raise InvalidEditError(
        f"An edit must be text, a mapping or an EditDraft; got {type(item).__name__}."
    )


def _settle_conflicts(tx: StoreTransaction, edits: Iterable[Edit]) -> list[tuple[str, str]]:
    """Leave one live edit per subject+relation: the newest wins, the rest become history."""
    keys = {e.conflict_key for e in edits if e.conflict_key and e.live}
    superseded: list[tuple[str, str]] = []
    for group in tx.live_by_conflict_key(keys).values():
        if len(group) < 2:
            continue
        winner = max(group, key=lambda e: (e.created, e.id))
        for edit in group:
            if edit.id != winner.id:
                tx.set_status(edit.id, "superseded", winner.id)
                superseded.append((edit.id, winner.id))
    return superseded


def _out_of_scope(results: Sequence[RouteResult]) -> dict[int, str]:
    """The queries of ``results`` that are out of scope, by position."""
    return {n: result.query for n, result in enumerate(results) if not result.in_scope}


class EditStore:
    """A store of edits at a path: ``EditStore("my-store")`` opens or creates it.

    ``embedder`` picks the sentence-transformers model for a *new* store
    (default all-MiniLM-L6-v2); an existing store keeps the one it was built with.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        embedder: str | Embedder | None = None,
        create: bool = True,
        lock_timeout: float = 5.0,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        requested: Embedder | None
        if isinstance(embedder, Embedder):
            requested = embedder
        else:
            requested = get_embedder(embedder) if embedder else None

        def initial_config() -> dict[str, Any]:
            chosen = requested or get_embedder()
            return {
                "embedder": chosen.id,
                "dimension": chosen.dimension,
                "normalize": True,
                "router": default_classifier(chosen.id).to_config(),
                "created": utc_now(),
            }

        # A new store's config is made first, so that what fails there (a bad
        # $MEMEDIT_ROUTER_HEAD, an embedder that will not load) leaves no file behind.
        made = initial_config() if create and not store_exists(self.path) else None
        self._backend: StoreBackend = open_backend(
            self.path,
            create=create,
            initial_config=initial_config if made is None else made.copy,
            lock_timeout=lock_timeout,
        )
        config = self._backend.config()
        if requested is not None and requested.id != config["embedder"]:
            self._backend.close()
            raise EmbedderError(
                f"Store {self.path} was built with embedder {config['embedder']!r}, not {requested.id!r}. "
                "Export it and import the bundle into a new store made with the other embedder to re-embed."
            )
        self._embedder = requested
        self._aliases: tuple[list[Edit], AliasIndex] | None = None  # see _alias_index

    # -- basics ------------------------------------------------------------------
    @property
    def backend(self) -> StoreBackend:
        return self._backend

    @property
    def config(self) -> dict[str, Any]:
        return self._backend.config()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.config["embedder"])
        return self._embedder

    @property
    def router(self) -> ScopeClassifier:
        return classifier_from_config(self.config.get("router"))

    def configure_router(
        self, *, kind: str | None = None, threshold: float | None = None, top_k: int | None = None
    ) -> ScopeClassifier:
        """Change the router (``kind``: "learnt", "learnt-fast" or "threshold") or its settings; saved in the store's config.

        Switching kind resets the threshold to that kind's default unless one is given.
        """
        current = self.router
        if kind is not None and kind != current.kind:
            config: dict[str, Any] = {"kind": kind, "top_k": current.top_k}
            if threshold is not None:
                config["threshold"] = threshold
            updated = classifier_from_config(config)
            if top_k is not None:
                updated = updated.updated(top_k=top_k)
        else:
            updated = current.updated(threshold=threshold, top_k=top_k)
        with self._backend.transaction() as tx:
            tx.set_config({"router": updated.to_config()})
        return updated

    @property
    def default_model(self) -> str | None:
        """The model `memedit ask` uses when none is given (saved with ``set_default_model``)."""
        value = self.config.get("model")
        return str(value) if value else None

    def set_default_model(self, name: str | None) -> None:
        with self._backend.transaction() as tx:
            tx.set_config({"model": name})

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> EditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._backend.count(live_only=True)

    def __iter__(self) -> Iterator[Edit]:
        return self._backend.iter_edits(live_only=True)

    def __repr__(self) -> str:
        return f"EditStore({str(self.path)!r})"

    def _encode(
        self, texts: Sequence[str], progress: bool = False, dimension: int | None = None
    ) -> np.ndarray:
        vectors = self.embedder.encode(texts, progress=progress)
        self._check_dimension(vectors, dimension)
        return vectors

    def _check_dimension(self, vectors: np.ndarray, dimension: int | None = None) -> None:
        dimension = dimension or int(self.config["dimension"])
        if len(vectors) and vectors.shape[1] != dimension:
            raise EmbedderError(
                f"Embedder {self.embedder.id!r} gives {vectors.shape[1]}-dimensional vectors; "
                f"this store holds {dimension}-dimensional ones."
            )

    def _encode_edits(
        self, edits: Sequence[Edit], progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The edits' question parts embedded, and from the same pass their relation vectors
        (None for embedders no learnt router reads them for)."""
        texts = [e.route_text for e in edits]
        if not texts or not uses_relation_vectors(self.embedder.id):
            return self._encode(texts, progress=progress), None
        subjects = [e.subject for e in edits]
        vectors, relations = embed_with_relations(self.embedder, texts, subjects, progress=progress)
        self._check_dimension(vectors)
        return vectors, relations

    @staticmethod
    def _show_progress(progress: bool | None, n: int) -> bool:
        if progress is None:
            return n >= PROGRESS_MIN_EDITS and sys.stderr.isatty()
        return progress

    # -- adding ---------------------------------------------------------------------
    def add(
        self,
        text: str | None = None,
        *,
        subject: str | None = None,
        prompt: str | None = None,
        target: str | None = None,
        relation: str | None = None,
        tags: Iterable[str] = (),
        source: str | None = None,
        aliases: Iterable[str] = (),
    ) -> Edit:
        """Add one edit; returns the stored edit (the existing one when it was already there).
        ``aliases``: other names of its subject that queries may use (``Edit.aliases``)."""
        draft = EditDraft(
            text, subject, prompt, target, relation, source, tuple(tags), tuple(aliases)
        )
        result = self.add_many([draft])
        return (result.added or result.duplicates)[0]

    def add_many(
        self,
        items: Iterable[EditDraft | str | Mapping[str, Any]],
        *,
        progress: bool | None = None,
        skip_invalid: bool = False,
    ) -> AddResult:
        """Add a batch atomically: all edits land, or none (on any invalid edit, or an interruption).

        ``skip_invalid`` leaves invalid edits out instead (``result.skipped`` says why);
        the valid ones still land together.
        """
        drafts = [_as_draft(item) for item in items]
        if len(drafts) > MAX_BATCH_EDITS:
            raise InvalidEditError(
                f"A batch may hold at most {MAX_BATCH_EDITS:,} edits; got {len(drafts):,}."
            )
        edits: list[Edit] = []
        result = AddResult()
        for number, draft in enumerate(drafts, start=1):
            try:
                edits.append(build_edit(draft))
            except InvalidEditError as exc:
                where = f" ({draft.source})" if draft.source else ""
                message = f"Edit {number}{where}: {exc}" if len(drafts) > 1 else str(exc)
                if not skip_invalid:
                    raise InvalidEditError(message) from None
                result.skipped.append(message)
        unique: dict[str, Edit] = {}
        for edit in edits:
            unique.setdefault(edit.content_hash, edit)
        with self._backend.transaction() as tx:  # a short read: what is already stored
            stored = tx.by_content_hash(unique)
        fresh = [e for h, e in unique.items() if h not in stored]
        vectors, relations = self._encode_edits(
            fresh, progress=self._show_progress(progress, len(fresh))
        )
        with self._backend.transaction() as tx:
            stored.update(
                tx.by_content_hash([e.content_hash for e in fresh])
            )  # another writer may have won
            keep = [i for i, e in enumerate(fresh) if e.content_hash not in stored]
            fresh = [fresh[i] for i in keep]
            clashes = tx.get_many([e.id for e in fresh])
            if clashes:
                raise InvalidEditError(
                    f"Edit id {next(iter(clashes))} is already used by another edit; drop the id to get a new one."
                )
            tx.insert(fresh, vectors[keep], None if relations is None else relations[keep])
            result.superseded = _settle_conflicts(tx, fresh)
        result.added = fresh
        # every input that was not added, as the stored edit it matched (once each)
        seen: set[str] = set()
        for edit in edits:
            original = stored.get(edit.content_hash) or unique[edit.content_hash]
            if original is not edit and original.id not in seen:
                seen.add(original.id)
                result.duplicates.append(original)
        return result

    def add_file(
        self,
        path: str | Path,
        fmt: str = "auto",
        *,
        tags: Iterable[str] = (),
        progress: bool | None = None,
        skip_invalid: bool = False,
    ) -> AddResult:
        """Add every edit in a file (memedit JSONL or a benchmark format), atomically."""
        drafts = read_edit_file(path, fmt)
        extra = tuple(tags)
        if extra:
            drafts = [
                EditDraft(**{**d.__dict__, "tags": tuple(dict.fromkeys(d.tags + extra))})
                for d in drafts
            ]
        return self.add_many(drafts, progress=progress, skip_invalid=skip_invalid)

    # -- reading ---------------------------------------------------------------------
    def get(self, edit_id: str) -> Edit:
        """An edit by id or by a unique id prefix (at least 4 characters)."""
        edit_id = edit_id.strip().upper()
        edit = self._backend.get(edit_id)
        if edit is not None:
            return edit
        matches = self._backend.ids_with_prefix(edit_id) if len(edit_id) >= 4 else []
        if len(matches) > 1:
            raise EditNotFoundError(
                f"Id prefix {edit_id!r} matches several edits; give more characters."
            )
        if not matches:
            raise EditNotFoundError(
                f"No edit with id {edit_id!r} in {self.path}; `memedit list` shows the ids."
            )
        found = self._backend.get(matches[0])
        assert found is not None
        return found

    def edits(self, *, include_superseded: bool = False) -> list[Edit]:
        """All edits, oldest first (live ones only unless asked)."""
        return list(self._backend.iter_edits(live_only=not include_superseded))

    # -- removing ---------------------------------------------------------------------
    def remove(self, ids: Iterable[str]) -> list[Edit]:
        """Remove edits by id (or unique prefix), atomically: an unknown id removes nothing.

        Removing the edit that superseded others makes the newest of those live again.
        """
        targets = {edit.id: edit for edit in (self.get(i) for i in ids)}
        with self._backend.transaction() as tx:
            for edit in targets.values():
                if not edit.live:
                    continue
                previous = [e for e in tx.superseded_by(edit.id) if e.id not in targets]
                if previous:
                    newest = max(previous, key=lambda e: (e.created, e.id))
                    tx.set_status(newest.id, "live", None)
                    for other in previous:
                        if other.id != newest.id:
                            tx.set_status(other.id, "superseded", newest.id)
            tx.delete(targets)
        return list(targets.values())

    # -- routing ---------------------------------------------------------------------
    def route(
        self,
        query: str,
        *,
        k: int | None = None,
        threshold: float | None = None,
        windows: bool = True,
        context: str | None = None,
    ) -> RouteResult:
        """The nearest live edits to ``query`` and whether it is in scope of any (``windows``
        and ``context``: see :meth:`route_many`)."""
        contexts = None if context is None else [context]
        return self.route_many(
            [query], k=k, threshold=threshold, windows=windows, contexts=contexts
        )[0]

    def route_many(
        self,
        queries: Sequence[str],
        *,
        k: int | None = None,
        threshold: float | None = None,
        windows: bool = True,
        contexts: Sequence[str | None] | None = None,
    ) -> list[RouteResult]:
        """Route a batch of queries: one encoder call for them all (and, with the learnt
        router, one more per round of second looks, each round one pair per unsure query).

        With ``windows``, a query left out of scope is routed again on its parts about
        one of its nearest edits' subject (one more encoder call for all such parts): the
        sentences or lines that name the subject, when only some do (basis "subject
        window"), and the last clause, when that names the subject or refers to it by a
        pronoun (basis "question part", :func:`memedit.query_parts.question_part`). An edit
        a part is in scope of is taken. Text around the question ("It is monotypic within
        the genus Kenopia. Shree Pundalik, that was from", "User: ...\nAssistant:",
        "Writing a report on Mozart - what's his birthplace?") then does not hide it.

        A query still out of scope that names an edit's subject by one of its aliases
        (``Edit.aliases``: "MJ" for Michael Jordan, given when the edit is added) is routed
        again with the alias replaced by the subject, whole and its question part (basis
        "alias"); an edit that is in scope of it is taken.

        ``contexts``: for each query, the conversation's message before it (None: none),
        for follow-up questions. A query still out of scope whose pronoun stands for a
        subject its context names ("Where was he born?" after "Tell me about Mozart.") is
        routed again with the pronoun resolved to each of the nearest edits' subjects that
        the context names (basis "follow-up"). Only the question is routed so, never the
        context: an edit the context alone is in scope of is not taken.
        """
        if contexts is not None and len(contexts) != len(queries):
            raise ValueError(f"{len(contexts)} contexts for {len(queries)} queries")
        config = self.config  # one read: every pass routes with the same classifier
        router, vectors, found = self._nearest(queries, k, config)
        if not queries:
            return []
        results = router.decide(list(queries), vectors, found, self.embedder, threshold)
        if windows:
            looks = _out_of_scope(results)
            nearest = {n: [r.edit for r in results[n].edits] for n in looks}
            self._take_parts(results, looks, nearest, WINDOW_PARTS, k, threshold, config)
        out = _out_of_scope(results)
        aliases = self._alias_index() if out else None  # no read when every query is in scope
        if aliases is not None:
            named = {n: aliases.named_in(text) for n, text in out.items()}
            looks = {n: results[n].query for n, edits in named.items() if edits}
            self._take_parts(results, looks, named, ALIAS_PARTS, k, threshold, config)
        if contexts is not None:
            looks = {
                n: f"{contexts[n]}\n{query}"
                for n, query in _out_of_scope(results).items()
                if (contexts[n] or "").strip()
            }
            if looks:
                _, _, near = self._nearest(list(looks.values()), k, config)
                nearest = {n: [h.edit for h in hits] for n, hits in zip(looks, near, strict=True)}
                self._take_parts(results, looks, nearest, FOLLOW_UP_PARTS, k, threshold, config)
        return results

    def _alias_index(self) -> AliasIndex | None:
        """The live edits' aliases, indexed; built again only when the store changed. None
        when no live edit has any."""
        aliased = self.backend.aliased()
        if not aliased:
            return None
        if self._aliases is None or self._aliases[0] is not aliased:
            self._aliases = (aliased, AliasIndex(aliased))
        return self._aliases[1]

    def _take_parts(
        self,
        results: list[RouteResult],
        texts: Mapping[int, str],
        candidates: Mapping[int, Sequence[Edit]],
        makers: Sequence[tuple[PartMaker, str]],
        k: int | None,
        threshold: float | None,
        config: Mapping[str, Any],
    ) -> None:
        """In place: each of ``results`` (by position, in ``texts``) takes the best of its
        text's first ``WINDOW_CANDIDATES`` candidate edits that a part of the text about that
        edit's subject (each of ``makers``: a part, or None, and the basis it gives) is in
        scope of; all the parts routed in one batch."""
        # part -> (query, candidate edit id, basis)
        asked: dict[str, list[tuple[int, str, str]]] = {}
        for n, text in texts.items():
            for edit in candidates[n][:WINDOW_CANDIDATES]:
                for make, basis in makers:
                    part = make(text, edit)
                    if part is not None:
                        asked.setdefault(part, []).append((n, edit.id, basis))
        if not asked:
            return
        parts = list(asked)
        router, vectors, found = self._nearest(parts, k, config)
        found_again = router.decide(parts, vectors, found, self.embedder, threshold)
        taken: dict[int, RoutedEdit] = {}
        for part, again in zip(parts, found_again, strict=True):
            for n, edit_id, basis in asked[part]:
                match = next((r for r in again.matched if r.id == edit_id), None)
                if match is not None and (n not in taken or match.score > taken[n].score):
                    taken[n] = replace(match, basis=basis)
        for n, routed in taken.items():  # every other candidate is out of scope, below it
            old = results[n]
            rest = tuple(r for r in old.edits if r.id != routed.id)
            results[n] = RouteResult(old.query, True, (routed, *rest), old.threshold)

    def route_sweep(
        self, queries: Sequence[str], thresholds: Sequence[float]
    ) -> list[list[tuple[str | None, float]]]:
        """For each threshold, each query's best edit (its id, None without candidates) and
        score, as :meth:`route_many` at that threshold would rank them without ``windows``,
        from one routing pass: what calibration compares thresholds with."""
        router, vectors, found = self._nearest(queries)
        if not queries:
            return [[] for _ in thresholds]
        tops = router.tops(list(queries), vectors, found, self.embedder, thresholds)
        return [
            [
                (None, float(score))
                if position < 0
                else (hits[int(position)].edit.id, float(score))
                for hits, (position, score) in zip(found, per_query, strict=True)
            ]
            for per_query in tops
        ]

    def _nearest(
        self,
        queries: Sequence[str],
        k: int | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> tuple[ScopeClassifier, np.ndarray, list[list[SearchHit]]]:
        """What routing starts from: the store's classifier, and the queries' vectors and
        nearest live edits (``k``, or the classifier's top_k; none for no queries), with one
        config read (none when the caller's ``config`` is given)."""
        self._check_queries(queries)
        config = self.config if config is None else config
        router = classifier_from_config(config.get("router"))
        if k is not None and not 1 <= k <= 100:
            raise MemeditError(f"k must be between 1 and 100; got {k}.")
        if not queries:
            return router, np.zeros((0, int(config["dimension"])), np.float32), []
        if not (router.reads_relations and uses_relation_vectors(self.embedder.id)):
            vectors = self._encode(list(queries), dimension=int(config["dimension"]))
            return router, vectors, self._backend.search(vectors, k or router.top_k)
        vectors, states, offsets = self.embedder.encode_tokens(list(queries))
        self._check_dimension(vectors, int(config["dimension"]))
        found = self._backend.search(vectors, k or router.top_k)
        return router, vectors, self._with_relations(router, queries, states, offsets, found)

    def _with_relations(
        self,
        router: ScopeClassifier,
        queries: Sequence[str],
        states: Sequence[np.ndarray],
        offsets: Sequence[list[tuple[int, int]]],
        found: list[list[SearchHit]],
    ) -> list[list[SearchHit]]:
        """The hits, those the router scores each with the query's relation similarity to
        it: the query's relation vector (for that edit's subject, from the query's own
        encoder pass) against the stored one. Edits stored before relation vectors get
        theirs computed here."""
        scored = [router.scored_hits(hits) for hits in found]
        late = list(
            dict.fromkeys(
                (hits[i].route_text, hits[i].edit.subject)
                for hits, positions in zip(found, scored, strict=True)
                for i in positions
                if hits[i].relation is None
            )
        )
        computed: dict[tuple[str, str | None], np.ndarray] = {}
        if late:
            texts, subjects = zip(*late, strict=True)
            _, relations = embed_with_relations(self.embedder, texts, subjects)
            computed = dict(zip(late, relations, strict=True))
        routed = []
        for query, state, offset, hits, positions in zip(
            queries, states, offsets, found, scored, strict=True
        ):
            own: dict[str | None, np.ndarray] = {}  # the query's, per subject
            row = list(hits)
            for i in positions:
                hit = hits[i]
                subject = hit.edit.subject
                if subject not in own:
                    own[subject] = relation_vector(query, state, offset, subject, window=True)
                stored = hit.relation
                if stored is None:
                    stored = computed[hit.route_text, subject]
                row[i] = replace(hit, relation_similarity=float(own[subject] @ stored))
            routed.append(row)
        return routed

    @staticmethod
    def _check_queries(queries: Sequence[str]) -> None:
        for query in queries:
            if not isinstance(query, str) or not query.strip():
                raise MemeditError("A query must be non-empty text.")
            if len(query.encode("utf-8")) > MAX_QUERY_BYTES:
                raise MemeditError(f"A query may be at most {MAX_QUERY_BYTES:,} bytes.")

    # -- bundles ---------------------------------------------------------------------
    def export(
        self,
        path: str | Path,
        *,
        as_dir: bool = False,
        vectors: bool = True,
        overwrite: bool = False,
    ) -> Path:
        """Write every edit (live and history) to a portable bundle; see :mod:`memedit.bundle`."""
        dump = self._backend.dump()
        config = self.config
        relations = dump.relations if vectors else None
        files = bundle_files(
            dump.edits,
            dump.vectors if vectors else None,
            embedder={
                "id": config["embedder"],
                "dimension": int(config["dimension"]),
                "normalize": True,
            },
            router=config.get("router"),
            memedit_version=_version(),
            relations=relations,
            relation_recipe=None if relations is None else RELATION_RECIPE,
        )
        return write_bundle(path, files, as_dir=as_dir, overwrite=overwrite)

    def import_bundle(
        self,
        source: str | Path | EditBundle,
        *,
        on_conflict: OnConflict = "skip",
        dry_run: bool = False,
        progress: bool | None = None,
    ) -> ImportReport:
        """Merge a bundle (a path, or one already read) into this store, atomically,
        after checking all of it.

        An edit whose id is stored with other content is a conflict: ``skip``
        keeps the stored one, ``replace`` takes the bundle's, ``fail`` aborts.
        Vectors are reused when the bundle's embedder is this store's, else
        re-embedded; so are relation vectors, when pooled as this memedit pools them.
        A store with no edits yet adopts the bundle's router settings when both use the
        same embedder.
        """
        if on_conflict not in ON_CONFLICT:
            raise MemeditError(
                f"on_conflict must be one of {', '.join(ON_CONFLICT)}; got {on_conflict!r}."
            )
        bundle = source if isinstance(source, EditBundle) else read_bundle(source)
        config = self.config
        embedder = bundle.manifest.embedder
        same_embedder = embedder.id == config["embedder"] and embedder.dimension == int(
            config["dimension"]
        )
        reuse = bundle.vectors is not None and same_embedder and embedder.normalize
        was_empty = self._backend.count() == 0
        with self._backend.transaction() as tx:  # plan once, to embed outside the write lock
            planned = self._plan_import(tx, bundle, on_conflict, ImportReport(dry_run=True))
        vectors: dict[str, np.ndarray] = {}
        relations: dict[str, np.ndarray] | None = None  # None: not wanted
        related = uses_relation_vectors(self.embedder.id)
        pooled_alike = bundle.relation_recipe == RELATION_RECIPE  # as this memedit pools them
        if related and reuse and bundle.relations is not None and pooled_alike:
            relations = dict(zip((e.id for e in bundle.edits), bundle.relations, strict=True))
        if not dry_run and planned and not (reuse and (not related or relations is not None)):
            shown = self._show_progress(progress, len(planned))
            matrix, found = self._encode_edits(planned, progress=shown)
            if not reuse:  # a bundle's own vectors are kept as they are
                vectors = {e.id: row for e, row in zip(planned, matrix, strict=True)}
            if found is not None:
                relations = {e.id: row for e, row in zip(planned, found, strict=True)}
        report = ImportReport(dry_run=dry_run)
        try:
            with self._backend.transaction() as tx:
                inserts = self._plan_import(tx, bundle, on_conflict, report)
                if report.replaced:
                    tx.delete(report.replaced)
                tx.insert(
                    inserts,
                    self._import_vectors(bundle, inserts, reuse, vectors, dry_run),
                    self._import_relations(inserts, relations, dry_run),
                )
                report.superseded = _settle_conflicts(tx, inserts)
                report.reembedded = 0 if reuse else len(inserts)
                if was_empty and same_embedder and bundle.manifest.router:
                    report.router_adopted = self._adopt_router(tx, bundle.manifest.router)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        return report

    @staticmethod
    def _adopt_router(tx: StoreTransaction, settings: dict[str, Any]) -> bool:
        try:  # an older memedit's bundle may carry its head's default threshold
            router = classifier_from_config(without_former_default(settings))
        except (StoreError, TypeError, ValueError):
            return False  # settings this memedit cannot use: keep the store's own
        tx.set_config({"router": router.to_config()})
        return True

    def _import_vectors(
        self,
        bundle: EditBundle,
        inserts: list[Edit],
        reuse: bool,
        vectors: dict[str, np.ndarray],
        dry_run: bool,
    ) -> np.ndarray:
        dimension = int(self.config["dimension"])
        if dry_run or not inserts:
            return np.zeros((len(inserts), dimension), np.float32)  # a dry run is rolled back
        if reuse:
            assert bundle.vectors is not None
            row_of = {e.id: i for i, e in enumerate(bundle.edits)}
            return bundle.vectors[[row_of[e.id] for e in inserts]]
        late = [e for e in inserts if e.id not in vectors]  # another writer changed the plan
        if late:
            encoded = self._encode([e.route_text for e in late])
            vectors.update(zip([e.id for e in late], encoded, strict=True))
        return np.stack([vectors[e.id] for e in inserts])

    def _import_relations(
        self, inserts: list[Edit], relations: dict[str, np.ndarray] | None, dry_run: bool
    ) -> np.ndarray | None:
        if dry_run or not inserts or relations is None:
            return None
        late = [e for e in inserts if e.id not in relations]  # another writer changed the plan
        if late:
            found = self._encode_edits(late)[1]
            assert found is not None
            relations.update(zip([e.id for e in late], found, strict=True))
        return np.stack([relations[e.id] for e in inserts])

    @staticmethod
    def _plan_import(
        tx: StoreTransaction, bundle: EditBundle, on_conflict: OnConflict, report: ImportReport
    ) -> list[Edit]:
        """Sort the bundle's edits into unchanged, duplicates, conflicts and inserts."""
        by_id = tx.get_many(e.id for e in bundle.edits)
        by_hash = tx.by_content_hash({e.content_hash for e in bundle.edits})
        inserts: list[Edit] = []
        alias: dict[str, str] = {}  # bundle id -> the id the same fact has in this store
        first_of_fact: dict[str, str] = {}
        conflicts: list[str] = []
        for edit in bundle.edits:
            stored = by_id.get(edit.id)
            same_fact = by_hash.get(edit.content_hash)
            if stored is not None and stored.content_hash == edit.content_hash:
                report.unchanged.append(edit.id)
            elif same_fact is not None and same_fact.id != edit.id:
                report.duplicates.append(edit.id)
                alias[edit.id] = same_fact.id
            elif edit.content_hash in first_of_fact:
                report.duplicates.append(edit.id)
                alias[edit.id] = first_of_fact[edit.content_hash]
            elif stored is not None:
                conflicts.append(edit.id)
                if on_conflict == "replace":
                    report.replaced.append(edit.id)
                    inserts.append(edit)
                    first_of_fact[edit.content_hash] = edit.id
                else:
                    report.skipped.append(edit.id)
            else:
                inserts.append(edit)
                first_of_fact[edit.content_hash] = edit.id
        if conflicts and on_conflict == "fail":
            shown = ", ".join(conflicts[:3]) + (
                f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else ""
            )
            raise ImportConflictError(
                f"{len(conflicts)} edit(s) in the bundle differ from stored edits with the same id "
                f"({shown}); nothing was imported. Use --on-conflict skip or replace."
            )
        # History must point at edits this store holds: follow aliases, and an edit
        # superseded by one that is not here, or by one on another subject or relation (as an
        # older memedit's relation patterns could decide), competes again as live.
        inserted = {e.id: e for e in inserts}
        targets = {alias.get(e.superseded_by, e.superseded_by) for e in inserts if e.superseded_by}
        present = inserted | tx.get_many(targets - set(inserted))
        settled: list[Edit] = []
        for edit in inserts:
            if edit.superseded_by is not None:
                target = present.get(alias.get(edit.superseded_by, edit.superseded_by))
                edit = (
                    edit.with_status("superseded", target.id)
                    if target is not None and supersedes(target, edit)
                    else edit.with_status("live", None)
                )
            settled.append(edit)
        replaced = set(report.replaced)
        report.added = [e.id for e in settled if e.id not in replaced]
        return settled

    # -- facts about the store -------------------------------------------------------------
    def stats(self) -> StoreStats:
        config = self.config
        backend = self._backend.stats()
        total = self._backend.count()
        live = self._backend.count(live_only=True)
        return StoreStats(
            path=str(self.path),
            edits=total,
            live=live,
            superseded=total - live,
            embedder=str(config["embedder"]),
            dimension=int(config["dimension"]),
            index_kind=str(backend["index_kind"]),
            bytes_on_disk=int(backend["bytes_on_disk"]),
            router=dict(config.get("router") or {}),
            format_version=int(config.get("format_version", 1)),
        )


def _version() -> str:
    from memedit import __version__

    return __version__


def import_into(
    path: str | Path | None,
    source: str | Path | EditBundle,
    *,
    on_conflict: OnConflict = "skip",
    dry_run: bool = False,
    progress: bool | None = None,
) -> ImportReport:
    """Import a bundle into the store at ``path``, creating the store only once the
    bundle has passed every check, and never for a dry run."""
    bundle = source if isinstance(source, EditBundle) else read_bundle(source)
    target = Path(path).expanduser() if path is not None else default_store_path()
    if dry_run and not store_exists(target):
        with (
            tempfile.TemporaryDirectory(prefix="memedit-dry-run-") as scratch_dir,
            EditStore(Path(scratch_dir) / "store") as scratch,
        ):
            return scratch.import_bundle(bundle, on_conflict=on_conflict, dry_run=True)
    with EditStore(target) as store:
        return store.import_bundle(
            bundle, on_conflict=on_conflict, dry_run=dry_run, progress=progress
        )
