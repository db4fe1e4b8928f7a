"""Question forms of benchmark prompts (router training data and ``eval routing --questions``)."""

from __future__ import annotations

import random

import pytest

from memedit.edits import EditDraft
from memedit.evaluation import question_queries
from memedit.formats import EditCase
from memedit.question_forms import DOMAINS, PATTERNS, QUESTIONS, question_forms, relation_of


@pytest.mark.parametrize(
    ("prompt", "subject", "relation"),
    [
        ("The Eiffel Tower is located in", "The Eiffel Tower", "country_located"),
        ("Danielle Darrieux's mother tongue is", "Danielle Darrieux", "language"),
        ("The mother tongue of Danielle Darrieux is", "Danielle Darrieux", "language"),
        ("The name of the mother of Ada Lovelace is", "Ada Lovelace", "mother"),
        ("Toko Yasuda plays the instrument", "Toko Yasuda", "instrument"),
        ("The name of the country which Paris is the capital of is", "Paris", "capital_of"),
        ("The capital of France is", "France", "capital"),
        ("Apple A5 was created by", "Apple A5", "creator"),
        ("Toko Yasuda, the", "Toko Yasuda", None),  # ambiguous: no questions rather than wrong ones
        ("The Eiffel Tower is located in", None, None),
        ("Something else entirely", "The Eiffel Tower", None),
    ],
)
def test_relation_of(prompt: str, subject: str | None, relation: str | None) -> None:
    assert relation_of(prompt, subject) == relation


def test_table_is_consistent() -> None:
    assert {r for _, r in PATTERNS} <= set(QUESTIONS)
    for relation, (_, templates) in QUESTIONS.items():
        assert any(relation in d for d in DOMAINS), relation
        assert templates and all(t.count("{}") == 1 and "?" in t for t in templates)


def test_question_forms_ask_about_the_subject() -> None:
    rng = random.Random(0)
    seen_same, seen_other = set(), set()
    for _ in range(50):
        forms = question_forms("The Eiffel Tower is located in", "The Eiffel Tower", rng)
        assert forms is not None and len(forms.same) == len(forms.other) == 2
        for question in forms.same + forms.other:
            assert "the Eiffel Tower" in question  # "Where is the Eiffel Tower?", not "The"
        seen_same.update(forms.same)
        seen_other.update(forms.other)
    # in scope: the location family only; out of scope: never a location question
    location = {
        t.replace("{}", "the Eiffel Tower")
        for r, (family, templates) in QUESTIONS.items()
        if family == "location"
        for t in templates
    }
    assert "Where is the Eiffel Tower?" in seen_same
    assert not any(
        any(q.endswith(loc) or q.startswith(loc) for loc in location) for q in seen_other
    )
    assert any("\n" in q or "Answer" in q for q in seen_same)  # some wrapped in a prompt


def test_question_queries_are_labelled() -> None:
    cases = [
        EditCase(EditDraft(subject="France", prompt="The capital of France is", target="Lyon")),
        EditCase(EditDraft(subject="Toko Yasuda", prompt="Toko Yasuda, the", target="piano")),
    ]
    queries = question_queries(cases)
    assert [q.kind for q in queries] == ["question"] * 2 + ["question_specificity"] * 2
    assert [q.case for q in queries] == [0, 0, None, None]
    assert question_queries(cases) == queries  # seeded: the same questions every time
