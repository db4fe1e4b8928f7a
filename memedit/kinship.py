"""Kinship words: a query on X's father is not in scope of an edit on X's child.

Family relations read alike to an embedding, and to the learnt head ("Jan van Goyen's
biological father is" reached "The child of Jan van Goyen is" at 0.96): they share a subject,
a kind of answer (a person) and most of their words. But the word for the kin says which
relation it is, and people use a handful of them. So when both the query and an edit's
question name the subject whole and each uses kinship words outside it, and the two share no
kin (father, mother, child, sibling, spouse), the query asks another relation.

A word stands for its kin as it is used: "X's father", "the father of X" and "X was
brought into the world by his father" ask for X's father, but "X is the father of" and
"Whose father is X?" ask for X's child (the subject holds the role), as :data:`TURNED` maps
them. "Parent" is father or mother. A word that starts a compound ("mother tongue", "parent
company", "sister city") is no kin. Siblings and parents are not told apart: X's siblings
have X's parents, and KnowEdit asks "The names of the siblings of X are" of an edit on X's
mother as portability (the edit should reach it).

On the training splits the rule fires on no CounterFact query, no question on an edit's own
relation and no paraphrase of the triples; on two of zsRE's 998 rephrases, both of another
relation ("What wife was Bidar Bakht born?" for "What was the name of Bidar Bakht mother?").
"""

from __future__ import annotations

from memedit.words import lowered_tokens, name_spans, named_alone

FATHER, MOTHER, CHILD, SIBLING, SPOUSE = "father", "mother", "child", "sibling", "spouse"
KIN: dict[str, frozenset[str]] = {
    **dict.fromkeys(["father", "fathers", "dad", "daddy", "papa"], frozenset([FATHER])),
    **dict.fromkeys(["mother", "mothers", "mom", "mum", "mommy", "mama"], frozenset([MOTHER])),
    **dict.fromkeys(["parent", "parents", "parentage"], frozenset([FATHER, MOTHER])),
    **dict.fromkeys(
        ["child", "children", "son", "sons", "daughter", "daughters", "kid", "kids"],
        frozenset([CHILD]),
    ),
    **dict.fromkeys(["offspring", "progeny", "descendant", "descendants"], frozenset([CHILD])),
    **dict.fromkeys(
        ["sibling", "siblings", "brother", "brothers", "sister", "sisters"], frozenset([SIBLING])
    ),
    **dict.fromkeys(
        ["spouse", "spouses", "wife", "wives", "husband", "husbands", "married", "wedded", "wed"],
        frozenset([SPOUSE]),
    ),
}
# What a kin word asks for when the subject holds the role ("X is the father of": X's child).
TURNED: dict[str, frozenset[str]] = {
    FATHER: frozenset([CHILD]),
    MOTHER: frozenset([CHILD]),
    CHILD: frozenset([FATHER, MOTHER]),
    SIBLING: frozenset([SIBLING]),
    SPOUSE: frozenset([SPOUSE]),
}
# Kin whose answers follow from each other's (X's siblings are X's parents' other children).
_LINKED = (frozenset([SIBLING, FATHER]), frozenset([SIBLING, MOTHER]))
# Words after which a kin word starts a compound, not a relative.
COMPOUND_HEADS = frozenset(
    [
        *("tongue", "tongues", "language", "languages", "company", "companies"),
        *("organization", "organisation", "organizations", "ship", "ships", "city", "cities"),
        *("church", "house", "board", "station", "club", "firm", "state", "states", "country"),
        *("land", "nature", "earth", "superior", "body", "unit", "group", "node", "process"),
        *("brand", "institution", "school", "college", "university", "film", "act", "species"),
        *("taxon", "genus", "in"),
    ]
)


def kin_asked(text: str, subject: str) -> frozenset[str] | None:
    """The kin ``text`` asks about, as the subject's (see the module docstring); None when it
    does not name ``subject`` whole."""
    spans = name_spans(text, subject)
    if not spans:
        return None
    tokens = lowered_tokens(text)
    asked: set[str] = set()
    for k, (word, start, end) in enumerate(tokens):
        if word not in KIN or any(start < b and end > a for a, b in spans):
            continue
        after = tokens[k + 1][0] if k + 1 < len(tokens) else ""
        if after in COMPOUND_HEADS:
            continue
        kin = KIN[word]
        before = tokens[k - 1][0] if k else ""
        # "X is the father of", not "the father of X" (nor "the father of Hon. X")
        of_whom = after == "of" and start >= spans[0][1] and all(a < end for a, _ in spans)
        if of_whom or before == "whose":
            kin = frozenset().union(*(TURNED[role] for role in kin))
        asked |= kin
    return frozenset(asked)


# Words of a count: "The number of children X has" asks another relation than "X's child".
_COUNT = frozenset(["number", "many", "count", "amount", "total"])


def same_kin(query: str, question: str, subject: str | None) -> bool:
    """Whether ``query`` asks about the same kin of ``subject`` as ``question`` (an edit's
    question part) does, and only that kin ("One child of X is" and "The child of X is"),
    neither of them a count ("How many children does X have?"). Both must name the subject
    as a name of its own (:func:`memedit.words.named_alone`: "the father of Paris Hilton" is
    not about Paris's father)."""
    if not subject or not (named_alone(query, subject) and named_alone(question, subject)):
        return False
    asked, edited = kin_asked(query, subject), kin_asked(question, subject)
    if not asked or asked != edited:
        return False
    return not any(w in _COUNT for text in (query, question) for w, _, _ in lowered_tokens(text))


def other_kin(query: str, question: str, subject: str | None) -> bool:
    """Whether ``query`` asks about other kin of ``subject`` than ``question`` (an edit's
    question part) does: both name kin, and none of it is shared or linked."""
    if not subject:
        return False
    asked, edited = kin_asked(query, subject), kin_asked(question, subject)
    if not asked or not edited or asked & edited:
        return False
    return not any(frozenset([a, e]) in _LINKED for a in asked for e in edited)
