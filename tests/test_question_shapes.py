"""The shaped questions router training adds (memedit.question_shapes)."""

from __future__ import annotations

import random

from memedit.question_forms import DOMAINS, QUESTIONS
from memedit.question_shapes import ASKED, ATTRIBUTES, possessive, shaped_questions


def test_every_relation_has_shapes_and_every_domain_attributes() -> None:
    assert set(ASKED) == set(QUESTIONS)
    assert len(ATTRIBUTES) == len(DOMAINS)
    for nouns, templates in ASKED.values():
        assert all(t.count("{}") == 1 for t in templates)
        assert all(n and n == n.strip() for n in nouns)


def test_possessive() -> None:
    assert possessive("Mozart") == "Mozart's"
    assert possessive("the Beatles") == "the Beatles'"


def test_shaped_questions_name_the_subject_and_differ_from_the_templates() -> None:
    rng = random.Random(0)
    same, other = set(), set()
    for _ in range(200):
        shaped = shaped_questions(
            "Wolfgang Amadeus Mozart was born in", "Wolfgang Amadeus Mozart", rng
        )
        assert shaped is not None
        same.update(shaped.same)
        other.update(shaped.other)
    for text in same | other:
        assert "Wolfgang Amadeus Mozart" in text
    templates = {t.replace("{}", "Wolfgang Amadeus Mozart") for t in QUESTIONS["birthplace"][1]}
    assert len(same - templates) > 10  # most are shapes the templates lack
    assert any("birthplace" in q and "Mozart's" in q for q in same)
    assert any(q.startswith(("Writing a", "I'm reading")) for q in same)
    # out of scope: never a question on the birthplace (on the birth date, maybe)
    birthplace = (
        "birthplace",
        "place of birth",
        "hometown",
        "born where",
        "where was wolfgang amadeus mozart born",
    )
    assert not any(word in q.lower() for q in other for word in birthplace)
    assert any("nickname" in q or "net worth" in q or "tall" in q for q in other)  # attributes


def test_a_subject_starting_with_the_is_asked_in_lower_case_and_unknown_relations_get_none() -> (
    None
):
    rng = random.Random(1)
    shaped = shaped_questions("The Eiffel Tower is located in", "The Eiffel Tower", rng)
    assert shaped is not None and all("the Eiffel Tower" in q for q in shaped.same)
    assert shaped_questions("The Eiffel Tower smells of", "The Eiffel Tower", rng) is None
    assert shaped_questions("Paris is located in", None, rng) is None


def test_inverse_questions_turn_a_role_around_and_leave_other_relations_alone() -> None:
    from memedit.question_shapes import inverse_questions

    rng = random.Random(0)
    asked = set()
    for _ in range(50):
        asked.update(
            inverse_questions("The doctoral advisor of Ada Lovelace is", "Ada Lovelace", rng)
        )
    assert "Ada Lovelace was the doctoral advisor of" in asked
    assert "Whose doctoral advisor is Ada Lovelace?" in asked
    assert all("doctoral advisor" in q and "Ada Lovelace" in q for q in asked)
    assert inverse_questions("The name of the father of Ada Lovelace is", "Ada Lovelace", rng)
    assert inverse_questions("Ada Lovelace's mother is", "Ada Lovelace", rng)
    # symmetric relations, nouns that name no role of a person, other shapes: none
    for prompt in (
        "The spouse of Ada Lovelace is",
        "The place of birth of Ada Lovelace is",
        "The occupation of Ada Lovelace is",
        "Ada Lovelace was born in",
    ):
        assert inverse_questions(prompt, "Ada Lovelace", rng) == [], prompt
    assert inverse_questions("The father of Ada Lovelace is", None, rng) == []
