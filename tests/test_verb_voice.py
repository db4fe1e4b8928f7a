"""Turned-around verbs: the same verb in the other voice, the subject in its place, asks the
inverse relation ("X follows" / "X is followed by"); a paraphrase never reads so."""

from __future__ import annotations

import pytest

from memedit.verb_voice import stem, turned_around, verb_uses


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("follows", "followed", "follow"), "follow"),
        (("precedes", "preceded"), "preced"),
        (("carries", "carried"), "carri"),
        (("writes", "written"), "writ"),
        (("holds", "held"), "hold"),
    ],
)
def test_inflections_share_a_stem(words: tuple[str, ...], expected: str) -> None:
    assert {stem(w) for w in words} == {expected}


@pytest.mark.parametrize(
    ("query", "question", "subject"),
    [
        # KnowEdit's relation-specificity prompts against an edit on the other direction
        ("Stifter, Adalbert is followed by", "Stifter, Adalbert follows", "Stifter, Adalbert"),
        (
            "1977 in Irish television follows",
            "1977 in Irish television is followed by",
            "1977 in Irish television",
        ),
        # a question, with do-support or the verb inverted around the subject
        ("What does 1996 Adams follow?", "1996 Adams is followed by", "1996 Adams"),
        ("What is 1996 Adams followed by?", "1996 Adams follows", "1996 Adams"),
        ("Which company is Acme owned by?", "Acme owns", "Acme"),
        ("Acme employs", "Who is Acme employed by?", "Acme"),
        # an irregular participle; accents and case folded
        ("The Story of Nestlé is written by", "the story of nestle writes", "The Story of Nestlé"),
    ],
)
def test_the_other_voice_with_the_subject_in_place_is_turned_around(
    query: str, question: str, subject: str
) -> None:
    assert turned_around(query, question, subject)
    assert turned_around(question, query, subject)


@pytest.mark.parametrize(
    ("query", "question", "subject"),
    [
        # the same relation asked the other way round: the subject keeps its role
        ("What follows 1996 Adams?", "1996 Adams is followed by", "1996 Adams"),
        ("Who directed Jurassic Park?", "Jurassic Park was directed by", "Jurassic Park"),
        ("Who employs Jane Roe?", "Jane Roe is employed by", "Jane Roe"),
        ("What did Acme acquire?", "Acme acquires", "Acme"),
        # both voices the same: no rule ("married to" is one voice, and symmetric)
        ("Who is married to Jane Roe?", "Jane Roe is married to", "Jane Roe"),
        ("Which country is Bastille located in?", "Bastille, which is located in", "Bastille"),
        # voice unclear ("X, created in"; "X formed in"), or a noun, not a verb
        (
            "In which country was Shree Pundalik created?",
            "Shree Pundalik, created in",
            "Shree Pundalik",
        ),
        ("Where is Nestlé headquartered?", "Nestlé has its global headquarters in", "Nestlé"),
        (
            "Alinta Energy's headquarters is surrounded by",
            "Alinta Energy is headquartered in",
            "Alinta Energy",
        ),
        ("Which country is Godse a citizen of?", "Godse, a citizen of", "Godse"),
        # a "was" in the subject or in an earlier sentence is not this verb's
        (
            "What award did How the West Was Won receive?",
            "How the West Was Won received award(s), such as",
            "How the West Was Won",
        ),
        ("It is in use. Jacob Holdt originated from", "Jacob Holdt originates from", "Jacob Holdt"),
        # the subject not named whole, or no subject: nothing to place
        ("Adams is followed by", "1996 Adams follows", "1996 Adams"),
        ("1996 Adams is followed by", "1996 Adams follows", None),
        # another verb altogether
        ("1996 Adams comes after", "1996 Adams is followed by", "1996 Adams"),
    ],
)
def test_paraphrases_and_unclear_voices_are_not(
    query: str, question: str, subject: str | None
) -> None:
    assert not turned_around(query, question, subject)
    assert not turned_around(question, query, subject)


def test_a_verb_is_read_only_where_its_voice_and_place_are_plain() -> None:
    assert verb_uses("Nobody here", "Acme") is None  # the subject is not named
    [use] = verb_uses("Acme is followed by", "Acme")
    assert (use.stem, use.passive, use.subject_first, use.subject_acts) == (
        "follow",
        True,
        True,
        False,
    )
    [use] = verb_uses("What follows Acme?", "Acme")
    assert (use.passive, use.subject_first, use.subject_acts) == (False, False, False)
    [use] = verb_uses("Acme follows", "Acme")
    assert use.subject_acts
    # a plural noun after a possessive is no verb
    assert verb_uses("Acme's offices are in", "Acme") == []
