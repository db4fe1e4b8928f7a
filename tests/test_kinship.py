"""Kinship words: a query on the subject's father is not in scope of an edit on its child;
a paraphrase that names the same kin, or its turned-around role, is."""

from __future__ import annotations

import pytest

from memedit.kinship import kin_asked, other_kin, same_kin


@pytest.mark.parametrize(
    ("text", "subject", "kin"),
    [
        ("The name of the father of Huang Yangmeng is", "Huang Yangmeng", {"father"}),
        ("Who was Alberto Izura's mum?", "Alberto Izura", {"mother"}),
        ("Who are Janet Macdougall's parents?", "Janet Macdougall", {"father", "mother"}),
        ("Adi Hirschal was brought into the world by his father,", "Adi Hirschal", {"father"}),
        ("Who is Beyonc\u00e9 married to?", "Beyonc\u00e9", {"spouse"}),
        ("The number of children Adolf Miethe has is", "Adolf Miethe", {"child"}),
        ("One known descendant of Sverre of Norway is", "Sverre of Norway", {"child"}),
        # the subject holds the role: the question is on the other end of it
        ("Jan van Goyen is the father of", "Jan van Goyen", {"child"}),
        ("Whose mother is Jan van Goyen?", "Jan van Goyen", {"child"}),
        ("Prince Kamukushi, the son of", "Prince Kamukushi", {"father", "mother"}),
        # ... not when the subject follows ("the father of X"), even named twice
        ("I'm reading about Zhou Rui. Who is the father of Zhou Rui?", "Zhou Rui", {"father"}),
        ("The name of the mother of Hon. Stephana Warnock is", "Stephana Warnock", {"mother"}),
        # compounds and the subject's own words are no kin
        ("The mother tongue of Danielle Darrieux is", "Danielle Darrieux", set()),
        ("The parent company of Instagram is", "Instagram", set()),
        ("Where was the daughter of Zhou Rui born?", "daughter of Zhou Rui", set()),
    ],
)
def test_the_kin_a_text_asks_about(text: str, subject: str, kin: set[str]) -> None:
    assert kin_asked(text, subject) == kin


def test_a_text_that_does_not_name_the_subject_asks_nothing_of_it() -> None:
    assert kin_asked("Who is his father?", "Jan van Goyen") is None
    assert not other_kin("Who is his father?", "The child of Jan van Goyen is", "Jan van Goyen")


@pytest.mark.parametrize(
    ("query", "question", "subject"),
    [
        ("Jan van Goyen's biological father is", "The child of Jan van Goyen is", "Jan van Goyen"),
        (
            "Who is the sibling of Harald Bluetooth?",
            "The spouse of Harald Bluetooth is",
            "Harald Bluetooth",
        ),
        (
            "The name of the mother of Xu Suizhong is",
            "The name of the child of Xu Suizhong is",
            "Xu Suizhong",
        ),
        (
            "The name of the father of Mark Patricof is",
            "The number of children Mark Patricof has is",
            "Mark Patricof",
        ),
        # a role turned around: "X is the father of" asks for X's child
        ("Jan van Goyen is the father of", "The father of Jan van Goyen is", "Jan van Goyen"),
    ],
)
def test_other_kin_is_another_relation(query: str, question: str, subject: str) -> None:
    assert other_kin(query, question, subject)
    assert other_kin(question, query, subject)


@pytest.mark.parametrize(
    ("query", "question", "subject"),
    [
        ("Who is Jan van Goyen's dad?", "The father of Jan van Goyen is", "Jan van Goyen"),
        (
            "Who are the parents of Jan van Goyen?",
            "The mother of Jan van Goyen is",
            "Jan van Goyen",
        ),
        ("Jan van Goyen is the son of", "The father of Jan van Goyen is", "Jan van Goyen"),
        ("Jan van Goyen is the father of", "Jan van Goyen has a son named", "Jan van Goyen"),
        ("Who is Beyonc\u00e9's husband?", "Beyonc\u00e9 is married to", "Beyonc\u00e9"),
        # siblings share parents: KnowEdit asks one of an edit on the other as portability
        (
            "The names of the siblings of Katharine Savile are",
            "The name of the mother of Katharine Savile is",
            "Katharine Savile",
        ),
        # one side names no kin, or no subject
        (
            "Jan van Goyen's lineage continues through",
            "The child of Jan van Goyen is",
            "Jan van Goyen",
        ),
        (
            "The mother tongue of Jan van Goyen is",
            "The father of Jan van Goyen is",
            "Jan van Goyen",
        ),
        ("Who is the father of Jan van Goyen?", "The child of Jan van Goyen is", None),
    ],
)
def test_the_same_kin_or_no_kin_is_left_to_the_router(
    query: str, question: str, subject: str | None
) -> None:
    assert not other_kin(query, question, subject)
    assert not other_kin(question, query, subject)


@pytest.mark.parametrize(
    ("query", "question", "subject", "same"),
    [
        (
            "One child of Malcolm C. Press is",
            "The child of Malcolm C. Press is",
            "Malcolm C. Press",
            True,
        ),
        ("Who is Beyonc\u00e9's husband?", "Beyonc\u00e9 is married to", "Beyonc\u00e9", True),
        ("Jan van Goyen is the father of", "The child of Jan van Goyen is", "Jan van Goyen", True),
        # more kin in one than the other, other kin, or a count of them: not the same question
        ("Who is the wife of Paris's father?", "The father of Paris is", "Paris", False),
        ("Who is the mother of Paris?", "The father of Paris is", "Paris", False),
        (
            "The name of the child of Adolf Miethe is",
            "The number of children Adolf Miethe has is",
            "Adolf Miethe",
            False,
        ),
        (
            "How many children does Adolf Miethe have?",
            "The child of Adolf Miethe is",
            "Adolf Miethe",
            False,
        ),
        # the subject inside a longer name, or not named: says nothing
        ("Who is the father of Paris Hilton?", "The father of Paris is", "Paris", False),
        ("Who is his father?", "The father of Paris is", "Paris", False),
        ("Who is the father of Paris?", "The father of Paris is", None, False),
    ],
)
def test_the_same_kin(query: str, question: str, subject: str | None, same: bool) -> None:
    assert same_kin(query, question, subject) is same
