"""Derive subject, question part and target from a free-text fact.

``memedit add "The Eiffel Tower is located in Rome."`` gives only a sentence.
Routing works best on the *question part* of an edit ("The Eiffel Tower is
located in") rather than on its new answer, and conflict detection needs the
subject and the relation. This module recovers them with a small, predictable
rule set for the declarative sentences people type; when the rules do not
apply it says so (returns ``None``) and the edit routes on its whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Verbs that end the subject of a declarative fact. Closed-class auxiliaries
# first; other verbs are recognised by shape (see _is_verb).
_AUXILIARIES = frozenset(
    [
        "is",
        "was",
        "are",
        "were",
        "has",
        "have",
        "had",
        "does",
        "did",
        "will",
        "would",
        "can",
        "could",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "became",
        "becomes",
        "become",
        "remains",
        "remained",
    ]
)
# Common verbs whose past tense has neither -s nor -ed ("George Orwell wrote ...").
_IRREGULAR_VERBS = frozenset(
    [
        "wrote",
        "won",
        "led",
        "made",
        "built",
        "sang",
        "ran",
        "took",
        "gave",
        "began",
        "left",
        "met",
        "taught",
        "bought",
        "sold",
        "grew",
        "drew",
        "fought",
        "held",
        "kept",
        "lost",
        "spoke",
        "went",
        "came",
        "brought",
        "found",
        "sought",
        "chose",
        "rode",
        "flew",
        "swam",
        "threw",
        "lived",
        "fell",
        "became",
        "beat",
        "broke",
        "caught",
        "drove",
        "felt",
        "got",
        "heard",
        "knew",
        "paid",
        "rose",
        "said",
        "saw",
        "sent",
        "shot",
        "spent",
        "stood",
        "stole",
        "struck",
        "told",
        "thought",
        "wore",
    ]
)
# Verbs in their plain form that follow a plural noun ("Emperor penguins breed in ..."): after
# one of these, or after an auxiliary, a lower-case -s word is the subject's plural noun, not
# its verb ("Emperor penguins are found in ..."). Words that are also adverbs or nouns ("live",
# "work": "Toko Yasuda plays live in Tokyo") are not among them.
_PLAIN_VERBS = frozenset(
    [
        "lived",
        "come",
        "originate",
        "grow",
        "eat",
        "feed",
        "breed",
        "nest",
        "migrate",
        "belong",
        "speak",
        "inhabit",
        "contain",
        "produce",
    ]
)
# Adverbs that may sit between a name and its verb ("Breaking Bad originally aired on ...").
_ADVERBS = frozenset(
    [
        "originally",
        "first",
        "initially",
        "later",
        "eventually",
        "finally",
        "also",
        "still",
        "now",
        "currently",
        "formerly",
        "previously",
        "once",
        "famously",
        "mainly",
        "mostly",
        "primarily",
        "actually",
        "officially",
        "reportedly",
        "allegedly",
        "recently",
        "always",
        "never",
        "briefly",
        "secretly",
    ]
)
# Words that may sit inside a proper name ("Bank of America", "Charles de Gaulle").
_NAME_CONNECTORS = frozenset(
    [
        "of",
        "de",
        "da",
        "di",
        "del",
        "der",
        "van",
        "von",
        "la",
        "le",
        "the",
        "and",
        "&",
        "y",
        "du",
        "des",
    ]
)
# Words after which the answer starts ("located in | Rome", "plays the | piano").
_FUNCTION_WORDS = frozenset(
    [
        "in",
        "of",
        "at",
        "on",
        "by",
        "for",
        "to",
        "as",
        "from",
        "with",
        "into",
        "the",
        "a",
        "an",
        "is",
        "was",
        "are",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "than",
        "like",
        "via",
    ]
)
_TRAILING_PUNCT = ".!;:"
_POSSESSIVE = re.compile(r"^(?P<subject>.+?)['\u2019]s\s+(?P<rest>[a-z].*)$")
_RELATIONAL_NP = re.compile(
    r"^(?P<head>(?:the |an? )?(?:[a-z][\w-]*\s+){0,3}?[a-z][\w-]*) of (?P<subject>.+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ParsedFact:
    """The parts of a declarative fact: ``prompt + " " + target == sentence``."""

    subject: str
    prompt: str
    target: str
    relation: str  # the prompt with the subject replaced by "{}"


def _is_capitalised(token: str) -> bool:
    return token[:1].isupper() or token[:1].isdigit()


def _is_verb(token: str, position: int, tokens: list[str]) -> bool:
    word = token.lower()
    if word in _AUXILIARIES:
        return True
    if position == 0 or not token.isalpha() or not token.islower():
        return False
    if word in _FUNCTION_WORDS or word in _NAME_CONNECTORS:
        return False
    # "Toko Yasuda plays ...", "Apple acquired ...", "George Orwell wrote ...": a lower-case
    # -s/-ed word (or a common irregular past) right after a capitalised name, or after a
    # name and an adverb ("Breaking Bad originally aired ...").
    shaped = word.endswith("s") or word.endswith("ed") or word in _IRREGULAR_VERBS
    before = tokens[position - 1]
    after_name = _is_capitalised(before) or (
        position >= 2 and before.lower() in _ADVERBS and _is_capitalised(tokens[position - 2])
    )
    return shaped and after_name


def _split_target(predicate: list[str]) -> int | None:
    """Index in ``predicate`` where the target starts, or None."""
    if len(predicate) < 2:
        return None
    # A trailing proper name ("... located in Rome", "... citizen of the United States").
    start = len(predicate)
    while start > 0 and (
        _is_capitalised(predicate[start - 1])
        or (
            predicate[start - 1].lower() in _NAME_CONNECTORS - {"the"}
            and start < len(predicate)
            and start - 2 >= 0
            and _is_capitalised(predicate[start - 2])
        )
    ):
        start -= 1
    if start < len(predicate) and start > 0:
        return start
    # Otherwise the words after the last function word ("plays the | piano").
    for i in range(len(predicate) - 1, 0, -1):
        if (
            predicate[i - 1].lower() in _FUNCTION_WORDS
            and predicate[i].lower() not in _FUNCTION_WORDS
        ):
            return i
    return None


def parse_fact(sentence: str) -> ParsedFact | None:
    """Split a one-sentence fact into subject, question part and target.

    >>> parse_fact("The Eiffel Tower is located in Rome.")
    ParsedFact(subject='The Eiffel Tower', prompt='The Eiffel Tower is located in', target='Rome', relation='{} is located in')
    """
    text = " ".join(sentence.split()).rstrip(_TRAILING_PUNCT).strip()
    if not text or "\n" in text or text.endswith("?"):
        return None
    tokens = text.split(" ")
    verb_at = next((i for i, tok in enumerate(tokens) if i > 0 and _is_verb(tok, i, tokens)), None)
    if verb_at is None:
        return None
    if (
        verb_at + 2 < len(tokens)
        and tokens[verb_at].lower() not in _AUXILIARIES
        and tokens[verb_at].endswith("s")
        and tokens[verb_at + 1].lower() in _AUXILIARIES | _PLAIN_VERBS
    ):
        verb_at += 1  # "Emperor penguins | breed in ...": the -s word is a plural noun
    if verb_at > 1 and tokens[verb_at - 1].lower() in _ADVERBS:
        verb_at -= 1  # the adverb belongs to the question part, not to the subject
    subject_tokens, predicate = tokens[:verb_at], tokens[verb_at:]
    target_at = _split_target(predicate)
    if target_at is None:
        return None
    subject = " ".join(subject_tokens)
    prompt = " ".join(tokens[: verb_at + target_at])
    target = " ".join(predicate[target_at:]).strip(",")
    relation_subject = subject
    # "The capital of France is ..." -> subject "France"; "Danielle Darrieux's mother tongue is ..." -> "Danielle Darrieux"
    possessive = _POSSESSIVE.match(subject)
    relational = _RELATIONAL_NP.match(subject)
    if possessive:
        relation_subject = possessive.group("subject")
    elif relational and _is_capitalised(relational.group("subject")):
        head = relational.group("head").split()[-1]
        if head.islower() or (head.isupper() and len(head) <= 5):  # "capital of", "CEO of"
            relation_subject = relational.group("subject")
    if not target or not relation_subject:
        return None
    relation = prompt.replace(relation_subject, "{}", 1)
    return ParsedFact(subject=relation_subject, prompt=prompt, target=target, relation=relation)
