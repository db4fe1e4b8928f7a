"""Turned-around verbs: "X is followed by" asks what comes after X, "X follows" what comes
before it. A query that asks an edit's question with the same verb in the other voice, the
subject keeping its place, asks the inverse relation, and is out of scope.

Embeddings read the two as nearly one text (the words are the same but for "is ... by"), and
so does the learnt head: KnowEdit gives a subject's edit on "X follows" the relation-
specificity prompt "X is followed by" (and the other way round), and the head routed 15 of the
26 such prompts of its held-out records in scope. The rule is grammar, not learnt: the
subject *does* the verb when it comes before an active verb ("X follows", "What does X
follow?") or after a passive one's "by"; it *undergoes* it when it comes after an active verb
("What follows X?") or before a passive one ("X is followed by", "What is X followed by?").
Only a verb whose voice and place are plain counts: a present-tense verb right after the
subject or right after a wh-word before it, a verb after "does X", and a participle right
before "by". Anything else says nothing, and so does a text that does not name the subject
whole: "X, created in" and "X is written in" have no agent ("X writes in" is no inverse of
them), "Who is married to X?" and "X is married to" one voice. So paraphrases that keep the
meaning are not turned around: on the training splits the rule fires on no CounterFact,
triples or KnowEdit recent query, and on one of zsRE's 998 rephrases (itself turned around:
"Which company does Commodore 64 produce?" for "The Commodore 64 was produced by whom?").
"""

from __future__ import annotations

from typing import NamedTuple

from memedit.words import lowered_tokens, name_spans

_BE = frozenset(
    ["is", "was", "are", "were", "be", "been", "being", "isn't", "wasn't", "aren't", "weren't"]
)
_DO = frozenset(["does", "do", "did", "doesn't", "don't", "didn't"])
_AUXILIARIES = _BE | _DO | frozenset(["has"])
_WH = frozenset(["what", "who", "which", "whom", "that"])
# Irregular participles, each with the stem its present tense gives ("writes" -> "writ").
_IRREGULAR = {
    "written": "writ",
    "made": "mak",
    "known": "know",
    "held": "hold",
    "led": "lead",
    "built": "build",
    "given": "giv",
    "taken": "tak",
    "drawn": "draw",
    "sung": "sing",
    "sold": "sell",
}
_MIN_STEM = 3  # shorter stems ("us" of "uses"/"used") match too much by chance


class VerbUse(NamedTuple):
    stem: str
    passive: bool
    subject_first: bool  # the subject comes before the verb

    @property
    def subject_acts(self) -> bool:
        """The subject does the verb: first before an active verb, or after a passive one."""
        return self.subject_first != self.passive


def stem(word: str) -> str:
    """``word`` without its inflection: "follows", "followed" and "follow" give "follow"."""
    word = word.lower()
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    for suffix in ("ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word.rstrip("e")


def verb_uses(text: str, subject: str) -> list[VerbUse] | None:
    """The verbs of ``text`` whose voice and place next to ``subject`` are plain (see the
    module docstring); None when ``text`` does not name ``subject`` whole."""
    spans = name_spans(text, subject)
    if not spans:
        return None
    span = spans[0]
    tokens = lowered_tokens(text)
    outside = [k for k, (_, a, b) in enumerate(tokens) if not (a < span[1] and b > span[0])]
    before = [k for k in outside if tokens[k][2] <= span[0]]
    after = [k for k in outside if tokens[k][1] >= span[1]]
    possessive = text[span[1] : span[1] + 1] in ("'", "\u2019")
    uses = []
    for k in outside:
        word, start, _ = tokens[k]
        first = start >= span[1]
        right_after = bool(after) and k == after[0]
        right_before = bool(before) and k == before[-1]
        participle = word.endswith("ed") or word in _IRREGULAR
        if participle and k + 1 < len(tokens) and tokens[k + 1][0] == "by":
            uses.append(VerbUse(stem(word), True, first))
            continue
        present = word.endswith("s") and not word.endswith("ss") and word not in _AUXILIARIES
        if right_after and present and not possessive:  # "X follows"
            uses.append(VerbUse(stem(word), False, True))
        elif right_before and present and k >= 1 and tokens[k - 1][0] in _WH:  # "What follows X"
            uses.append(VerbUse(stem(word), False, False))
        elif right_after and bool(before) and tokens[before[-1]][0] in _DO:  # "does X follow"
            uses.append(VerbUse(stem(word), False, True))
    return uses


def turned_around(query: str, question: str, subject: str | None) -> bool:
    """Whether ``query`` asks ``question`` (an edit's question part, about ``subject``) with
    a verb of it in the other voice, the subject keeping its place: the inverse relation."""
    if not subject:
        return False
    asked, edited = verb_uses(query, subject), verb_uses(question, subject)
    if not asked or not edited:
        return False
    return any(
        a.stem == e.stem
        and len(a.stem) >= _MIN_STEM
        and a.passive != e.passive
        and a.subject_acts != e.subject_acts
        for a in asked
        for e in edited
    )
