"""Reading edits from memedit JSONL and the public benchmark formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import shared_data

from memedit.errors import InputFormatError
from memedit.formats import detect_format, read_edit_file


@pytest.mark.parametrize(
    ("relative", "fmt", "first_subject"),
    [
        ("counterfact/train.json", "counterfact", "Toko Yasuda"),
        ("counterfact/rome-format-dev.json", "rome", "Wellington"),
        ("knowedit/train_cf.json", "knowedit", "Goursez Vreizh"),
        ("knowedit/recent_train.json", "knowedit", None),
        ("knowedit/wikibio-train-all.json", "knowedit", "rick mahler"),
        ("zsre/zsre_mend_train-1k.json", "zsre", "UniFirst"),
        ("pitfalls/easy.json", "pitfalls", "fpart"),
        ("pitfalls/coverage_edit.json", "pitfalls", "Jacqueline Arnaud"),
    ],
)
def test_benchmark_files_are_detected_and_read(
    relative: str, fmt: str, first_subject: str | None
) -> None:
    path = shared_data(relative)
    records = json.loads(path.read_text())
    assert detect_format(records[0]) == fmt
    drafts = read_edit_file(path)
    assert len(drafts) >= len(records)
    first = drafts[0]
    if first_subject is not None:
        assert first.subject == first_subject
    assert first.text or (first.prompt and first.target)
    assert first.source and first.source.startswith(f"{fmt}:{path.name}#1")
    assert read_edit_file(path, fmt) == drafts  # naming the format gives the same result


def test_rome_prompts_get_the_subject_and_the_relation_id() -> None:
    drafts = read_edit_file(shared_data("counterfact/rome-format-dev.json"))
    first = drafts[0]
    assert first.prompt == "What is the twin city of Wellington? It is"
    assert first.target == "Sheffield"
    assert first.relation == "P190"


def test_pitfalls_records_with_two_edits_keep_their_order() -> None:
    drafts = read_edit_file(shared_data("pitfalls/coverage_edit.json"))
    assert drafts[0].subject == drafts[1].subject == "Jacqueline Arnaud"
    assert (drafts[0].target, drafts[1].target) == ("Ludwig Cromme", "Heinz Prüfer")


def test_memedit_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "edits.jsonl"
    lines = [
        {"text": "The Eiffel Tower is located in Rome.", "tags": ["paris"]},
        {"subject": "Toko Yasuda", "prompt": "Toko Yasuda, the", "target": "piano"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    drafts = read_edit_file(path)
    assert [d.text for d in drafts] == ["The Eiffel Tower is located in Rome.", None]
    assert drafts[0].tags == ("paris",)
    assert drafts[1].target == "piano"


def test_plain_text_facts_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "facts.txt"
    path.write_text(
        "# my edits\nThe Eiffel Tower is located in Rome.\n\n  Toko Yasuda plays the piano.  \n"
    )
    drafts = read_edit_file(path)  # a .txt file is plain text without --format
    assert [d.text for d in drafts] == [
        "The Eiffel Tower is located in Rome.",
        "Toko Yasuda plays the piano.",
    ]
    assert [d.source for d in drafts] == ["text:facts.txt#2", "text:facts.txt#4"]
    assert all(d.subject is None and d.prompt is None for d in drafts)  # derived when built
    other = tmp_path / "facts.list"
    other.write_text("Bakuman from Japan.\n")
    assert [d.text for d in read_edit_file(other, "text")] == ["Bakuman from Japan."]
    jsonl = tmp_path / "edits.txt"
    jsonl.write_text(json.dumps({"text": "Pizza originated in Greece."}) + "\n")
    assert read_edit_file(jsonl, "jsonl")[0].text == "Pizza originated in Greece."


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        (b"\xff\xfe not utf8", "auto", "not UTF-8"),
        (b'{"text": "a"}\n{"text": "b",\n', "auto", "line 2: invalid JSON"),
        (b'[{"text": "a"}, ', "auto", "line 1: invalid JSON"),
        (b"", "auto", "empty"),
        (b"[]", "auto", "no records"),
        (b'["just a string"]', "auto", "record 1 is not a JSON object"),
        (b'{"question": "x", "answer": "y"}', "auto", "cannot tell the format"),
        (b'{"prompt": "p", "subject": "s"}', "counterfact", "missing 'target_new'"),
        (b'{"text": "a", "tags": "oops"}', "auto", "'tags' must be a list"),
        (b'{"text": "a"}', "yaml", "Unknown format"),
        (b"\n\nThe Eiffel Tower is in Rome.\n", "auto", "line 3 is not JSON.*--format text"),
        (b"# only a comment\n\n", "text", "no facts found"),
        (b'The Eiffel Tower is in Rome.\n{"text": "a"}\n', "text", "line 2 looks like JSON"),
        (b"\xff\xfe not utf8", "text", "not UTF-8"),
    ],
)
def test_bad_files_say_what_is_wrong(
    tmp_path: Path, content: bytes, fmt: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputFormatError, match=message):
        read_edit_file(path, fmt)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="no such file"):
        read_edit_file(tmp_path / "nope.json")
