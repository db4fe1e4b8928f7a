"""Advisor or student: a query on the subject's doctoral advisor is not in scope of an edit
on its doctoral student; a paraphrase on the same side, in any voice, is."""

from __future__ import annotations

import pytest

from memedit.mentorship import other_side, same_side, sides_asked

X = "Sverre of Norway"


@pytest.mark.parametrize(
    ("text", "sides"),
    [
        # a role noun: the subject's advisor or student ...
        ("The doctoral advisor of Sverre of Norway is", {"advisor"}),
        ("Who was Sverre of Norway's PhD supervisor?", {"advisor"}),
        ("The academic advisor for Sverre of Norway's doctoral studies was", {"advisor"}),
        ("The mentor of Sverre of Norway during their PhD studies was", {"advisor"}),
        ("Who is the doctoral student of Sverre of Norway?", {"student"}),
        (
            "Sverre of Norway has guided the academic journey of their doctoral student,",
            {"student"},
        ),
        # ... or the other side when the subject holds the role
        ("Sverre of Norway served as the doctoral advisor for", {"student"}),
        ("Sverre of Norway is recognized as the Ph.D. advisor for", {"student"}),
        ("Sverre of Norway was the doctoral professor of", {"student"}),
        ("Sverre of Norway was a doctoral student of", {"advisor"}),
        ("Whose doctoral advisor was Sverre of Norway?", {"student"}),
        # verbs: the subject undergoes the supervision, or does it
        ("Sverre of Norway's doctoral thesis was supervised by", {"advisor"}),
        ("The PhD dissertation of Sverre of Norway was directed by", {"advisor"}),
        ("The person who supervised Sverre of Norway's doctoral research was", {"advisor"}),
        ("Sverre of Norway mentored the doctoral thesis of", {"student"}),
        ("Whom did Sverre of Norway advise during their doctorate?", {"student"}),
        ("The Ph.D. candidate guided by Sverre of Norway was", {"student"}),
        # "under"
        ("Sverre of Norway completed their PhD under the supervision of", {"advisor"}),
        ("Sverre of Norway studied for a doctorate under", {"advisor"}),
        ("The doctoral scholar under the tutelage of Sverre of Norway is", {"student"}),
        # both readings: says nothing of one side
        ("As the doctoral mentor, Sverre of Norway guided the research of", {"advisor", "student"}),
        # no doctorate: a film directed by someone is no supervision
        ("Sverre of Norway was directed by", set()),
        ("Sverre of Norway was born in", set()),
    ],
)
def test_the_side_a_text_asks_for(text: str, sides: set[str]) -> None:
    assert sides_asked(text, X) == sides


def test_a_text_that_does_not_name_the_subject_asks_nothing_of_it() -> None:
    assert sides_asked("Who was his doctoral advisor?", X) is None
    assert not other_side("Who was his doctoral advisor?", f"The doctoral student of {X} is", X)


@pytest.mark.parametrize(
    ("query", "side", "other"),
    [
        (f"{X}'s doctoral thesis was supervised by", "advisor", "student"),
        (f"{X} completed their PhD under the supervision of", "advisor", "student"),
        (f"Who was the doctoral advisor of {X}?", "advisor", "student"),
        (f"{X} was a PhD student of", "advisor", "student"),
        (f"{X} mentored the doctoral thesis of", "student", "advisor"),
        (f"Who did {X} supervise as a PhD student?", "student", "advisor"),
        (f"{X} served as the doctoral advisor for", "student", "advisor"),
        (f"The doctoral scholar under the tutelage of {X} is", "student", "advisor"),
    ],
)
def test_the_advisor_is_not_the_student(query: str, side: str, other: str) -> None:
    question = f"The doctoral {other} of {X} is"
    assert other_side(query, question, X) and other_side(question, query, X)
    assert not other_side(query, f"The doctoral {side} of {X} is", X)


def test_a_text_with_no_side_rules_nothing_out() -> None:
    question = f"The doctoral advisor of {X} is"
    assert not other_side(f"{X} was educated at", question, X)
    assert not other_side(f"As the doctoral mentor, {X} guided the research of", question, X)
    assert not other_side(question, question, None)


def test_a_place_of_study_is_no_side() -> None:
    """ "X was a student at" is where X studied, not whose student X was."""
    assert sides_asked(f"{X} was a student at", X) == set()
    assert sides_asked(f"{X} was a doctoral student at Uppsala under", X) == {"advisor"}


def test_the_same_side() -> None:
    question = f"The doctoral advisor of {X} is"
    assert same_side(f"{X}'s doctoral thesis was supervised by", question, X)
    assert same_side(f"{X} completed their PhD under the supervision of", question, X)
    assert not same_side(f"{X} mentored the doctoral thesis of", question, X)
    assert not same_side(f"As the doctoral mentor, {X} guided the research of", question, X)
    assert not same_side(f"{X} was educated at", question, X)
    # the subject inside a longer name says nothing
    assert not same_side(f"Who supervised {X} Jr.'s doctoral thesis?", question, X)
