"""Which in-scope edits go into a prompt.

A route can put several edits in scope. Two rules decide which of them reach the
answer, so that the wrapper, the server and ``memedit eval routing`` agree:

- of edits on one subject and relation, the newest (an older one that is still live,
  say because it was imported after the newer, loses to it);
- of edits on one subject, the best-scored only (``per_subject``, default 1). A query
  is almost always on one relation of a subject, and the router tells a subject's
  relations apart less well than it tells subjects apart: on the crowded-subjects
  validation row (each person with an edit on 14 relations) a fifth of the prompts and
  paraphrases had another edit of the same person in scope. ``None`` keeps them all,
  for queries that need several facts about one subject.

Edits without a subject are each their own subject. Then the best ``max_edits``.
"""

from __future__ import annotations

from collections.abc import Sequence

from memedit.edits import Edit, subject_key
from memedit.router import RoutedEdit

DEFAULT_MAX_EDITS = 3
DEFAULT_PER_SUBJECT = 1


def _subject_of(edit: Edit) -> str:
    return subject_key(edit.subject) or "\x00" + edit.id


def select_edits(
    matched: Sequence[RoutedEdit],
    max_edits: int = DEFAULT_MAX_EDITS,
    per_subject: int | None = DEFAULT_PER_SUBJECT,
) -> tuple[RoutedEdit, ...]:
    """The edits of ``matched`` (in scope) to put in a prompt, best first."""
    newest: dict[str, RoutedEdit] = {}
    for routed in matched:
        key = routed.edit.conflict_key or routed.edit.id
        held = newest.get(key)
        if held is None or (routed.edit.created, routed.edit.id) > (
            held.edit.created,
            held.edit.id,
        ):
            newest[key] = routed
    ranked = sorted(newest.values(), key=lambda r: r.score, reverse=True)
    if per_subject is not None:
        taken: dict[str, int] = {}
        kept = []
        for routed in ranked:
            subject = _subject_of(routed.edit)
            if taken.get(subject, 0) < per_subject:
                taken[subject] = taken.get(subject, 0) + 1
                kept.append(routed)
        ranked = kept
    return tuple(ranked[:max_edits])
