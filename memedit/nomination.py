"""Nominated or won: a query on the awards X was nominated for is not in scope of an edit on
the awards X received, nor the other way round.

Wikidata keeps the two apart ("nominated for", "award received"), people ask both, and the
texts differ by one word: "What award was X nominated for?" reached the edit "X received
award(s), such as" (the learnt head read them as one question), and "X received award
nomination" has "received" in it too. So a text asks for a nomination when it has a word of
being nominated ("nominated", "nomination", "shortlisted", "finalist"), and for an award won
when it has none of those but a word of an award ("award", "prize", "medal") and one of
winning it ("won", "received", "awarded", "recipient"). Anything else says nothing ("Which
prize was X up for?"), and so does a text that does not name the subject whole.
"""

from __future__ import annotations

from memedit.words import name_spans, tokens_outside

NOMINATED, WON = "nominated", "won"
NOMINATION_WORDS = frozenset(
    [
        *("nominated", "nomination", "nominations", "nominee", "nominees", "nominate"),
        *("nominates", "nominating", "shortlisted", "shortlist", "longlisted", "longlist"),
        *("finalist", "finalists", "contender", "contenders"),
    ]
)
AWARD_WORDS = frozenset(
    [
        *("award", "awards", "prize", "prizes", "medal", "medals", "trophy", "trophies"),
        *("honour", "honours", "honor", "honors", "accolade", "accolades", "decoration"),
        *("decorations", "distinction", "distinctions", "recognition", "recognitions"),
    ]
)
WINNING_WORDS = frozenset(
    [
        *("won", "win", "wins", "winning", "winner", "winners", "received", "receive"),
        *("receives", "receiving", "recipient", "recipients", "awarded", "granted"),
        *("bestowed", "conferred", "earned", "garnered", "laureate", "honored", "honoured"),
        *("obtained", "secured", "collected", "given", "presented", "got", "gained"),
    ]
)


def award_asked(text: str, subject: str) -> str | None:
    """Whether ``text`` asks for the subject's award nominations or awards won (see the
    module docstring), or None."""
    spans = name_spans(text, subject)
    if not spans:
        return None
    words = {w for w, _, _ in tokens_outside(text, spans)}
    if words & NOMINATION_WORDS:
        return NOMINATED
    if words & AWARD_WORDS and words & WINNING_WORDS:
        return WON
    return None


def nominated_or_won(query: str, question: str, subject: str | None) -> bool:
    """Whether one of ``query`` and ``question`` (an edit's question part) asks for the
    awards ``subject`` was nominated for and the other for those it won."""
    if not subject:
        return False
    asked, edited = award_asked(query, subject), award_asked(question, subject)
    return asked is not None and edited is not None and asked != edited
