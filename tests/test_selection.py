"""Which in-scope edits reach the prompt (memedit.selection), as the wrapper and the
evaluation use it."""

from __future__ import annotations

from typing import Any

import pytest

from memedit.edits import EditDraft, build_edit
from memedit.router import RoutedEdit
from memedit.selection import select_edits


def _routed(
    text: str, score: float, created: str = "2024-01-01T00:00:00+00:00", **fields: Any
) -> RoutedEdit:
    return RoutedEdit(build_edit(EditDraft(text=text, created=created, **fields)), score, True)


FATHER = _routed("The father of Ada Lovelace is Lord Byron.", 0.70)
MOTHER = _routed("The mother of Ada Lovelace is Anne Isabella Milbanke.", 0.90)
SPOUSE = _routed(  # the same subject, written otherwise
    "ada  LOVELACE married William King.",
    0.80,
    subject="ada  LOVELACE",
    prompt="ada  LOVELACE married",
    target="William King",
)
EIFFEL = _routed("The Eiffel Tower is located in Rome.", 0.60)


def texts(chosen: tuple[RoutedEdit, ...]) -> list[str]:
    return [r.edit.text for r in chosen]


def test_one_edit_per_subject_the_best_scored() -> None:
    assert MOTHER.edit.subject == "Ada Lovelace" and SPOUSE.edit.subject == "ada  LOVELACE"
    chosen = select_edits([FATHER, EIFFEL, SPOUSE, MOTHER])
    assert texts(chosen) == [MOTHER.edit.text, EIFFEL.edit.text]  # best first, one per subject


def test_per_subject_can_be_raised_or_lifted() -> None:
    assert texts(select_edits([FATHER, EIFFEL, SPOUSE, MOTHER], per_subject=2)) == [
        MOTHER.edit.text,
        SPOUSE.edit.text,
        EIFFEL.edit.text,
    ]
    assert texts(select_edits([FATHER, EIFFEL, SPOUSE, MOTHER], max_edits=4, per_subject=None)) == [
        MOTHER.edit.text,
        SPOUSE.edit.text,
        FATHER.edit.text,
        EIFFEL.edit.text,
    ]
    assert len(select_edits([FATHER, EIFFEL, SPOUSE, MOTHER], per_subject=None)) == 3  # max_edits


def test_the_newest_on_a_relation_competes_for_its_subject() -> None:
    """An older live edit on the same subject and relation loses to the newer even when it
    scores higher; the subject's best is then chosen among what is left."""
    old = _routed("The Eiffel Tower is located in Paris.", 0.95, "2023-01-01T00:00:00+00:00")
    new = _routed("The Eiffel Tower is located in Oslo.", 0.50, "2025-01-01T00:00:00+00:00")
    height = _routed("The Eiffel Tower is 500 metres tall.", 0.70)
    assert old.edit.conflict_key == new.edit.conflict_key != height.edit.conflict_key
    assert texts(select_edits([old, new, height])) == [height.edit.text]
    assert texts(select_edits([old, new])) == [new.edit.text]


def test_edits_without_a_subject_are_each_their_own() -> None:
    bare = [
        RoutedEdit(build_edit(EditDraft(text=t, subject=None, prompt=None, target=None)), s, True)
        for t, s in (("tea at four", 0.8), ("coffee at nine", 0.7))
    ]
    assert all(r.edit.subject is None for r in bare)
    assert len(select_edits(bare)) == 2


@pytest.mark.parametrize("empty", [[], ()])
def test_nothing_in_scope_selects_nothing(empty: Any) -> None:
    assert select_edits(empty) == ()
