"""Word-level matching the routing rules share: where a text names a subject as a name of
its own."""

from __future__ import annotations

import pytest

from memedit.words import named_alone


@pytest.mark.parametrize(
    ("text", "alone"),
    [
        ("Who is the father of Paris?", True),
        ("Paris's father is", True),
        ("Paris, the prince of Troy, is the son of", True),
        ("Is Paris the son of Priam?", True),
        # part of a longer name, or of a word
        ("Who is the father of Paris Hilton?", False),
        ("Parisian food is", False),
        ("Who is the father of Paris? And of Paris Hilton?", True),  # once is enough
    ],
)
def test_a_name_of_its_own(text: str, alone: bool) -> None:
    assert named_alone(text, "Paris") is alone
