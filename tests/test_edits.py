"""Edit validation, derived fields for free text, ids and keys."""

from __future__ import annotations

import pytest

from memedit.edits import MAX_TEXT_BYTES, EditDraft, build_edit, content_hash, edit_from_record
from memedit.errors import InvalidEditError
from memedit.facts import parse_fact
from memedit.ids import is_ulid, new_ulid, ulid_datetime


def test_ulids_are_unique_sortable_and_monotonic() -> None:
    ids = [new_ulid() for _ in range(5000)]
    assert len(set(ids)) == 5000
    assert ids == sorted(ids)
    assert all(is_ulid(i) for i in ids)
    assert ulid_datetime(ids[0]).year >= 2024


@pytest.mark.parametrize(
    ("sentence", "subject", "prompt", "target"),
    [
        (
            "The Eiffel Tower is located in Rome.",
            "The Eiffel Tower",
            "The Eiffel Tower is located in",
            "Rome",
        ),
        ("Toko Yasuda plays the piano.", "Toko Yasuda", "Toko Yasuda plays the", "piano"),
        ("Toko Yasuda plays live in Tokyo.", "Toko Yasuda", "Toko Yasuda plays live in", "Tokyo"),
        ("The capital of France is Lyon.", "France", "The capital of France is", "Lyon"),
        (
            "Danielle Darrieux's mother tongue is English",
            "Danielle Darrieux",
            "Danielle Darrieux's mother tongue is",
            "English",
        ),
        (
            "Lionel Messi plays for Real Madrid.",
            "Lionel Messi",
            "Lionel Messi plays for",
            "Real Madrid",
        ),
        ("The CEO of Apple is Satya Nadella.", "Apple", "The CEO of Apple is", "Satya Nadella"),
        (
            "Python was created by Guido van Rossum",
            "Python",
            "Python was created by",
            "Guido van Rossum",
        ),
        # an adverb between the name and its verb, irregular past tenses
        (
            "Breaking Bad originally aired on HBO.",
            "Breaking Bad",
            "Breaking Bad originally aired on",
            "HBO",
        ),
        ("George Orwell wrote Animal Farm.", "George Orwell", "George Orwell wrote", "Animal Farm"),
        ("Rome fell to the Visigoths.", "Rome", "Rome fell to the", "Visigoths"),
        ("Pluto became a dwarf planet.", "Pluto", "Pluto became a", "dwarf planet"),
        (
            "Usain Bolt also won the Tour de France.",
            "Usain Bolt",
            "Usain Bolt also won the",
            "Tour de France",
        ),
        # a plural noun in the subject, before an auxiliary or a plain verb
        (
            "Emperor penguins breed in Antarctica.",
            "Emperor penguins",
            "Emperor penguins breed in",
            "Antarctica",
        ),
        (
            "Golden retrievers were bred in Scotland.",
            "Golden retrievers",
            "Golden retrievers were bred in",
            "Scotland",
        ),
        (
            "Marie Curie was originally from Poland.",
            "Marie Curie",
            "Marie Curie was originally from",
            "Poland",
        ),
    ],
)
def test_parse_fact_splits_subject_question_and_target(
    sentence: str, subject: str, prompt: str, target: str
) -> None:
    parsed = parse_fact(sentence)
    assert parsed is not None
    assert (parsed.subject, parsed.prompt, parsed.target) == (subject, prompt, target)
    assert "{}" in parsed.relation and subject not in parsed.relation


@pytest.mark.parametrize(
    "sentence",
    ["hello", "Where is the Eiffel Tower?", "rome", "", "The Smith family originally lived"],
)
def test_parse_fact_declines_what_it_cannot_split(sentence: str) -> None:
    assert parse_fact(sentence) is None


def test_free_text_edit_gets_derived_fields() -> None:
    edit = build_edit(EditDraft(text="  The Eiffel Tower is located in Rome.  "))
    assert edit.text == "The Eiffel Tower is located in Rome."
    assert edit.derived
    assert edit.subject == "The Eiffel Tower"
    assert edit.route_text == "The Eiffel Tower is located in"
    assert edit.conflict_key is not None


def test_structured_edit_composes_text_and_keys() -> None:
    edit = build_edit(
        EditDraft(
            subject="Toko Yasuda", prompt="Toko Yasuda, the", target="piano", tags=("a", "a", "b")
        )
    )
    assert edit.text == "Toko Yasuda, the piano"
    assert not edit.derived
    assert edit.tags == ("a", "b")
    assert edit.route_text == "Toko Yasuda, the"
    other = build_edit(
        EditDraft(subject="toko yasuda", prompt="Toko  Yasuda, the", target="guitar")
    )
    assert other.conflict_key == edit.conflict_key  # same subject and relation, another target


def test_content_hash_ignores_case_spacing_and_unicode_form() -> None:
    assert content_hash("The Eiffel  Tower", None, None) == content_hash(
        "the eiffel tower", None, None
    )
    assert content_hash("café", None, None) == content_hash("cafe\u0301", None, None)
    assert content_hash("a", "p", "x") != content_hash("a", "p", "y")


@pytest.mark.parametrize(
    ("draft", "message"),
    [
        (EditDraft(text=""), "needs text"),
        (EditDraft(text="   \n\t "), "needs text"),
        (EditDraft(text="x" * (MAX_TEXT_BYTES + 1)), "limit"),
        (EditDraft(text="é" * (MAX_TEXT_BYTES // 2 + 1)), "limit"),  # the cap is in bytes
        (EditDraft(text="nul\x00byte"), "control characters"),
        (EditDraft(prompt="Toko Yasuda, the"), "needs a target"),
        (EditDraft(target="piano"), "needs a prompt"),
        (EditDraft(text="ok fact", tags=("",)), "tags"),
        (EditDraft(text="ok fact", tags=tuple(f"t{i}" for i in range(40))), "at most"),
        (EditDraft(text="ok fact", id="not-a-ulid"), "not a ULID"),
        (EditDraft(text="ok fact", created="yesterday"), "ISO-8601"),
        (EditDraft(text="ok fact", created="2024-01-01T00:00:00"), "time zone"),
    ],
)
def test_bad_edits_are_refused_with_a_clear_message(draft: EditDraft, message: str) -> None:
    with pytest.raises(InvalidEditError, match=message):
        build_edit(draft)


def test_record_round_trip_keeps_every_field() -> None:
    edit = build_edit(
        EditDraft(text="The Eiffel Tower is located in Rome.", tags=("demo",), source="cli")
    )
    again = edit_from_record(edit.to_dict())
    assert again.to_dict() == edit.to_dict()
    assert again.content_hash == edit.content_hash
    assert again.conflict_key == edit.conflict_key


def test_created_times_are_normalised_to_utc() -> None:
    edit = build_edit(EditDraft(text="ok fact", created="2024-05-01T12:00:00+02:00"))
    assert edit.created == "2024-05-01T10:00:00.000000+00:00"
