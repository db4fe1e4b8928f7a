"""The `memedit` CLI through CliRunner, and as a real subprocess."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from memedit import EditStore
from memedit.cli import cli


def run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def fails_cleanly(result: Result, message: str) -> None:
    """A user error: non-zero exit, one line starting with Error:, no traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    assert message in result.output, result.output


def edits_in(path: Path) -> list[dict[str, object]]:
    if not (path / "memedit.db").exists():
        return []
    with EditStore(path, create=False) as store:
        return [e.to_dict() for e in store.edits(include_superseded=True)]


def test_add_list_show_route_rm(runner: CliRunner, tmp_path: Path) -> None:
    store = tmp_path / "s"
    added = run(
        runner, "add", "The Eiffel Tower is located in Rome.", "--tag", "demo", "--store", store
    )
    assert added.exit_code == 0 and added.output.startswith("Added ")
    edit_id = added.output.split()[1]

    listed = json.loads(run(runner, "list", "--json", "--store", store).output)
    assert [e["id"] for e in listed] == [edit_id]
    assert {"id", "text", "subject", "target", "created"} <= set(listed[0])
    assert listed[0]["subject"] == "The Eiffel Tower" and listed[0]["target"] == "Rome"
    table = run(runner, "list", "--store", store).output
    assert edit_id in table and "The Eiffel Tower" in table

    shown = run(runner, "show", edit_id[:8], "--store", store).output
    assert "subject:   The Eiffel Tower" in shown
    assert "derived:   yes" in shown and "routes on: The Eiffel Tower is located in" in shown

    routed = json.loads(
        run(runner, "route", "Where is the Eiffel Tower?", "--json", "--store", store).output
    )
    assert routed["query"] == "Where is the Eiffel Tower?"
    assert routed["in_scope"] is True
    assert routed["edits"][0]["id"] == edit_id and isinstance(routed["edits"][0]["score"], float)
    assert routed["edits"][0]["basis"] in ("fast", "second look")  # how the score was reached
    table = run(runner, "route", "Where is the Eiffel Tower?", "--store", store).output
    assert table.splitlines()[1].split()[:2] == ["*", f"{routed['edits'][0]['score']:.3f}"]
    assert routed["edits"][0]["basis"] in table.splitlines()[1]
    out_of_scope = run(runner, "route", "How tall is Mount Everest?", "--store", store).output
    assert out_of_scope.startswith("out of scope")
    # a follow-up question, with the message before it
    follow_up = ["route", "In which city is it?", "--store", store]
    assert run(runner, *follow_up).output.startswith("out of scope")
    table = run(runner, *follow_up, "--context", "Tell me about the Eiffel Tower.").output
    assert table.startswith("IN SCOPE") and "follow-up" in table.splitlines()[1]

    assert run(runner, "rm", edit_id, "--store", store).output.startswith(f"Removed {edit_id}")
    assert json.loads(run(runner, "list", "--json", "--store", store).output) == []


def test_add_text_with_the_subject_or_target_named(runner: CliRunner, tmp_path: Path) -> None:
    store = tmp_path / "s"
    text = "Visitors to Paris often buy Chanel."
    added = run(runner, "add", text, "--subject", "Paris", "--json", "--store", store)
    edit = json.loads(added.output)["added"][0]
    assert (edit["subject"], edit["prompt"], edit["target"]) == (
        "Paris",
        "Visitors to Paris often buy",
        "Chanel",
    )
    assert edit["derived"] is True
    shown = run(runner, "add", "Bakuman from Japan.", "--store", store).output.splitlines()
    assert shown[0].startswith("Added ") and shown[1] == (
        "  subject: Bakuman  |  question part: Bakuman from  |  answer: Japan"
    )
    unsplit = run(runner, "add", "Visitors to Rome often buy Gucci.", "--store", store).output
    assert "No question part found" in unsplit and "--subject" in unsplit
    elsewhere = run(runner, "add", "Lyon is lovely.", "--subject", "Paris", "--store", store)
    assert "'Paris' is not in the text" in elsewhere.output
    wrong = run(runner, "add", text, "--target", "Dior", "--store", store)
    assert wrong.exit_code == 1 and "does not end the text" in wrong.output
    assert "Traceback" not in wrong.output
    assert len(json.loads(run(runner, "list", "--json", "--store", store).output)) == 4


def test_structured_add_dedupe_and_supersede(runner: CliRunner, tmp_path: Path) -> None:
    store = tmp_path / "s"

    def add(target: str, *extra: str) -> Result:
        fields = ["--subject", "Toko Yasuda", "--prompt", "Toko Yasuda, the", "--target", target]
        return run(runner, "add", *fields, *extra, "--store", store)

    assert add("piano").exit_code == 0
    assert add("piano").output.startswith("Already stored as")
    data = json.loads(add("violin", "--json").output)
    assert data["superseded"][0]["superseded_by"] == data["added"][0]["id"]
    everything = json.loads(run(runner, "list", "--all", "--json", "--store", store).output)
    assert [e["status"] for e in everything] == ["superseded", "live"]
    # one relation in other words supersedes too; the older words still reach the newer edit
    run(runner, "add", "The Eiffel Tower is in Rome.", "--store", store)
    paris = run(runner, "add", "The Eiffel Tower is located in Paris.", "--json", "--store", store)
    paris_id = json.loads(paris.output)["added"][0]["id"]
    query = "The Eiffel Tower is in"
    routed = json.loads(run(runner, "route", query, "--json", "--store", store).output)
    assert routed["in_scope"] and routed["edits"][0]["id"] == paris_id
    assert routed["edits"][0]["via"] == "The Eiffel Tower is in"
    assert (
        "via an edit it superseded: The Eiffel Tower is in"
        in run(runner, "route", query, "--store", store).output
    )


def test_add_a_file_of_plain_text_facts(runner: CliRunner, tmp_path: Path) -> None:
    store = tmp_path / "s"
    facts = tmp_path / "facts.txt"
    facts.write_text("# trivia\nThe Eiffel Tower is located in Rome.\nBakuman from Japan.\n")
    added = json.loads(run(runner, "add", "--file", facts, "--json", "--store", store).output)
    assert [(e["subject"], e["target"], e["source"]) for e in added["added"]] == [
        ("The Eiffel Tower", "Rome", "text:facts.txt#2"),
        ("Bakuman", "Japan", "text:facts.txt#3"),
    ]
    jsonl = tmp_path / "facts.jsonl"
    jsonl.write_text("Toko Yasuda plays the piano.\n")
    wrong = run(runner, "add", "--file", jsonl, "--store", store)
    assert wrong.exit_code == 1 and "--format text" in wrong.output
    as_text = run(runner, "add", "--file", jsonl, "--format", "text", "--store", store)
    assert as_text.exit_code == 0 and as_text.output.startswith("Added ")
    assert len(json.loads(run(runner, "list", "--json", "--store", store).output)) == 3


def test_add_file_with_format(runner: CliRunner, tmp_path: Path) -> None:
    records = [
        {
            "case_id": i,
            "prompt": f"Person{i} Example plays the",
            "subject": f"Person{i} Example",
            "target_new": "piano",
            "ground_truth": "guitar",
        }
        for i in range(30)
    ]
    path = tmp_path / "cf.json"
    path.write_text(json.dumps(records))
    result = run(
        runner,
        "add",
        "--file",
        path,
        "--format",
        "counterfact",
        "--tag",
        "cf",
        "--store",
        tmp_path / "s",
    )
    assert result.output.strip() == "Added 30 edits."
    stats = json.loads(run(runner, "stats", "--json", "--store", tmp_path / "s").output)
    assert stats["live"] == 30 and stats["index_kind"] == "flat" and stats["dimension"] == 384
    assert stats["bytes_on_disk"] > 0


def test_export_import_between_stores(runner: CliRunner, tmp_path: Path) -> None:
    run(runner, "add", "The Eiffel Tower is located in Rome.", "--store", tmp_path / "a")
    run(runner, "add", "Toko Yasuda plays the piano.", "--store", tmp_path / "a")
    exported = run(runner, "export", tmp_path / "a.memedit", "--store", tmp_path / "a")
    assert exported.output.startswith("Exported 2 edits")
    dry = run(runner, "import", tmp_path / "a.memedit", "--dry-run", "--store", tmp_path / "b")
    assert dry.output.startswith("Would import: 2 new")
    assert edits_in(tmp_path / "b") == []
    done = json.loads(
        run(runner, "import", tmp_path / "a.memedit", "--json", "--store", tmp_path / "b").output
    )
    assert done["added"] == 2 and done["reembedded"] == 0
    assert edits_in(tmp_path / "b") == edits_in(tmp_path / "a")
    refused = runner.invoke(
        cli, ["export", str(tmp_path / "a.memedit"), "--store", str(tmp_path / "a")]
    )
    fails_cleanly(refused, "already exists")
    assert (
        run(
            runner, "export", tmp_path / "a.memedit", "--force", "--store", tmp_path / "a"
        ).exit_code
        == 0
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", ""], "An edit needs text"),
        (["add", "   "], "An edit needs text"),
        (["add", "x" * 5000], "the limit is 4,096"),
        (["add", "--prompt", "Toko Yasuda, the"], "needs a target"),
        (["rm", "01ZZZZZZZZZZZZZZZZZZZZZZZZ"], "No edit with id"),
        (["show", "nope"], "No edit with id"),
        (["route", " "], "non-empty"),
    ],
)
def test_bad_input_is_one_line_and_leaves_the_store_alone(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    store = tmp_path / "s"
    run(runner, "add", "The Eiffel Tower is located in Rome.", "--store", store)
    before = edits_in(store)
    fails_cleanly(runner.invoke(cli, [*args, "--store", str(store)]), message)
    assert edits_in(store) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00 latin-1 \xe9", "not UTF-8"),
        (
            b'{"text": "The Eiffel Tower is located in Paris."}\n{"text": broken}\n',
            "line 2: invalid JSON",
        ),
        (b'{"weird": 1}\n', "cannot tell the format"),
        (b'{"text": "fine fact one."}\n{"text": ""}\n', "Edit 2"),
    ],
)
def test_bad_files_add_nothing(
    runner: CliRunner, tmp_path: Path, content: bytes, message: str
) -> None:
    store = tmp_path / "s"
    run(runner, "add", "The Eiffel Tower is located in Rome.", "--store", store)
    before = edits_in(store)
    path = tmp_path / "edits.jsonl"
    path.write_bytes(content)
    fails_cleanly(runner.invoke(cli, ["add", "--file", str(path), "--store", str(store)]), message)
    assert edits_in(store) == before


def test_usage_errors(runner: CliRunner, tmp_path: Path) -> None:
    nothing = runner.invoke(cli, ["add", "--store", str(tmp_path / "s")])
    assert nothing.exit_code == 2 and "Nothing to add" in nothing.output
    unknown = runner.invoke(
        cli, ["add", "--file", "x.json", "--format", "yaml", "--store", str(tmp_path / "s")]
    )
    assert unknown.exit_code == 2 and "Invalid value for '--format'" in unknown.output
    both = runner.invoke(cli, ["add", "fact", "--file", "x.json", "--store", str(tmp_path / "s")])
    assert both.exit_code == 2 and "not both" in both.output


def test_folders_that_are_not_stores(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("hi")
    fails_cleanly(
        runner.invoke(cli, ["add", "A fact is here.", "--store", str(tmp_path / "docs")]),
        "not a memedit store",
    )
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == ["a.txt"]
    fails_cleanly(
        runner.invoke(cli, ["list", "--store", str(tmp_path / "none")]), "No memedit store"
    )
    assert not (tmp_path / "none").exists()


def test_locked_store(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "s"
    run(runner, "add", "The Eiffel Tower is located in Rome.", "--store", store)
    before = edits_in(store)
    import memedit.store as store_module

    original = store_module.EditStore.__init__

    def quick(self: EditStore, *args: object, **kwargs: object) -> None:
        kwargs["lock_timeout"] = 0.2
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module.EditStore, "__init__", quick)
    blocker = sqlite3.connect(store / "memedit.db")
    blocker.execute("BEGIN IMMEDIATE")
    try:
        fails_cleanly(
            runner.invoke(cli, ["add", "Toko Yasuda plays the piano.", "--store", str(store)]),
            "held by another writer",
        )
    finally:
        blocker.rollback()
        blocker.close()
    assert edits_in(store) == before


def test_default_store_follows_memedit_home(runner: CliRunner, _isolated_home: Path) -> None:
    run(runner, "add", "The Eiffel Tower is located in Rome.")
    assert (_isolated_home / "store" / "memedit.db").exists()
    assert len(json.loads(run(runner, "list", "--json").output)) == 1


STORELESS = {
    "train-counterfactual",
    "eval routing",
    "eval model",
}  # they never open the user's store


def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    leaves: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            leaves += _leaf_commands(command, (*prefix, name))
        else:
            leaves.append((*prefix, name))
    return leaves


def test_every_command_has_help_with_an_example(runner: CliRunner) -> None:
    leaves = _leaf_commands(cli)
    assert ("eval", "routing") in leaves and ("add",) in leaves
    for path in leaves:
        text = run(runner, *path, "--help").output
        name = " ".join(path)
        if name not in STORELESS:
            assert "--store" in text, name
        if name != "stats":
            assert "Example" in text, name


def _memedit(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memedit", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.slow
def test_real_subprocesses(tmp_path: Path) -> None:
    env = {**os.environ, "MEMEDIT_HOME": str(tmp_path / "home")}
    version = _memedit("--version", env=env, cwd=tmp_path)
    assert version.returncode == 0 and "memedit, version" in version.stdout

    bad = _memedit("add", "", env=env, cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "Error: An edit needs text; got an empty or whitespace-only string."
    ]

    # two processes adding files at once: both batches land whole
    files = []
    for w in range(2):
        path = tmp_path / f"w{w}.jsonl"
        path.write_text(
            "".join(
                json.dumps({"text": f"Worker{w} Person{i} was born in Oslo."}) + "\n"
                for i in range(40)
            )
        )
        files.append(path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "memedit", "add", "--file", str(f)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert out.strip() == "Added 40 edits."
    listed = _memedit("list", "--json", env=env, cwd=tmp_path)
    assert len(json.loads(listed.stdout)) == 80
    routed = _memedit("route", "Where was Worker1 Person7 born?", "--json", env=env, cwd=tmp_path)
    top = json.loads(routed.stdout)["edits"][0]
    assert routed.returncode == 0 and top["text"] == "Worker1 Person7 was born in Oslo."


def test_skip_invalid_keeps_the_valid_records(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        {"text": "Toko Yasuda plays the piano."},
        {"text": "  "},
        {"text": "The Eiffel Tower is located in Rome."},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    store = tmp_path / "s"
    refused = runner.invoke(cli, ["add", "--file", str(path), "--store", str(store)])
    fails_cleanly(refused, "Edit 2")
    result = runner.invoke(
        cli, ["add", "--file", str(path), "--skip-invalid", "--json", "--store", str(store)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (
        len(data["added"]) == 2
        and len(data["skipped"]) == 1
        and data["skipped"][0].startswith("Edit 2")
    )


def test_router_shows_and_switches_the_scope_classifier(runner: CliRunner, tmp_path: Path) -> None:
    store = tmp_path / "s"
    run(runner, "add", "The Eiffel Tower is located in Rome.", "--store", store)
    shown = json.loads(run(runner, "router", "--json", "--store", store).output)
    assert shown["kind"] == "learnt" and shown["top_k"] == 5 and shown["head"] == "shipped"

    fast = json.loads(
        run(runner, "router", "--kind", "learnt-fast", "--json", "--store", store).output
    )
    assert fast["kind"] == "learnt-fast" and fast["top_k"] == 5
    with EditStore(store, create=False) as opened:
        assert opened.router.threshold == fast["threshold"] and not fast["threshold_set"]
        # saved without the head's threshold, so that a retrained head's applies
        assert opened.config["router"] == {"kind": "learnt-fast", "top_k": 5}
        assert opened.route("Which city is the Eiffel Tower in?").in_scope

    run(runner, "router", "--kind", "threshold", "--top-k", "3", "--store", store)
    assert (
        "router: threshold, threshold 0.660, top_k 3"
        in run(runner, "router", "--store", store).output
    )

    fails_cleanly(run(runner, "router", "--threshold", "7", "--store", store), "[-1, 1]")
    fails_cleanly(run(runner, "router", "--kind", "nearest", "--store", store), "nearest")
    after = json.loads(run(runner, "router", "--json", "--store", store).output)
    assert after == {
        "kind": "threshold",
        "threshold": 0.66,
        "top_k": 3,
    }  # bad input changed nothing
    fails_cleanly(run(runner, "router", "--store", tmp_path / "none"), "No memedit store")
