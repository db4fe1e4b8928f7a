"""Question forms of benchmark prompts (router training data and ``eval routing --questions``)."""

from __future__ import annotations

import random

import pytest

from memedit.edits import EditDraft
from memedit.evaluation import RoutingQuery, question_queries
from memedit.formats import EditCase
from memedit.question_forms import (
    DOMAINS,
    PATTERNS,
    QUESTIONS,
    UNDRAWN,
    cloze_forms,
    cloze_templates,
    other_relations,
    question_forms,
    relation_of,
)
from memedit.router_training import CLOZE_SPECIFICITY, cloze_queries, cloze_queries_kept


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
        # patterns match from a word's start: "died" is no part of "studied"
        ("Stephen Hawking studied at", "Stephen Hawking", "alma_mater"),
        ("Stephen Hawking died in", "Stephen Hawking", "deathplace"),
        # ... "profession" no part of "professionally"
        ("Satchel Paige professionally plays the sport", "Satchel Paige", "sport"),
        ("The sport Tiger Woods plays professionally is", "Tiger Woods", "sport"),
        ("By profession, Marie Curie was a", "Marie Curie", "occupation"),
        ("Place of birth of Ada Lovelace:", "Ada Lovelace", "birthplace"),  # any case
        ("Jurassic Park was directed by", "Jurassic Park", "director"),
        # a nomination is not an award received
        ("Rose Byrne received award nomination, such as", "Rose Byrne", "nomination"),
        ("Rose Byrne received award(s), such as", "Rose Byrne", "award"),
        ("The Four Seasons was composed by", "The Four Seasons", "composer"),
        ("Nineteen Eighty-Four is a novel written by", "Nineteen Eighty-Four", "author"),
        ("Hamlet was written in", "Hamlet", "language"),
        # ... nor "spoke" of "spokesperson", "author" of "authority", "product" of "producer"
        ("Greta Thunberg is a spokesperson for", "Greta Thunberg", None),
        ("Noam Chomsky is an authority on", "Noam Chomsky", None),
        ("Harvey Weinstein was a film producer at", "Harvey Weinstein", None),
        ("Sandy Bridge was a product of", "Sandy Bridge", "creator"),
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
        assert any(relation in d for d in DOMAINS) != (relation in UNDRAWN), relation
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


def test_cloze_templates_are_the_known_relations_clozes() -> None:
    templates = cloze_templates(
        [
            ("Toko Yasuda was born in", "Toko Yasuda"),
            ("Mozart was born in", "Mozart"),  # the same template once
            ("The mother tongue of Mozart is", "Mozart"),
            ("Where was Mozart born?", "Mozart"),  # a question: not a cloze
            ("Mozart likes", "Mozart"),  # no known relation
            ("Salzburg is", None),
        ]
    )
    assert templates == {
        "birthplace": ["{} was born in"],
        "language": ["The mother tongue of {} is"],
    }


def test_cloze_forms_ask_another_relation_of_the_subject() -> None:
    templates = {
        "country_located": ["{} is located in"],
        "continent": ["{} is a part of the continent of"],
        "capital": ["The capital of {} is"],
        "twin_city": ["The twin city of {} is"],
        "named_after": ["{} was named after"],
    }
    rng = random.Random(0)
    seen = set()
    for _ in range(40):
        forms = cloze_forms("The Eiffel Tower is located in", "The Eiffel Tower", templates, rng)
        assert forms is not None and len(forms) == 1
        seen.update(forms)
    # never the location family; "the" inside a sentence, "The" at its start
    assert seen == {
        "The capital of the Eiffel Tower is",
        "The twin city of the Eiffel Tower is",
        "The Eiffel Tower was named after",
    }
    assert "continent" not in other_relations("country_located")
    known = cloze_forms(
        "The Eiffel Tower is located in",
        "The Eiffel Tower",
        templates,
        rng,
        known={"capital", "twin_city"},
    )
    assert known == ["The Eiffel Tower was named after"]  # not a relation it has an edit on
    assert cloze_forms("The Eiffel Tower is", "The Eiffel Tower", templates, rng) is None
    assert cloze_forms("Mozart was born in", "Mozart", {}, rng) == []


def test_cloze_queries_are_out_of_scope_and_skip_the_subjects_edits() -> None:
    cases = [
        EditCase(EditDraft(subject="Mozart", prompt="Mozart was born in", target="Vienna")),
        EditCase(EditDraft(subject="Mozart", prompt="Mozart died in", target="Paris")),
        EditCase(EditDraft(subject="Haydn", prompt="Haydn died in", target="Rome")),
        EditCase(EditDraft(subject="Haydn", prompt="Haydn, the", target="piano")),  # unknown
    ]
    queries = cloze_queries(cases)
    assert [(q.text, q.case, q.kind) for q in queries] == [
        ("Haydn was born in", None, CLOZE_SPECIFICITY),  # Mozart has both relations' edits
    ]
    assert cloze_queries(cases) == queries  # seeded


def test_a_share_of_cloze_negatives_is_kept_by_text() -> None:
    clozes = [RoutingQuery(f"Subject {n} was born in", None, CLOZE_SPECIFICITY) for n in range(400)]
    others = [
        RoutingQuery(f"Where was Subject {n} born?", None, "question_specificity")
        for n in range(50)
    ]
    kept = cloze_queries_kept(clozes + others, 0.4)
    assert kept[len(clozes) :].all()  # other kinds are all kept
    assert 0.3 < kept[: len(clozes)].mean() < 0.5
    assert (cloze_queries_kept(clozes, 0.4) == kept[: len(clozes)]).all()  # stable
    assert cloze_queries_kept(clozes, 1.0).all() and not cloze_queries_kept(clozes, 0.0).any()


def test_training_asks_a_distinct_family_member_as_a_negative() -> None:
    """A mother is no father, and what X follows is not what follows X: router training's
    negatives include them; evaluation's question forms draw as before."""
    from memedit.question_forms import other_relations

    assert "mother" not in other_relations("father")
    assert {"mother", "child", "spouse", "siblings"} <= set(
        other_relations("father", within_family=True)
    )
    assert "father" not in other_relations("father", within_family=True)
    assert "follows" in other_relations("followed_by", within_family=True)
    # a family of relations that overlap stays whole
    assert "continent" not in other_relations("country_located", within_family=True)
