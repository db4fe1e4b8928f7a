"""Aliases of an edit's subject ("MJ" for Michael Jordan): validated, stored, carried by
bundles, shown, and routed: a query that uses one reaches the edit."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from memedit import EditStore
from memedit.bundle import MANIFEST, read_bundle
from memedit.cli import cli
from memedit.edits import EditDraft, build_edit, edit_from_record
from memedit.errors import InvalidEditError
from memedit.query_parts import AliasIndex, alias_question, with_alias_resolved
from memedit.stores.sqlite import migrations

BEYONCE = EditDraft(text="Beyonc\u00e9 is married to Kanye West", aliases=("Queen Bey",))


def test_aliases_are_validated() -> None:
    edit = build_edit(
        EditDraft(
            text="Michael Jordan played for the Lakers.",
            aliases=(" MJ ", "mj", "His Airness", "michael  jordan"),
        )
    )
    # trimmed; a repeat (up to case and spacing) and the subject itself are dropped
    assert edit.subject == "Michael Jordan" and edit.aliases == ("MJ", "His Airness")
    assert edit_from_record(edit.to_dict()) == edit
    assert edit_from_record({**edit.to_dict(), "aliases": None}).aliases == ()
    for aliases, message in [
        ("MJ", "must be a list of strings"),
        (["MJ", ""], "non-empty strings"),
        (["MJ", 7], "must be a string"),
        (["a\nb"], "spans lines"),
        (["x" * 129], "too long"),
        ([f"alias {n}" for n in range(17)], "at most 16 aliases"),
    ]:
        with pytest.raises(InvalidEditError, match=message):
            build_edit(EditDraft(text="Michael Jordan played for the Lakers.", aliases=aliases))  # type: ignore[arg-type]
    with pytest.raises(InvalidEditError, match="this edit has none: give its subject"):
        build_edit(EditDraft(text="hello there", aliases=("MJ",)))


def test_an_alias_in_a_query_is_read_as_the_subject() -> None:
    edit = build_edit(BEYONCE)
    assert with_alias_resolved("Queen Bey is married to which rapper?", edit) == (
        "Beyonc\u00e9 is married to which rapper?"
    )
    assert with_alias_resolved("so, QUEEN  bey's husband?", edit) == "so, Beyonc\u00e9's husband?"
    assert with_alias_resolved("The Queen of Bey", edit) is None  # whole words, in order
    assert alias_question("Big fan here - who did Queen Bey marry?", edit) == (
        "who did Beyonc\u00e9 marry?"
    )
    index = AliasIndex([edit, build_edit(EditDraft(text="Bob Dylan was born in Paris."))])
    assert index.named_in("Who did queen bey marry?") == [edit]
    assert index.named_in("Who did the queen marry?") == []


def test_a_query_by_an_alias_reaches_the_edit(store: EditStore) -> None:
    edit = store.add_many([BEYONCE]).added[0]
    store.add("Eminem is signed to Def Jam Recordings.")
    query = "Queen Bey is married to which rapper?"
    routed = store.route(query)
    assert routed.in_scope and routed.edits[0].id == edit.id
    assert routed.edits[0].basis == "alias"
    # without the alias the query stays out
    plain = EditStore(store.path.parent / "plain", embedder=store.embedder)
    with plain:
        plain.add("Beyonc\u00e9 is married to Kanye West")
        assert not plain.route(query).in_scope
    # another relation of the subject, asked by the alias, stays out of scope
    assert not store.route("How many Grammys has Queen Bey won?").in_scope
    # the same fact again, with other aliases, is the same edit: its aliases stay
    again = store.add(BEYONCE.text, aliases=["Bey"])
    assert again.id == edit.id and store.get(edit.id).aliases == ("Queen Bey",)
    # the aliases routing knows follow the store: an edit added, an edit removed
    assert not store.route("Which label is Slim Shady signed to?").in_scope
    eminem = store.add("Eminem is signed to Aftermath Entertainment.", aliases=["Slim Shady"])
    routed = store.route("Which label is Slim Shady signed to?")
    assert routed.in_scope and routed.edits[0].id == eminem.id
    store.remove([edit.id])
    assert not store.route(query).in_scope


def test_aliases_survive_export_import_and_older_stores(tmp_path: Path, store: EditStore) -> None:
    edit = store.add_many([BEYONCE]).added[0]
    folder = store.export(tmp_path / "bundle", as_dir=True)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["format_version"] == 3  # earlier memedits refuse it rather than drop them
    assert read_bundle(folder).edits[0].aliases == ("Queen Bey",)
    with EditStore(tmp_path / "other", embedder=store.embedder) as other:
        other.import_bundle(folder)
        assert other.get(edit.id).aliases == ("Queen Bey",)
        assert other.route("Queen Bey is married to which rapper?").in_scope
    # a store from before aliases (no column: migration m006 adds it) opens with none
    path = tmp_path / "old"
    with EditStore(path, embedder=store.embedder) as old:
        old.add("Bob Dylan was born in Paris.")
    conn = sqlite3.connect(path / "memedit.db")
    conn.execute("DROP INDEX edits_aliased")
    conn.execute("ALTER TABLE edits DROP COLUMN aliases")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm006%'")
    conn.commit()
    conn.close()
    with EditStore(path, embedder=store.embedder) as reopened:
        names = [m.name for m in migrations.applied(Database(path / "memedit.db"))]
        assert any(name.startswith("m006") for name in names)
        assert [e.aliases for e in reopened.edits()] == [()]
        assert reopened.export(tmp_path / "v2", as_dir=True)
    assert json.loads((tmp_path / "v2" / MANIFEST).read_text())["format_version"] == 2


def test_cli_adds_and_shows_aliases(runner: CliRunner, tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    jordan = "Michael Jordan played for the Lakers."
    added = runner.invoke(
        cli, ["add", jordan, "--alias", "MJ", "--alias", "His Airness", "--store", store, "--json"]
    )
    assert added.exit_code == 0, added.output
    edit = json.loads(added.output)["added"][0]
    assert edit["aliases"] == ["MJ", "His Airness"]
    shown = runner.invoke(cli, ["show", edit["id"], "--store", store]).output
    assert "aliases:   MJ, His Airness" in shown
    routed = runner.invoke(cli, ["route", "Which team did His Airness play for?", "--store", store])
    assert routed.output.startswith("IN SCOPE") and "alias" in routed.output.splitlines()[1]
    records = tmp_path / "edits.jsonl"
    records.write_text(json.dumps({"text": BEYONCE.text, "aliases": ["Queen Bey"]}) + "\n")
    both = runner.invoke(cli, ["add", "--file", str(records), "--alias", "X", "--store", store])
    assert both.exit_code != 0 and "--alias names one edit's subject" in both.output
    from_file = runner.invoke(cli, ["add", "--file", str(records), "--store", store, "--json"])
    assert json.loads(from_file.output)["added"][0]["aliases"] == ["Queen Bey"]
    records.write_text(json.dumps({"text": BEYONCE.text, "aliases": "Queen Bey"}) + "\n")
    bad = runner.invoke(cli, ["add", "--file", str(records), "--store", store])
    assert bad.exit_code == 1 and "'aliases' must be a list of strings" in bad.output
    no_subject = runner.invoke(cli, ["add", "hello there", "--alias", "X", "--store", store])
    assert no_subject.exit_code == 1 and no_subject.output.startswith("Error: Aliases are")
