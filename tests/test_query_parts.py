"""The question part of a chatty query: its last clause, with a pronoun resolved."""

from __future__ import annotations

import pytest

from memedit.query_parts import last_clause, question_part, resolved


@pytest.mark.parametrize(
    ("text", "clause"),
    [
        ("Writing a report on Mozart - what's his birthplace?", "what's his birthplace?"),
        ("Quiz time: where is the Eiffel Tower?", "where is the Eiffel Tower?"),
        ("I love Paris. What is it famous for?", "What is it famous for?"),
        ("User: Tell me about Paris\nAssistant:", "Assistant:"),
        ("Big fan of Yo-Yo Ma \u2014 which instrument?", "which instrument?"),
        # a hyphen inside a word, a trailing dash or colon: no new clause
        ("Which instrument does Yo-Yo Ma play?", "Which instrument does Yo-Yo Ma play?"),
        ("The capital of France is:", "The capital of France is:"),
        # initials and abbreviations do not end a sentence
        (
            "Where is Charles P. de Saint-Aignan buried?",
            "Where is Charles P. de Saint-Aignan buried?",
        ),
        ("Dr. King spoke. Mrs. Parks sat.", "Mrs. Parks sat."),
    ],
)
def test_last_clause(text: str, clause: str) -> None:
    start, found = last_clause(text)
    assert found == clause
    assert text[start:].strip() == clause


@pytest.mark.parametrize(
    ("clause", "subject", "expected"),
    [
        (
            "what's his birthplace?",
            "Wolfgang Amadeus Mozart",
            "what's Wolfgang Amadeus Mozart's birthplace?",
        ),
        ("who produced it?", "The Game Boy", "who produced The Game Boy?"),
        ("Where did her parents live?", "Taylor Swift", "Where did Taylor Swift's parents live?"),
        ("Who married her?", "Taylor Swift", "Who married Taylor Swift?"),
        ("Who is she married to?", "Beyonc\u00e9", "Who is Beyonc\u00e9 married to?"),
        ("What is their home stadium?", "FC Barcelona", "What is FC Barcelona's home stadium?"),
        ("Which city is the capital?", "France", None),
    ],
)
def test_resolved(clause: str, subject: str, expected: str | None) -> None:
    assert resolved(clause, subject) == expected


def test_question_part() -> None:
    mozart = "Wolfgang Amadeus Mozart"
    # the last clause names the subject: taken as it is
    assert question_part("Doing research on carmakers - where is Toyota based?", "Toyota") == (
        "where is Toyota based?"
    )
    # only the context names it: the pronoun stands for it
    assert question_part("Writing a report on Mozart - what's his birthplace?", mozart) == (
        "what's Wolfgang Amadeus Mozart's birthplace?"
    )
    # one clause, no subject, no pronoun to resolve, or the subject nowhere: nothing
    assert question_part("Where was Mozart born?", mozart) is None
    assert question_part("Writing a report on Mozart - where was he born?", None) is None
    assert question_part("Writing a report on Mozart - which city?", mozart) is None
    assert question_part("Writing a report - where was he born?", mozart) is None
    # an answer stub asks nothing: it would be in scope of every edit on the subject
    assert question_part("Where was Mozart born? He was", mozart) is None
    assert question_part("Where was Mozart born? Mozart was", mozart) is None
    # a first name alone does not name the subject: Frank Wess is not Frank Mantooth
    assert question_part("Frank Wess? What do they play?", "Frank Mantooth") is None
    assert question_part("Mantooth? What do they play?", "Frank Mantooth") == (
        "What do Frank Mantooth play?"
    )
    # nor does a word of another name: Georgia Space Grant Consortium is not Ilia II of Georgia
    georgia = "Where is Georgia Space Grant Consortium? It is located in"
    assert question_part(georgia, "Ilia II of Georgia") is None
    assert question_part("Tell me about Georgia. Where is it located?", "Ilia II of Georgia") == (
        "Where is Ilia II of Georgia located?"
    )


def test_a_dash_inside_the_subjects_name_is_no_clause_end() -> None:
    """KnowEdit names events with a dash ("rowing at the 1987 Pan American Games \u2013 men's
    coxless pair", an en dash): the words after it are part of the name, not a question after some
    context, so there is no question part (before, "men's coxless pair is followed by" was
    routed alone and reached the edit on what the event follows)."""
    event = "rowing at the 1987 Pan American Games \u2013 men's coxless pair"
    assert question_part(f"{event} is followed by", event) is None
    assert question_part(f"Reading about {event} - what follows it?", event) == (
        f"what follows {event}?"
    )
