"""Nominated or won: a query on the awards the subject was nominated for is not in scope of
an edit on the awards it won, nor the other way round."""

from __future__ import annotations

import pytest

from memedit.nomination import award_asked, nominated_or_won

X = "Rose Byrne"


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("Rose Byrne received award nomination, such as", "nominated"),
        ("What award was Rose Byrne nominated for?", "nominated"),
        ("Rose Byrne was shortlisted for", "nominated"),
        ("Rose Byrne received award(s), such as", "won"),
        ("Which prize did Rose Byrne win?", "won"),
        ("Rose Byrne, who has been bestowed with prestigious award(s), including", "won"),
        # neither: no word of winning, or no award
        ("Which prize was Rose Byrne up for?", None),
        ("Rose Byrne received her education at", None),
        # the subject's own words are not read
        ("The Nobel Prize winner Rose Byrne was born in", None),
    ],
)
def test_what_a_text_asks_about_awards(text: str, asked: str | None) -> None:
    subject = "The Nobel Prize winner Rose Byrne" if "Nobel" in text else X
    assert award_asked(text, subject) == asked


def test_a_nomination_is_not_an_award_won() -> None:
    nominated, won = f"{X} received award nomination, such as", f"{X} received award(s), such as"
    assert nominated_or_won(f"What award was {X} nominated for?", won, X)
    assert nominated_or_won(f"Which awards has {X} won?", nominated, X)
    assert not nominated_or_won(f"What has {X} been nominated for?", nominated, X)
    assert not nominated_or_won(f"Which prize did {X} receive?", won, X)
    assert not nominated_or_won(f"Which prize was {X} up for?", won, X)
    assert not nominated_or_won("What award was she nominated for?", won, X)  # no subject
    assert not nominated_or_won(won, nominated, None)
