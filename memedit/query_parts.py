"""Parts of a query to route again on their own: its question part, and the query with an
alias of a subject read as the subject.

People put the question last, after some context: "Doing research on Japanese carmakers -
where is Toyota based?", "Writing a school report on Mozart - what's his birthplace?". Read
whole, the context pulls the query away from the edit it asks about. :func:`question_part`
is the last clause (after the last sentence end, line break, dash or colon that has more
text after it), with a third-person pronoun in it resolved to the candidate edit's subject
when only the context names it: "what's Wolfgang Amadeus Mozart's birthplace?".

:meth:`memedit.store.EditStore.route_many` routes these parts of queries its first pass left
out of scope (beside :func:`memedit.relation_vectors.subject_part`, which keeps the
sentences that name the subject); an edit the part is in scope of is taken. It also reads
a follow-up question after the conversation's previous message (:func:`resolved_question`),
and a query that names a subject by one of its edit's aliases ("MJ" for Michael Jordan,
:class:`AliasIndex`, :func:`with_alias_resolved`): nothing in an embedding ties the two.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from memedit.edits import Edit
from memedit.relation_vectors import FUNCTION_WORDS
from memedit.router import last_name_word, name_evidence, subject_evidence
from memedit.words import (
    ENGLISH_STOPWORDS,
    WORD,
    content_words,
    fold,
    last_clause,
    name_spans,
    same_word,
    words_of,
)

# Third-person pronouns that can stand for a named subject, and how each is replaced.
PRONOUNS = frozenset(["he", "she", "it", "they", "him", "them", "his", "its", "their", "her"])
_PRONOUN = re.compile(rf"\b({'|'.join(sorted(PRONOUNS))})\b", re.IGNORECASE)
_ASKS_NOTHING = FUNCTION_WORDS | PRONOUNS  # words that do not make a clause a question
_POSSESSIVE = frozenset({"his", "its", "their"})
_NEXT_WORD = re.compile(r"\s+(\w+)")


def _possessive(text: str, end: int, pronoun: str) -> bool:
    """Whether the pronoun ending at ``end`` is possessive ("her" is both: "her parents",
    "married her")."""
    if pronoun in _POSSESSIVE:
        return True
    if pronoun != "her":
        return False
    after = _NEXT_WORD.match(text, end)
    return after is not None and after.group(1).lower() not in ENGLISH_STOPWORDS


def resolved(clause: str, subject: str) -> str | None:
    """``clause`` with its first third-person pronoun replaced by ``subject`` ("his" by
    "Mozart's"); None when it has none."""
    m = _PRONOUN.search(clause)
    if m is None:
        return None
    pronoun = m.group(1).lower()
    name = f"{subject}'s" if _possessive(clause, m.end(), pronoun) else subject
    return clause[: m.start()] + name + clause[m.end() :]


def names(text: str, subject: str) -> bool:
    """Whether ``text`` names ``subject``: all its content words, or the word people keep when
    they shorten it (:func:`memedit.router.name_evidence`: "Mozart", not "Frank" for Frank
    Mantooth) where it is not part of another name ("Georgia Space Grant Consortium" does
    not name Ilia II of Georgia)."""
    if subject_evidence(text, subject) == 1.0:
        return True
    if name_evidence(text, subject) != 1.0:
        return False
    word, own = last_name_word(subject), set(words_of(subject))
    for m in WORD.finditer(text):
        if same_word(fold(m.group()), word or ""):
            after = _NEXT_WORD.match(text, m.end())
            if after is None or not after.group(1)[:1].isupper() or fold(after.group(1)) in own:
                return True
    return False


def asks_something(clause: str, subject: str) -> bool:
    """Whether ``clause`` has a content word besides the subject's and its pronouns: "what's
    his birthplace?" does, the answer stub "It is" does not (it would be in scope of every
    edit on the subject)."""
    named = {fold(w) for w in content_words(subject)}
    return any(
        w.lower() not in _ASKS_NOTHING and fold(w) not in named for w in WORD.findall(clause)
    )


def question_part(text: str, subject: str | None, *, named: bool = True) -> str | None:
    """The last clause of ``text`` when it is less than all of it, asks something
    (:func:`asks_something`) and is about ``subject``: it names the subject (only with
    ``named``), or the text before it does and it refers to the subject by a pronoun (then
    resolved, :func:`resolved`). None otherwise."""
    if not subject:
        return None
    start, clause = last_clause(text)
    if start == 0 or not clause or not asks_something(clause, subject):
        return None
    if any(a < start < b for a, b in name_spans(text, subject)):
        return None  # the "clause end" is inside the name ("rowing at the 1987 Games - men's pair")
    if names(clause, subject):
        return clause if named else None
    if not names(text[:start], subject):
        return None
    return resolved(clause, subject)


def resolved_question(text: str, subject: str | None) -> str | None:
    """:func:`question_part` only where the last clause refers to ``subject`` by a pronoun:
    what a follow-up question ("Tell me about Mozart.\nWhere was he born?") adds to the
    question routed alone."""
    return question_part(text, subject, named=False)


# -- aliases --------------------------------------------------------------------------------------


def _words(text: str) -> list[tuple[str, int, int]]:
    """The words of ``text``, folded (:func:`memedit.words.fold`), with their spans."""
    return [(fold(m.group()), m.start(), m.end()) for m in WORD.finditer(text)]


def _key(alias: str) -> tuple[str, ...]:
    return tuple(word for word, _, _ in _words(alias))


def with_alias_resolved(text: str, edit: Edit) -> str | None:
    """``text`` with the first of the edit's aliases it names (as whole words, case and
    accents folded) replaced by the edit's subject; None when it names none."""
    if not edit.subject:
        return None
    words = _words(text)
    folded = [w for w, _, _ in words]
    found: list[tuple[int, int]] = []
    for alias in edit.aliases:
        key = _key(alias)
        for i in range(len(words) - len(key) + 1):
            if key and tuple(folded[i : i + len(key)]) == key:
                found.append((words[i][1], words[i + len(key) - 1][2]))
                break
    if not found:
        return None
    start, end = min(found)
    return text[:start] + edit.subject + text[end:]


def alias_question(text: str, edit: Edit) -> str | None:
    """:func:`question_part` of ``text`` with an alias of the edit's subject resolved
    (:func:`with_alias_resolved`)."""
    resolved_text = with_alias_resolved(text, edit)
    return None if resolved_text is None else question_part(resolved_text, edit.subject)


class AliasIndex:
    """The aliases of a store's live edits, by their folded words: which edits a query names
    by another name, in time linear in the query's words."""

    def __init__(self, edits: Iterable[Edit]) -> None:
        self.by_key: dict[tuple[str, ...], list[Edit]] = {}
        for edit in edits:
            for key in {_key(alias) for alias in edit.aliases} - {()}:
                self.by_key.setdefault(key, []).append(edit)
        self.longest = max(map(len, self.by_key), default=0)

    def named_in(self, text: str) -> list[Edit]:
        """The edits one of whose aliases ``text`` names, in the order it names them."""
        folded = [w for w, _, _ in _words(text)]
        found: dict[str, Edit] = {}
        for i in range(len(folded)):
            for n in range(1, min(self.longest, len(folded) - i) + 1):
                for edit in self.by_key.get(tuple(folded[i : i + n]), ()):
                    found.setdefault(edit.id, edit)
        return list(found.values())
