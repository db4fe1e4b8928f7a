"""Word-level matching shared by the router's features, its rules and relation vectors: case
and accent folding, a subject's content words, "iPhones" counting for "iPhone", where a name
stands in a text, and where a query's last clause starts."""

from __future__ import annotations

import re
import unicodedata

WORD = re.compile(r"\w+")
# English words that tell no subject apart (relation vectors leave out these and more) ...
ENGLISH_STOPWORDS = frozenset(
    ["the", "a", "an", "of", "and", "in", "on", "at", "to", "for", "s", "is", "was"]
)
# ... and a name's particles ("Ludwig van Beethoven"): with them, the words a subject's
# evidence leaves out
NAME_PARTICLES = frozenset(["de", "la", "le", "du", "von", "van", "der", "da", "di", "del"])
STOPWORDS = ENGLISH_STOPWORDS | NAME_PARTICLES


def fold(text: str) -> str:
    """Case- and accent-folded: "Nestlé" and "nestle" are one word."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", bare).casefold()


def words_of(text: str) -> list[str]:
    """The folded words of ``text``."""
    return WORD.findall(fold(text))


def same_word(a: str, b: str) -> bool:
    """Equal, or one a short inflection of the other ("iPhones" for "iPhone")."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return len(short) >= 4 and len(long) - len(short) <= 2 and long.startswith(short)


def content_words(subject: str) -> list[str]:
    """The subject's words that name it ("Statue", "Liberty"; all of them if none is left)."""
    words = words_of(subject)
    return [w for w in words if w not in STOPWORDS] or words


def has_word(word: str, query_words: set[str]) -> bool:
    """Whether ``word`` (folded) is among ``query_words``, as itself or a short inflection."""
    return word in query_words or any(same_word(word, q) for q in query_words)


_TOKEN = re.compile(r"[\w'\u2019]+")  # a word with its apostrophes ("isn't", "X's")


def lowered_tokens(text: str) -> list[tuple[str, int, int]]:
    """The words of ``text`` in lower case, each with its span: what the routing rules read."""
    return [(m.group().lower(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def tokens_outside(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, int, int]]:
    """:func:`lowered_tokens` of ``text`` but those that overlap one of ``spans`` (a name's,
    from :func:`name_spans`): the words a rule reads around a subject."""
    return [t for t in lowered_tokens(text) if not any(t[1] < b and t[2] > a for a, b in spans)]


def name_spans(text: str, name: str) -> list[tuple[int, int]]:
    """Where ``text`` names ``name`` whole (case and accents folded), as character spans of
    ``text``; none when folding changes the text's length (the spans would not fit it)."""
    folded, wanted = fold(text), fold(name).strip()
    if not wanted or len(folded) != len(text):
        return []
    spans, start = [], folded.find(wanted)
    while start >= 0:
        spans.append((start, start + len(wanted)))
        start = folded.find(wanted, start + 1)
    return spans


_NEXT_WORD = re.compile(r"[\s'\u2019s]*\s+(\w)")


def named_alone(text: str, name: str) -> bool:
    """Whether ``text`` names ``name`` as a name of its own somewhere: not inside a word, and
    not followed by a capitalised word that would make it part of a longer name ("Paris" in
    "Paris Hilton")."""
    for start, end in name_spans(text, name):
        if (start and text[start - 1].isalnum()) or text[end : end + 1].isalnum():
            continue
        following = _NEXT_WORD.match(text, end)
        if following is None or not following.group(1).isupper():
            return True
    return False


# Where a clause ends: a sentence end, a line break, a dash between spaces or a colon, each
# followed by more text. Hyphens inside words ("Yo-Yo Ma") are not clause ends, nor are the
# periods of initials and common abbreviations ("Charles P. de Saint-Aignan", "Dr. King").
_CLAUSE_END = re.compile(
    r"(?:(?<!\b[A-Z])(?<!\b(?:Dr|Mr|Ms|St|Jr|Sr|vs))(?<!\bMrs)\.\s+|[!?]\s+|\n+"
    r"|\s+[-\u2013\u2014]+\s+|:\s+)(?=\S)"
)


def last_clause(text: str) -> tuple[int, str]:
    """Where the last clause of ``text`` starts, and the clause (all of ``text`` when it has
    one clause)."""
    start = 0
    for m in _CLAUSE_END.finditer(text):
        start = m.end()
    return start, text[start:].strip()
