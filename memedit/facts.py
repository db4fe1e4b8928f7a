"""Derive subject, question part and target from a free-text fact.

``memedit add "The Eiffel Tower is located in Rome."`` gives only a sentence.
Routing works best on the *question part* of an edit ("The Eiffel Tower is
located in") rather than on its new answer, and conflict detection needs the
subject and the relation. This module recovers them with a small, predictable
rule set for the sentences people type; when the rules do not apply it says so
(returns ``None``) and the edit routes on its whole text.

The shapes it knows (each tested in ``tests/test_edits.py``; the wordings come from
CounterFact's and KnowEdit's train splits, where it finds the given subject, prompt and
target for 98% of CounterFact's sentences and 94-98% of KnowEdit's):

- a name, its verb, the answer: "The Eiffel Tower | is located in | Rome";
- a phrase about the name: "The capital of | France | is | Lyon", "The language used by
  X is", "The name of the country which X is associated with is", "X's mother tongue is";
- a place first: "In Gibraltar, the language spoken is | Finnish";
- a name before a comma or a relative clause: "Olot, | located in | India", "Toko Yasuda,
  | the | piano", "Ministry of Foreign Affairs, whose headquarters are in | London";
- a question and its answer: "Who is the CEO of Apple? | Tim Cook";
- a name and the rest, without a verb: "Bakuman | from | Japan";
- the kind of answer named before it stays in the question: "plays the instrument | trumpet".

A subject or target the caller gives (``memedit add TEXT --subject ...``) fixes that part.
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
_DETERMINERS = frozenset(["the", "a", "an"])
_COPULAS = frozenset(["is", "are", "was", "were"])
# Nouns that name the kind of answer right before it ("plays the position | goaltender").
_ANSWER_KINDS = frozenset(["instrument", "position", "sport", "language", "genre", "religion"])
# Words that open an answer that is a sentence of its own ("It is Sheffield").
_ANSWER_OPENINGS = frozenset(["it", "they", "he", "she", "this", "that", "the", "its", "their"])
_QUESTION_WORDS = frozenset(
    ["what", "which", "who", "whom", "whose", "where", "when", "why", "how"]
)
# Verbs that mark the end of a subject wherever they stand: a subject may end in a
# lower-case word ("... men's doubles follows ..."), and these are seldom nouns.
_ANYWHERE_VERBS = frozenset(["follows", "precedes"])
# "Olot, which | is located in", "Ministry of Foreign Affairs, whose headquarters | are in": a
# relative clause after the name.
_CLAUSE_AFTER_NAME = re.compile(r"^(?P<name>.*?\S),?\s+(?:which|who|that|whose)(?:\s.*)?$")
# "In Gibraltar, the language spoken | is": the place is what the fact is about.
_LEADING_PLACE = re.compile(r"^In (?P<subject>[^,]+), .+$")
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


def _is_adverb(token: str) -> bool:
    """ "originally", "professionally": listed, or a lower-case -ly word."""
    return token.lower() in _ADVERBS or (token.islower() and token.endswith("ly"))


def _is_possessive(word: str) -> bool:
    """ "Darrieux's", "Darrieux\u2019s": a name's possessive."""
    return word.endswith(("'s", "\u2019s"))


def _first_verb(tokens: list[str]) -> int | None:
    """Where the verb that ends the subject is, by the rules of ``_is_verb``."""
    return next((i for i, tok in enumerate(tokens) if i > 0 and _is_verb(tok, i, tokens)), None)


def _bare(token: str) -> str:
    """A token without the punctuation that may close a clause ("Olot," -> "Olot")."""
    return token.rstrip(",;:?")


def _is_verb(token: str, position: int, tokens: list[str]) -> bool:
    word = token.lower()
    if word in _AUXILIARIES:
        return True
    if position == 0 or not token.isalpha() or not token.islower():
        return False
    if word in _FUNCTION_WORDS or word in _NAME_CONNECTORS:
        return False
    before = tokens[position - 1]
    if position == 1 and before.lower() in _DETERMINERS:
        return False  # "The names of ...": a noun after a sentence's first determiner
    if _is_possessive(before):
        return False  # "Danielle Darrieux's parents ...": a noun after a possessive
    if word in _ANYWHERE_VERBS:
        return True  # "1988 Slovenian Badminton Championships men's doubles follows ..."
    # "Toko Yasuda plays ...", "Apple acquired ...", "George Orwell wrote ...": a lower-case
    # -s/-ed word (or a common irregular past) right after a capitalised name, after a name
    # and an adverb ("Breaking Bad originally aired ..."), or after a name's possessed noun
    # ("Paul Gorguloff's life ended in ...").
    shaped = word.endswith("s") or word.endswith("ed") or word in _IRREGULAR_VERBS
    after_name = (
        _is_capitalised(before)
        or (position >= 2 and _is_adverb(before) and _is_capitalised(tokens[position - 2]))
        or (position >= 2 and before.islower() and _is_possessive(tokens[position - 2]))
    )
    return shaped and after_name


def _name_end(tokens: list[str], start: int) -> int:
    """The end of the proper name that starts at ``tokens[start]`` (capitalised words, and the
    connectors between them: "Bank of America", "Exarchate of Ravenna")."""
    end = start
    while end < len(tokens):
        if _is_capitalised(tokens[end]):
            end += 1
            if tokens[end - 1] != _bare(tokens[end - 1]):
                break  # "Hyrynsalmi," ends the name
            continue
        connectors = end
        while connectors < len(tokens) and tokens[connectors].lower() in _NAME_CONNECTORS:
            connectors += 1
        if (
            connectors == end
            or connectors >= len(tokens)
            or not _is_capitalised(tokens[connectors])
        ):
            break
        end = connectors
    return end


def _split_target(predicate: list[str]) -> int | None:
    """Index in ``predicate`` where the target starts, or None."""
    if len(predicate) < 2:
        return None
    # A trailing proper name ("... located in Rome", "... citizen of the United States",
    # "... Knight's Cross of the Iron Cross").
    start = len(predicate)
    while start > 0:
        if _is_capitalised(predicate[start - 1]):
            start -= 1
            continue
        connectors = start
        while connectors > 0 and predicate[connectors - 1].lower() in _NAME_CONNECTORS:
            connectors -= 1
        if (
            connectors == start
            or start == len(predicate)
            or connectors == 0
            or not _is_capitalised(predicate[connectors - 1])
            or predicate[connectors - 1].lower() in _AUXILIARIES
        ):
            break
        start = connectors
    if start < len(predicate) and start > 0:
        return start
    # Otherwise the words after the last function word ("plays the | piano"), after the
    # kind of answer when one is named ("plays the instrument | trumpet").
    for i in range(len(predicate) - 1, 0, -1):
        if (
            predicate[i - 1].lower() in _FUNCTION_WORDS
            and predicate[i].lower() not in _FUNCTION_WORDS
        ):
            return i + 1 if predicate[i] in _ANSWER_KINDS and i + 1 < len(predicate) else i
    # Otherwise a verb's bare object ("plays | jazz", "They play | opera").
    if predicate[-1].lower() not in _FUNCTION_WORDS and predicate[-2].lower() not in _DETERMINERS:
        return len(predicate) - 1
    return None


def _subject_of(chunk: str) -> tuple[str, bool]:
    """The name a fact is about, in the words before its verb.

    "The capital of France" -> "France"; "Danielle Darrieux's mother tongue" -> "Danielle
    Darrieux"; "The language used by Jean-Baptiste Marchand" -> "Jean-Baptiste Marchand";
    "In Gibraltar, the language spoken" -> "Gibraltar"; "Olot, which" -> "Olot". The flag says
    whether the name sits inside a phrase about it (all but the last of those).
    """
    clause = _CLAUSE_AFTER_NAME.match(chunk)
    if clause:
        name = clause.group("name")
        if chunk[len(name)] == "," or _is_capitalised(name.split()[-1]):  # not "The river that"
            chunk = name
    chunk = chunk.rstrip(",")
    leading = _LEADING_PLACE.match(chunk)
    if leading:
        return leading.group("subject"), True
    possessive = _POSSESSIVE.match(chunk)
    if possessive and _is_capitalised(possessive.group("subject").split()[-1]):
        return possessive.group("subject"), True
    relational = _RELATIONAL_NP.match(chunk)
    if relational and _is_capitalised(relational.group("subject")):
        words = relational.group("head").split()
        head = words[-1]
        a_name = words[0].lower() not in _DETERMINERS and not all(w.islower() for w in words[1:])
        if not a_name and (head.islower() or (head.isupper() and len(head) <= 5)):
            return relational.group("subject"), True  # "capital of", "CEO of"; not "Charles VI of"
    tokens = chunk.split(" ")
    if len(tokens) > 2 and tokens[0].lower() in _DETERMINERS and tokens[1].islower():
        # "The name of the country which Goursez Vreizh", "The number of children Adolf
        # Miethe": the name inside a noun phrase about it; all that follows "which", whatever
        # its case ("The name of the country which canton of Orcieres").
        which = max((i for i, word in enumerate(tokens) if word == "which"), default=0)
        if 1 < which < len(tokens) - 1:
            return " ".join(tokens[which + 1 :]), True
        named = next((i for i in range(2, len(tokens)) if _is_capitalised(tokens[i])), None)
        if named is not None:
            return " ".join(tokens[named:]), True
    return chunk, False


def _complement(predicate: list[str]) -> int | None:
    """Where the answer starts after a phrase about the subject and its last "is": all of it
    ("The occupation of X is | member of a legislative assembly", "The name of the country
    which X is associated with is | Franche-Comte"), after a leading article ("The currency of
    Japan is the | won")."""
    at = max((i for i, word in enumerate(predicate) if word.lower() in _COPULAS), default=None)
    if at is None or at + 1 >= len(predicate):
        return None
    at += 1
    word = predicate[at]
    if word.lower() in _DETERMINERS:
        return at + 1 if at + 1 < len(predicate) else None
    if word.islower() and (word in _FUNCTION_WORDS or word.endswith("ed")):
        return None  # "The headquarters of X is | located in | Mumbai": a place, as usual
    return at


def _fact(subject: str, prompt: str, target: str) -> ParsedFact | None:
    target = target.strip(",")
    words = subject.split()
    if not target or not words:
        return None
    if words[0].lower() in _QUESTION_WORDS and (len(words) == 1 or not _is_capitalised(words[1])):
        return None  # "Which position does ...": a question is no subject ("How I Met ..." is)
    if subject not in prompt:
        return None
    relation = prompt.replace(subject, "{}", 1)
    return ParsedFact(subject=subject, prompt=prompt, target=target, relation=relation)


def _question_and_answer(text: str) -> ParsedFact | None:
    """ "What is the twin city of Wellington? It is Sheffield." or "Who is the CEO of Apple?
    Tim Cook.": the subject is the name the question asks about; the target is the answer, or
    ends it when the answer is a sentence of its own ("It is | Sheffield")."""
    question, _, answer = text.partition("? ")
    words = question.split(" ")
    start = next((i for i in range(1, len(words)) if _is_capitalised(words[i])), None)
    answer_words = answer.split(" ")
    sentence = answer_words[0].lower() in _ANSWER_OPENINGS
    target_at = _split_target(answer_words) if sentence else 0
    if start is None or target_at is None:
        return None
    name = words[start : _name_end(words, start)]
    owner = next((i for i, word in enumerate(name) if _is_possessive(word)), None)
    if owner is not None:  # "What is Jiri Srnka's birthplace?"
        name = [*name[:owner], name[owner][:-2]]
    subject, _ = _subject_of(" ".join(name))  # "Who is the CEO of Apple?" -> "Apple"
    prompt = " ".join([question + "?", *answer_words[:target_at]])
    return _fact(subject, prompt, " ".join(answer_words[target_at:]))


def _apposition(tokens: list[str]) -> ParsedFact | None:
    """A name, a comma and the rest, without a verb: "Oliver Ames High School, in
    Pennsylvania", "Paul Biegel, a native of France", "In Hyrynsalmi, they understand Spanish"."""
    start = 1 if tokens[0] == "In" and len(tokens) > 1 and _is_capitalised(tokens[1]) else 0
    end = _name_end(tokens, start)
    if end == start or not tokens[end - 1].endswith(",") or end >= len(tokens):
        return None
    rest = tokens[end:]
    target_at = _split_target(rest) if len(rest) > 1 else None
    if target_at is None:
        return None
    subject = _bare(" ".join(tokens[start:end]))
    prompt = " ".join(tokens[: end + target_at])
    return _fact(subject, prompt, " ".join(rest[target_at:]))


def _name_then_rest(tokens: list[str]) -> ParsedFact | None:
    """A name and the rest, without a verb: "Bakuman from Japan", "Stade de France owner
    Nintendo", "AT&T Stadium's owner Google"."""
    end = _name_end(tokens, 0)
    rest = tokens[end:]
    if end == 0 or len(rest) < 2:
        return None
    if rest[0].lower() not in _FUNCTION_WORDS and not _is_capitalised(rest[-1]):
        return None  # "The Smith family originally lived": no name's fact
    target_at = _split_target(rest)
    if target_at is None or any(_is_capitalised(word) for word in rest[:target_at]):
        return None  # "People in Portugal speak Italian": another name, so not this shape
    name = " ".join(tokens[:end])
    subject = name[:-2] if _is_possessive(name) else name
    return _fact(subject, " ".join(tokens[: end + target_at]), " ".join(rest[target_at:]))


def _lower_case_verb(tokens: list[str]) -> int | None:
    """Where the verb is after a lower-case subject: an -s/-ed word before a function word
    ("suicide attack specializes in ...", "Honda CRF series, developed by ...")."""
    for i in range(1, len(tokens) - 1):
        word = tokens[i]
        if (
            word.isalpha()
            and word.islower()
            and word.endswith(("s", "ed"))
            and word not in _FUNCTION_WORDS
            and tokens[i + 1].lower() in _FUNCTION_WORDS
        ):
            return i
    return None


def parse_fact(
    sentence: str, subject: str | None = None, target: str | None = None
) -> ParsedFact | None:
    """Split a one-sentence fact into subject, question part and target.

    ``subject`` and ``target``, when given, are what the sentence is about and its answer
    (``memedit add TEXT --subject ... --target ...``, where the rules split it wrong): the
    rest is derived around them.

    >>> parse_fact("The Eiffel Tower is located in Rome.")
    ParsedFact(subject='The Eiffel Tower', prompt='The Eiffel Tower is located in', target='Rome', relation='{} is located in')
    >>> parse_fact("Visitors to Paris often buy Chanel.", subject="Paris")
    ParsedFact(subject='Paris', prompt='Visitors to Paris often buy', target='Chanel', relation='Visitors to {} often buy')
    """
    text = " ".join(sentence.split()).rstrip(_TRAILING_PUNCT).strip()
    if not text or text.endswith("?"):
        return None
    parsed = _parsed(text)
    if subject is None and target is None:
        return parsed
    if parsed is not None and subject in (None, parsed.subject) and target in (None, parsed.target):
        return parsed
    return _around(text, subject, target)


def _around(text: str, subject: str | None, target: str | None) -> ParsedFact | None:
    """The parts of ``text`` given its subject, its target or both (see parse_fact)."""
    if target is not None:
        target = " ".join(target.split())
        if not text.endswith(target) or len(target) >= len(text):
            return None  # the answer must end the sentence
        prompt = text[: -len(target)].rstrip()
        if subject is None:
            subject = _subject_before_verb(prompt.split(" "))
        return None if subject is None else _fact(subject, prompt, target)
    assert subject is not None
    subject = " ".join(subject.split())
    at = text.find(subject)
    if at < 0:
        return None
    head, rest = text[: at + len(subject)], text[at + len(subject) :].split()
    target_at = _split_target(rest)
    if target_at is None:
        return None
    return _fact(subject, " ".join([head, *rest[:target_at]]), " ".join(rest[target_at:]))


def _subject_before_verb(tokens: list[str]) -> str | None:
    """The subject of a question part ("The Statue of Liberty was a gift from")."""
    verb_at = _first_verb(tokens)
    if verb_at is None:
        verb_at = _lower_case_verb(tokens)
    return None if verb_at is None else _subject_of(" ".join(tokens[:verb_at]))[0]


def _parsed(text: str) -> ParsedFact | None:
    """parse_fact's rules on a normalised sentence."""
    if "? " in text:
        return _question_and_answer(text)
    tokens = text.split(" ")
    verb_at = _first_verb(tokens)
    if verb_at is None:
        apposition = _apposition(tokens)
        if apposition is not None:
            return apposition
        verb_at = _lower_case_verb(tokens)
    if verb_at is None:
        return _name_then_rest(tokens)
    if (
        verb_at + 2 < len(tokens)
        and tokens[verb_at].lower() not in _AUXILIARIES
        and tokens[verb_at].endswith("s")
        and tokens[verb_at + 1].lower() in _AUXILIARIES | _PLAIN_VERBS
    ):
        verb_at += 1  # "Emperor penguins | breed in ...": the -s word is a plural noun
    if verb_at > 1 and _is_adverb(tokens[verb_at - 1]):
        verb_at -= 1  # the adverb belongs to the question part, not to the subject
    predicate = tokens[verb_at:]
    subject, inside = _subject_of(" ".join(tokens[:verb_at]))
    target_at = _complement(predicate) if inside else None
    if target_at is None:
        target_at = _split_target(predicate)
    if target_at is None:
        return None
    prompt = " ".join(tokens[: verb_at + target_at])
    return _fact(subject, prompt, " ".join(predicate[target_at:]))
