"""The learnt router's relation evidence: relation vectors stored with each edit (and
computed for edits stored before them), and how the relation cosine moves scores."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlite_utils import Database

from memedit import EditStore
from memedit.router import RelationEvidence, RouterHead, shifted, shipped_head
from memedit.stores.sqlite import migrations

FACTS = [
    "The doctoral advisor of R Sekhar Chivukula is Howard Georgi.",
    "The mother of Isabelle Leduc is Marie Curie.",
    "The Eiffel Tower is located in Rome.",
    "The Eiffel Tower is located in Berlin.",  # supersedes Rome: its vector stays a key
    "Stephen Hawking studied at Harvard.",
]
QUERIES = [
    "In genealogical terms, R Sekhar Chivukula's mother is",
    "Who supervised the PhD of R Sekhar Chivukula?",
    "Isabelle Leduc was mothered by",
    "Where is the Eiffel Tower?",
    "Where did Stephen Hawking go to university?",
    "Who designed the Eiffel Tower?",
]


def _relations(path: Path) -> list[bytes | None]:
    conn = sqlite3.connect(path / "memedit.db")
    try:
        return [row[0] for row in conn.execute("SELECT relation FROM embeddings ORDER BY seq")]
    finally:
        conn.close()


def _routes(store: EditStore) -> list[list[tuple[str, float, bool]]]:
    return [
        [(e.edit.id, round(e.score, 4), e.in_scope) for e in result.edits]
        for result in store.route_many(QUERIES)
    ]


def test_edits_get_relation_vectors_and_older_stores_route_the_same(tmp_path: Path) -> None:
    """Each stored vector gets a relation vector in the same pass; a store written before
    (no column: migration m005 adds it) routes as if it had them, computing theirs."""
    path = tmp_path / "s"
    with EditStore(path) as store:
        store.add_many(FACTS)
        routed = _routes(store)
    assert len(_relations(path)) == len(FACTS) and all(_relations(path))
    conn = sqlite3.connect(path / "memedit.db")
    conn.execute("ALTER TABLE embeddings DROP COLUMN relation")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm005%'")
    conn.commit()
    conn.close()
    with EditStore(path) as older:
        names = [m.name for m in migrations.applied(Database(path / "memedit.db"))]
        assert any(name.startswith("m005") for name in names)
        assert _relations(path) == [None] * len(FACTS)
        assert _routes(older) == routed
        older.add("Stephen Hawking died in Paris.")  # new edits get theirs
    assert _relations(path)[:-1] == [None] * len(FACTS) and _relations(path)[-1]


def test_relations_the_head_never_trained_on_and_the_evidence_on_top_of_it(
    store: EditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Doctoral advisor and mother are not among the triples' relations the shipped head
    trained on: a query on the subject's mother is not in scope of its doctoral advisor,
    and "was mothered by" asks the mother. The relation evidence acts on top of the head's
    scores: this head's rule only lowers them, and a rule that lowers every score puts even
    the paraphrase out."""
    store.add_many(FACTS)
    advisor, mother = store.edits()[:2]
    head = shipped_head()
    assert head is not None and head.relation is not None and head.relation_feature
    assert not {"P184", "P25"} & set(head.info["triples_relations"])
    routed = store.route_many(QUERIES[:3])
    other, asked, paraphrase = routed
    assert not other.in_scope and asked.in_scope and asked.edits[0].edit.id == advisor.id
    assert paraphrase.in_scope and paraphrase.edits[0].edit.id == mother.id
    monkeypatch.setattr("memedit.router.shipped_head", lambda: replace(head, relation=None))
    without = store.route_many(QUERIES[:3])
    assert [r.in_scope for r in without] == [False, True, True]
    for moved, unmoved in zip(routed, without, strict=True):
        before = {e.edit.id: e.score for e in unmoved.edits}
        assert all(e.score <= before[e.edit.id] + 1e-6 for e in moved.edits)
    lowering = RelationEvidence(fall=50.0, low=1.01, rise=0.0, high=1.01, named=0.5)
    monkeypatch.setattr("memedit.router.shipped_head", lambda: replace(head, relation=lowering))
    pulled = store.route_many(QUERIES[:3])[2]
    score = next(e.score for e in pulled.edits if e.edit.id == mother.id)
    assert not pulled.in_scope and score < head.threshold <= paraphrase.edits[0].score


def test_relation_evidence_shifts_only_clear_cosines() -> None:
    evidence = RelationEvidence(fall=10, low=0.3, rise=10, high=0.7, named=0.5)
    cosine = np.array([0.1, 0.5, 0.9, 0.9, np.nan])
    named = np.array([1.0, 1.0, 1.0, 0.0, 1.0])
    assert np.allclose(evidence.shift(cosine, named), [-2.0, 0.0, 2.0, 0.0, 0.0])
    p = np.array([0.5, 0.5, 0.5, 1.0])
    moved = shifted(p, np.array([-2.0, 0.0, 2.0, 0.0]))
    assert moved[1] == 0.5 and moved[3] == 1.0
    assert moved[0] == pytest.approx(1 / (1 + np.exp(2))) and moved[2] == pytest.approx(
        1 / (1 + np.exp(-2))
    )


def test_a_head_keeps_its_relation_evidence_through_save_and_load(tmp_path: Path) -> None:
    head = shipped_head()
    assert head is not None and head.relation is not None
    head.save(tmp_path)
    assert RouterHead.load(tmp_path).relation == head.relation
    replace(head, relation=None).save(tmp_path / "without")
    assert RouterHead.load(tmp_path / "without").relation is None


def test_an_imported_bundle_gets_relation_vectors(store: EditStore, tmp_path: Path) -> None:
    """Bundles carry edit vectors only: an import computes the relation vectors, whether it
    reuses the bundle's vectors or embeds again."""
    store.add_many(FACTS)
    bundle = store.export(tmp_path / "edits.memedit")
    with EditStore(tmp_path / "fresh") as fresh:
        report = fresh.import_bundle(bundle)
        assert report.reembedded == 0 and report.added
        assert _routes(fresh) == _routes(store)
    assert all(_relations(tmp_path / "fresh"))
