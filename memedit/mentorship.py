"""Advisor or student: a query on X's doctoral advisor is not in scope of an edit on X's
doctoral student.

The two relations share a subject, a kind of answer (a person) and nearly every word
("doctoral", "PhD", "thesis", "supervised"), and the learnt head routed "X's doctoral thesis
was supervised by" to the edit "The doctoral student of X is" (a third of the wrong edits
among subjects with an edit on each of their relations). Which side is asked is grammar:

- a role noun asks for the subject's one ("X's advisor", "the mentor of X", "Who was a
  student of X?"), unless the subject holds the role ("X was the doctoral advisor for",
  "X served as the Ph.D. advisor of", "Whose advisor was X?"): then for the other side;
- a verb of supervising asks for the advisor when the subject undergoes it ("X's thesis was
  supervised by", "Who supervised X?") and for the student when it does it ("X mentored the
  thesis of", "Whom did X advise?", "the candidate guided by X");
- "under": "X completed their PhD under the supervision of" and "X studied under" ask for
  the advisor, "the scholar under the tutelage of X" for the student.

A text says nothing unless it names the subject whole and has a word of the doctorate
("doctoral", "PhD", "thesis") or a role noun, so "X was directed by" (a film) is no
supervision; a role noun before "at" or "in" is a place of study ("X was a student at").
A text with both readings ("As the doctoral mentor, X guided the research of") says nothing
either: :func:`other_side` fires only when the two texts' sides are disjoint, and
:func:`same_side` only when they are one and the same side.
"""

from __future__ import annotations

from memedit.words import name_spans, named_alone, tokens_outside

ADVISOR, STUDENT = "advisor", "student"
OTHER = {ADVISOR: STUDENT, STUDENT: ADVISOR}
ROLE_NOUNS: dict[str, str] = {
    **dict.fromkeys(
        [
            *("advisor", "advisors", "adviser", "advisers", "supervisor", "supervisors"),
            *("mentor", "mentors", "promoter", "promotor", "tutor", "tutors", "professor"),
        ],
        ADVISOR,
    ),
    **dict.fromkeys(
        [
            *("student", "students", "pupil", "pupils", "advisee", "advisees", "mentee"),
            *("mentees", "supervisee", "supervisees", "doctorand", "doctorands", "disciple"),
            *("disciples", "candidate", "candidates", "protege", "proteges", "prot\u00e9g\u00e9"),
        ],
        STUDENT,
    ),
}
# Verbs of supervising, in any form but the bare noun-alike ("mentor", "guide", "direct").
SUPERVISING = frozenset(
    [
        *("supervise", "supervises", "supervised", "supervising"),
        *("advise", "advises", "advised", "advising", "mentored", "mentoring"),
        *("guides", "guided", "guiding", "directs", "directed", "directing"),
        *("oversee", "oversees", "oversaw", "overseen", "overseeing"),
        *("tutored", "tutoring", "coached", "coaching", "supervize", "supervized"),
    ]
)
# Nouns of "under the supervision of" (the one under it is the student).
SUPERVISION = frozenset(
    [
        *("supervision", "guidance", "tutelage", "direction", "mentorship", "mentoring"),
        *("auspices", "advice", "advisorship", "leadership", "wing"),
    ]
)
DOCTORATE = frozenset(
    [
        *("doctoral", "doctorate", "doctorates", "phd", "phds", "thesis", "theses"),
        *("dissertation", "dissertations", "postdoctoral", "academic", "graduate"),
    ]
)
_BE = frozenset(["is", "was", "are", "were", "be", "been", "being"])
_DETERMINERS = frozenset(["the", "a", "an", "his", "her", "their", "its"])
_MODIFIERS = DOCTORATE | frozenset(["ph", "d", "doctor", "former", "main", "first", "chief"])
# Words that link a subject to a role it holds ("X has also served as the advisor of").
_LINKING = (
    _BE
    | _DETERMINERS
    | _MODIFIERS
    | frozenset(["has", "have", "had", "as", "served", "serves", "acted", "acts", "also"])
    | frozenset(["recognized", "recognised", "known", "considered", "regarded", "once"])
)


def sides_asked(text: str, subject: str) -> frozenset[str] | None:
    """The sides of the doctoral relation ``text`` asks for, as the subject's (advisor or
    student; see the module docstring); None when it does not name ``subject`` whole, empty
    when it is not about supervision."""
    spans = name_spans(text, subject)
    if not spans:
        return None
    tokens = tokens_outside(text, spans)
    words = [w for w, _, _ in tokens]
    if not any(w in DOCTORATE or w in ROLE_NOUNS for w in words):
        return frozenset()

    def subject_before(k: int) -> bool:
        return any(b <= tokens[k][1] for a, b in spans)

    def subject_after(k: int) -> bool:
        return any(a >= tokens[k][2] for a, b in spans)

    def subject_next(k: int) -> bool:
        """Whether the subject follows token ``k`` straight away (it is its object)."""
        end = tokens[k][2]
        nxt = tokens[k + 1][1] if k + 1 < len(tokens) else len(text)
        return any(end <= a and a <= nxt and text[end:a].strip() == "" for a, _ in spans)

    def named_as(k: int) -> bool:
        """Whether the role noun at ``k`` is said of the subject before it: only linking words
        between ("X was the advisor of", "X served as the Ph.D. advisor for"), the subject
        not possessing it ("X's advisor")."""
        ends = [b for _, b in spans if b <= tokens[k][1]]
        if not ends or text[max(ends) : max(ends) + 1] in ("'", "\u2019"):
            return False
        gap = [w for w, a, _ in tokens[:k] if a >= max(ends)]
        return all(w in _LINKING for w in gap)

    asked: set[str] = set()
    for k, word in enumerate(words):
        if word in ROLE_NOUNS:
            if k + 1 < len(words) and words[k + 1] in ("at", "in"):
                continue  # a place of study or work: "X was a student at"
            side = ROLE_NOUNS[word]
            j = k - 1
            while j >= 0 and words[j] in _MODIFIERS:
                j -= 1
            # the subject holds the role: "X was the advisor of", "Whose advisor was X?"
            if j >= 0 and words[j] == "whose":
                holds = subject_after(k) and not subject_before(k)
            else:
                holds = named_as(k) and not subject_after(k)
            asked.add(OTHER[side] if holds else side)
        elif word == "under":
            j = k + 1
            while j < len(words) and words[j] in _DETERMINERS:
                j += 1
            if j < len(words) and words[j] in SUPERVISION:
                if j + 1 >= len(words) or words[j + 1] != "of":
                    continue
                j += 1
            else:
                j = k
            asked.add(STUDENT if subject_next(j) else ADVISOR)
        elif word in SUPERVISING:
            by = k + 1 < len(words) and words[k + 1] == "by"
            passive = by or (k > 0 and words[k - 1] in _BE)
            if by and subject_next(k + 1):
                asked.add(STUDENT)  # "the candidate guided by X"
            elif passive:
                if subject_before(k):
                    asked.add(ADVISOR)  # "X's thesis was supervised by"
            elif subject_before(k):
                asked.add(STUDENT)  # "X mentored the thesis of", "Whom did X advise?"
            elif subject_after(k):
                asked.add(ADVISOR)  # "Who supervised X?"
    return frozenset(asked)


def same_side(query: str, question: str, subject: str | None) -> bool:
    """Whether ``query`` asks for the same side of a doctoral supervision of ``subject`` as
    ``question`` (an edit's question part) does, and only that side; both name the subject
    as a name of its own (:func:`memedit.words.named_alone`)."""
    if not subject or not (named_alone(query, subject) and named_alone(question, subject)):
        return False
    asked = sides_asked(query, subject)
    return bool(asked) and asked == sides_asked(question, subject)


def other_side(query: str, question: str, subject: str | None) -> bool:
    """Whether ``query`` asks for the other side of a doctoral supervision of ``subject``
    than ``question`` (an edit's question part) does: both ask for a side, and none is
    shared."""
    if not subject:
        return False
    asked, edited = sides_asked(query, subject), sides_asked(question, subject)
    if not asked or not edited:
        return False
    return not asked & edited
