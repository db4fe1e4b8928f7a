"""More shapes of question, for router training only.

:mod:`memedit.question_forms` asks each known relation in a few fixed templates ("Where
was {} born?"). People ask in other shapes: by the relation's noun ("What is Mozart's
birthplace?", "tell me brazil's capital"), as an instruction ("Name the instrument Yo-Yo
Ma plays."), after a clause of context ("Writing a report on Mozart - where was Mozart
born?"), in other verbs ("Which sport does Usain Bolt compete in?"). And they ask about a
subject's attributes that no benchmark edits at all ("What is Usain Bolt's nickname?"),
which must stay out of scope of an edit on that subject. A head trained on the fixed
templates alone learnt their wording: a question it has not seen, naming an edit's
subject, scored at random. These shapes give training that variety.

And they turn a relation around: an edit on "The doctoral advisor of X is" is no answer to
"X was the doctoral advisor of" or "Whose father is X?", which ask the inverse relation in
nearly the same words (:func:`inverse_questions`). The relation cosine and a one-layer
reading both took such a query for the edit.

They are kept apart from the question forms, which evaluation also asks (the validation
table's "question" and "q-spec" columns), so that those columns keep asking the same
queries.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from memedit.question_forms import (
    DOMAINS,
    QUESTIONS,
    mid_sentence,
    other_relations,
    relation_of,
)

# relation -> (the nouns people use for it, more question templates)
ASKED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "capital_of": ((), ("Of which country is {} the capital?", "{} is the capital city of?")),
    "capital": (
        ("capital", "capital city", "seat of government"),
        ("Which city serves as the capital of {}?", "Where is the government of {} based?"),
    ),
    "continent": (
        ("continent",),
        ("{} lies on which continent?", "Which part of the world is {} in?"),
    ),
    "country_located": (
        ("location", "country"),
        (
            "Which country would I visit to see {}?",
            "{} is in which country?",
            "Where can I find {}?",
        ),
    ),
    "origin": (
        ("country of origin", "origin"),
        ("Which country did {} originate in?", "Where is {} originally from?"),
    ),
    "headquarters": (
        ("headquarters", "head office", "main office"),
        ("In which city is {} based?", "Where does {} have its head office?"),
    ),
    "twin_city": (("twin city", "sister city"), ("Which city is a sister city of {}?",)),
    "birthplace": (
        ("birthplace", "place of birth", "hometown"),
        ("In which city was {} born?", "Where does {} come from originally?", "{} was born where?"),
    ),
    "deathplace": (
        ("place of death",),
        ("Where did {} pass away?", "In which city did {} spend their last days?"),
    ),
    "language": (
        ("language", "native language", "mother tongue"),
        ("Which language does {} speak?", "In what language does {} write?"),
    ),
    "citizenship": (
        ("nationality", "citizenship"),
        ("Which passport does {} hold?", "{} is a citizen of which country?"),
    ),
    "employer": (
        ("employer",),
        ("Which company does {} work for?", "Who employs {}?", "Where is {} employed?"),
    ),
    "work_city": (("place of work",), ("Which city did {} work in?",)),
    "occupation": (
        ("occupation", "profession", "job"),
        ("What does {} do for work?", "What kind of work does {} do?", "What was {}'s career?"),
    ),
    "field": (
        ("field", "area of research", "discipline"),
        ("Which field is {} known for?", "What subject did {} work on?"),
    ),
    "position_played": (
        ("position", "playing position"),
        ("Where does {} play on the field?", "In which position does {} play?"),
    ),
    "instrument": (
        ("instrument",),
        ("What instrument is {} famous for?", "Which instrument did {} master?"),
    ),
    "genre": (
        ("genre", "musical style"),
        ("What style of music does {} make?", "Which genre is {} associated with?"),
    ),
    "sport": (
        ("sport",),
        (
            "Which sport does {} compete in?",
            "What sport is {} famous for?",
            "In which sport did {} compete?",
        ),
    ),
    "team": (("team", "club"), ("Which club does {} play for?", "Who does {} play for?")),
    "league": (("league",), ("Which league is {} part of?",)),
    "creator": (
        ("developer", "maker", "creator", "manufacturer"),
        ("Which company makes {}?", "Who is behind {}?", "Who produced {}?"),
    ),
    "owner": (("owner", "parent company"), ("Which company owns {}?", "Who does {} belong to?")),
    "network": (
        ("network", "original channel"),
        ("Which network broadcast {}?", "On what channel was {} first shown?"),
    ),
    "religion": (
        ("religion", "faith"),
        ("Which faith does {} practise?", "What is {}'s religious affiliation?"),
    ),
    "position_held": (
        ("title", "office"),
        ("Which office does {} hold?", "What is {}'s official role?"),
    ),
    "founded_in": (
        ("place of founding",),
        ("Where was {} established?", "In which city was {} started?"),
    ),
    "named_after": ((), ("Who was {} named after?", "Where does the name {} come from?")),
    "record_label": (
        ("record label", "label", "record company"),
        ("Which label is {} on?", "Which record company releases {}'s music?"),
    ),
    "gender": ((), ("Is {} a man or a woman?",)),
    "follows": (("predecessor",), ("What preceded {}?",)),
    "followed_by": (("successor",), ("What replaced {}?",)),
    "author": (("author", "writer"), ("Who penned {}?", "Which writer wrote {}?")),
    "father": ((), ("Who was {}'s dad?",)),
    "mother": ((), ("Who was {}'s mum?",)),
    "child": ((), ("Who are {}'s children?",)),
    "spouse": (
        ("spouse", "husband", "wife"),
        ("Who did {} marry?", "{} is married to whom?"),
    ),
    "siblings": ((), ("Does {} have any brothers or sisters?",)),
    "award": ((), ("Which prize did {} receive?", "What honour was {} awarded?")),
    "nomination": (
        (),
        ("What was {} up for a nomination for?", "Which prize was {} shortlisted for?"),
    ),
    "alma_mater": (
        ("alma mater", "university"),
        ("Where did {} go to university?", "Which school did {} graduate from?"),
    ),
    "cast": ((), ("Which actors appear in {}?",)),
    "birth_date": (("date of birth", "birthday"), ("In which year was {} born?",)),
    "children_count": ((), ("How many kids does {} have?",)),
    "country_associated": ((), ("Which country is {} linked to?",)),
    "ethnic_group": (("ethnicity",), ()),
    "director": (("director",), ("Who was the director of {}?", "Who made the film {}?")),
    "composer": (("composer",), ("Who wrote the score of {}?", "Who composed the music of {}?")),
    "architect": (("architect",), ("Who designed the building {}?",)),
    "screenwriter": (("screenwriter",), ("Who wrote the script for {}?",)),
    "currency": (
        ("currency", "money"),
        ("What money is used in {}?", "What do people pay with in {}?"),
    ),
    "anthem": (("national anthem",), ()),
    "burial": (("burial place", "grave"), ("Where was {} laid to rest?",)),
    "eye_color": (("eye colour",), ()),
    "orientation": ((), ()),
    "member_of": ((), ("Which organisation does {} belong to?",)),
}

# Questions on attributes that no edit's relation covers, by kind of subject (the order of
# ``DOMAINS``: person, place, work, organisation): out of scope of any edit on the subject.
ATTRIBUTES: tuple[tuple[str, ...], ...] = (
    (
        "What is {p} nickname?",
        "What is {p} real name?",
        "How tall is {s}?",
        "What is {p} net worth?",
        "What are {p} hobbies?",
        "How many followers does {s} have?",
        "What was {p} first big success?",
        "In which year did {s} retire?",
    ),
    (
        "What is the population of {s}?",
        "How big is {s} in square kilometres?",
        "What is the weather like in {s}?",
        "Who is the mayor of {s}?",
        "What time zone is {s} in?",
        "How many tourists visit {s} each year?",
    ),
    (
        "In which year was {s} released?",
        "How long is {s}?",
        "What is the plot of {s}?",
        "How many copies did {s} sell?",
        "Who is the main character of {s}?",
    ),
    (
        "How many employees does {s} have?",
        "Who is the chief executive of {s}?",
        "What is {p} annual revenue?",
        "What is the slogan of {s}?",
        "In which year was {s} founded?",
    ),
)

# Shapes of a question by a relation's noun: {s} the subject, {p} its possessive, {n} the noun.
NOUN_SHAPES = (
    "What is {p} {n}?",
    "What's the {n} of {s}?",
    "Tell me {p} {n}.",
    "Name the {n} of {s}.",
    "{p} {n}?",
    "{p} {n} is what?",
    "Do you know {p} {n}?",
    "what is {p} {n}",
)
# Shapes around a whole question: {q} as it is, {l} with a lower-case first letter.
QUESTION_SHAPES = (
    "Tell me, {l}",
    "Can you tell me {l}",
    "Quick question: {q}",
    "I was wondering, {l}",
    "{c} {q}",
    "{c} {l}",
)
# Clauses of context before a question about {s}.
CONTEXTS = (
    "I'm reading about {s}.",
    "Writing a school report on {s} -",
    "My friend keeps talking about {s}.",
    "Trivia night, the topic is {s}:",
    "Settle an argument about {s} for us.",
)


@dataclass(frozen=True)
class ShapedQuestions:
    same: list[str]  # on the edit's relation: in scope
    other: list[str]  # on another relation of the subject, or an attribute no edit has


def possessive(subject: str) -> str:
    """ "Mozart's", "the Beatles'"."""
    return subject + ("'" if subject.endswith("s") else "'s")


def _lowered(question: str) -> str:
    return question[:1].lower() + question[1:]


def _asked(relation: str, subject: str, rng: random.Random) -> str:
    """A question on ``relation`` about ``subject`` in one of the shapes above."""
    nouns, templates = ASKED.get(relation, ((), ()))
    if nouns and rng.random() < 0.5:
        shape = rng.choice(NOUN_SHAPES)
        return shape.format(s=subject, p=possessive(subject), n=rng.choice(nouns))
    question = rng.choice(templates + QUESTIONS[relation][1]).replace("{}", subject)
    shape = rng.choice(QUESTION_SHAPES + ("{q}",) * 2)
    context = rng.choice(CONTEXTS).format(s=subject)
    if shape == "{c} {l}" and context.endswith("."):
        shape = "{c} {q}"  # a sentence starts with a capital
    lowered = question if question.startswith(subject) else _lowered(question)  # a name keeps it
    return shape.format(q=question, l=lowered, c=context)


def shaped_questions(
    prompt: str, subject: str | None, rng: random.Random, *, other_share: float = 0.5
) -> ShapedQuestions | None:
    """One question on the edit's relation (in scope); with chance ``other_share``, one on
    another relation of its subject, and with the same chance one on an attribute no
    relation covers (for subjects of one kind only), both out of scope. None when the
    prompt's relation is unknown."""
    relation = relation_of(prompt, subject)
    if relation is None or subject is None:
        return None
    subject = mid_sentence(subject)
    same = [_asked(relation, subject, rng)]
    other = []
    others = other_relations(relation, within_family=True)
    if others and rng.random() < other_share:
        other.append(_asked(rng.choice(others), subject, rng))
    kinds = [i for i, domain in enumerate(DOMAINS) if relation in domain]
    if len(kinds) == 1 and rng.random() < other_share:
        template = rng.choice(ATTRIBUTES[kinds[0]])
        other.append(template.format(s=subject, p=possessive(subject)))
    return ShapedQuestions(same, other)


# Shapes that ask the inverse of "The {n} of {s} is": who has {s} as their {n}.
INVERSE_SHAPES = (
    "{s} is the {n} of",
    "{s} was the {n} of",
    "{s} served as the {n} of",
    "{s} is known as the {n} of",
    "Whose {n} is {s}?",
    "Whose {n} was {s}?",
    "Who has {s} as their {n}?",
)
# The roles whose inverse is a role of the same kind of subject (X's father has X as a
# child; X's doctoral advisor has X as a doctoral student): only these are turned around.
# Others would make nonsense ("Mozart is the place of birth of"), and symmetric ones (spouse,
# sibling) the same question.
INVERTIBLE = (
    "father",
    "mother",
    "parent",
    "child",
    "son",
    "daughter",
    "doctoral advisor",
    "doctoral student",
    "teacher",
    "student",
    "mentor",
    "successor",
    "predecessor",
)


def inverse_questions(
    prompt: str, subject: str | None, rng: random.Random, *, per_edit: int = 1
) -> list[str]:
    """``per_edit`` queries that ask the inverse of ``prompt``'s relation about ``subject``
    (out of scope of the edit), for prompts of the shape "The {noun} of {subject} is" or
    "{subject}'s {noun} is" where the noun is one of :data:`INVERTIBLE`; none otherwise."""
    if not subject:
        return []
    name = re.escape(subject)
    found = re.fullmatch(
        rf"The (?:names? of the )?([a-z][a-z' -]*?) of {name} (?:is|was|are|were)", prompt
    ) or re.fullmatch(rf"{name}['\u2019]s? ([a-z][a-z' -]*?) (?:is|was|are|were)", prompt)
    if found is None:
        return []
    noun = found.group(1)
    if noun not in INVERTIBLE:
        return []
    subject = mid_sentence(subject)
    forms = [shape.format(s=subject, n=noun) for shape in INVERSE_SHAPES]
    forms = [form[:1].upper() + form[1:] for form in forms]
    return rng.sample(forms, min(per_edit, len(forms)))
