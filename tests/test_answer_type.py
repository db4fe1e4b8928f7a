"""A question for a time or an amount is not in scope of an edit whose answer is neither."""

from __future__ import annotations

import pytest

from memedit.answer_type import asks_time_or_amount, is_time_or_amount, other_answer


@pytest.mark.parametrize(
    "query",
    [
        "When was Minecraft first released?",
        "In what year did Wolfgang Amadeus Mozart die?",
        "Which year ended Amazon Bookstore Cooperative?",
        "How many seasons of Friends were made?",
        "How old was Mozart when he died?",
        "Quiz night: how long is the Nile?",  # the last clause asks
        "On what date was the Eiffel Tower opened?",
    ],
)
def test_questions_for_a_time_or_an_amount(query: str) -> None:
    assert asks_time_or_amount(query)


@pytest.mark.parametrize(
    "query",
    [
        "When Fedele Fischetti was killed, the locals held a",  # "when" asks nothing here
        "When communicating, Eli Pariser often uses the language,",
        "when was minecraft released",  # no question mark: not read as a question
        "What time zone is Wellington in?",
        "Where was Mozart born?",
        "Who wrote Pride and Prejudice?",
        "How did Mozart die?",
    ],
)
def test_other_queries_are_not(query: str) -> None:
    assert not asks_time_or_amount(query)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("1756", True),
        ("the 19th century", True),
        ("three", True),
        ("during the Renaissance era", True),
        ("World War II", True),
        ("twice a year", True),
        ("May", True),
        ("Vienna", False),
        ("Charlotte Bront\u00eb", False),
        ("CBS", False),
        ("Juventus", False),
    ],
)
def test_an_answer_that_could_be_a_time_or_an_amount(answer: str, expected: bool) -> None:
    assert is_time_or_amount(answer) is expected


def test_other_answer_needs_both() -> None:
    assert other_answer("When was Wolfgang Amadeus Mozart born?", "Vienna")
    assert not other_answer("When was Wolfgang Amadeus Mozart born?", "1756")
    assert not other_answer("Where was Wolfgang Amadeus Mozart born?", "Vienna")
    assert not other_answer("When was Wolfgang Amadeus Mozart born?", None)
