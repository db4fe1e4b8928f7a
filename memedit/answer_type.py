"""The kind of answer a question asks for: "When was Mozart born?" asks for a time, and an
edit whose answer is a place ("Mozart was born in Vienna.") does not answer it.

A question on another relation of an edit's subject often shares the edit's words ("born",
"published", "released") and differs only in its question word, which an embedding weighs
little: "In what year did Wolfgang Amadeus Mozart die?" reached "Wolfgang Amadeus Mozart was
born in Vienna." in the learnt router, "When was Pride and Prejudice first published?"
reached "Pride and Prejudice was written by Charlotte Brontë.". The edit's new answer says
what it can answer. So a question that asks for a time or an amount ("when", "in what
year", "how many", "how old", ...; the last clause, ending in a question mark) is not in
scope of an edit whose answer has no number, number word or word of time ("1756", "three",
"the 19th century", "during the Renaissance", "World War II" all have one). Only a
question counts: "When Mozart was in Vienna, he wrote" asks nothing.

On the training splits this takes out no CounterFact, KnowEdit or triples query that an
edit should reach, and three of zsRE's 998 rephrases, whose new answers are of another kind
than their questions ("In what year did GWR 4073 Class 5043 Earl of Mount Edgcumbe come into
use?" -> "Marcharrision"); the edit's own question is never taken out (two of zsRE's
prompts would be).
"""

from __future__ import annotations

import re

from memedit.words import last_clause

# A question for a time or an amount, at the start of the last clause.
_ASKS_TIME_OR_AMOUNT = re.compile(
    r"(?:(?:in|on|at|by|since|until|from|during)\s+)?"
    r"(?:when\b"
    r"|(?:what|which)\s+(?:year|years|date|day|month|century|decade|era|age|time)\b(?!\s+zone)"
    r"|how\s+(?:many|much|old|long|tall|high|far|big|large|often|heavy|deep|wide)\b)",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_ROMAN = re.compile(r"\b[IVXLC]{2,}\b")  # "World War II", "Louis XIV"
_WORD = re.compile(r"[a-z]+")
_NUMBERS = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
    *("eighteen", "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy"),
    *("eighty", "ninety", "hundred", "hundreds", "thousand", "thousands", "million"),
    *("millions", "billion", "billions", "dozen", "dozens", "first", "second", "third"),
    *("fourth", "fifth", "once", "twice", "half", "none", "few", "several", "many", "no"),
    *("single", "couple"),
)
_TIMES = (
    *("century", "centuries", "decade", "decades", "year", "years", "month", "months"),
    *("week", "weeks", "day", "days", "hour", "hours", "minute", "minutes", "ago", "age"),
    *("ages", "era", "eras", "period", "epoch", "dynasty", "reign", "war", "times"),
    *("yesterday", "today", "tomorrow", "recently", "lately", "soon", "later", "earlier"),
    *("early", "late", "spring", "summer", "autumn", "fall", "winter", "season", "morning"),
    *("evening", "night", "noon", "midnight", "weekend", "christmas", "easter", "january"),
    *("february", "march", "april", "may", "june", "july", "august", "september"),
    *("october", "november", "december", "monday", "tuesday", "wednesday", "thursday"),
    *("friday", "saturday", "sunday", "bc", "bce", "ad", "ce", "daily", "weekly", "monthly"),
    *("yearly", "annually", "hourly", "always", "never", "rarely", "seldom", "often"),
    *("sometimes", "occasionally", "free"),
)
NUMBER_OR_TIME_WORDS = frozenset(_NUMBERS + _TIMES)


def asks_time_or_amount(query: str) -> bool:
    """Whether the last clause of ``query`` is a question for a time or an amount."""
    _, clause = last_clause(query)
    return clause.endswith("?") and _ASKS_TIME_OR_AMOUNT.match(clause) is not None


def is_time_or_amount(answer: str) -> bool:
    """Whether ``answer`` could be a time or an amount: it has a digit, a Roman numeral, or a
    word of number or time."""
    if _DIGIT.search(answer) or _ROMAN.search(answer):
        return True
    return any(w in NUMBER_OR_TIME_WORDS for w in _WORD.findall(answer.lower()))


def other_answer(query: str, answer: str | None) -> bool:
    """Whether ``query`` asks for a time or an amount and ``answer`` (an edit's new answer)
    is neither."""
    return bool(answer) and asks_time_or_amount(query) and not is_time_or_amount(answer or "")
