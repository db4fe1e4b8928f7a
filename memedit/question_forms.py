"""Question forms of benchmark prompts, to teach the router how people ask.

Editing benchmarks state facts as cloze prompts ("The Eiffel Tower is located
in"), and their paraphrases are cloze prompts too. People ask questions ("Where
is the Eiffel Tower?"), often inside a prompt template ("Question: ...\\nAnswer:").
A router trained on cloze prompts alone learns that a question is a different
thing, so router training adds, for each edit whose prompt matches a known
relation, questions about the same relation (in scope) and about another
relation of the same subject (out of scope: relation specificity).

The table maps cloze templates to a relation by pattern, most specific first;
prompts matching no pattern get no questions.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

# relation -> (family, question templates). Relations in one family are too close to
# serve as each other's negatives (a location is also a country and a continent).
QUESTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "capital_of": (
        "capital_of",
        ("Which country has {} as its capital?", "{} is the capital of which country?"),
    ),
    "capital": ("capital", ("What is the capital of {}?", "Which city is the capital of {}?")),
    "continent": (
        "location",
        ("Which continent is {} in?", "On what continent is {}?", "What continent is {} part of?"),
    ),
    "country_located": (
        "location",
        (
            "Where is {}?",
            "Where is {} located?",
            "In which country is {}?",
            "Which country is {} located in?",
            "In which city is {}?",
        ),
    ),
    "origin": ("origin", ("Where does {} come from?", "What is the country of origin of {}?")),
    "headquarters": (
        "location",
        ("Where is {} headquartered?", "Where are the headquarters of {}?"),
    ),
    "twin_city": (
        "twin_city",
        ("What is the twin city of {}?", "Which city is twinned with {}?"),
    ),
    "birthplace": ("birthplace", ("Where was {} born?", "What is the birthplace of {}?")),
    "deathplace": ("deathplace", ("Where did {} die?", "In which city did {} die?")),
    "language": (
        "language",
        (
            "What language does {} speak?",
            "Which language is used in {}?",
            "What is the language of {}?",
        ),
    ),
    "citizenship": (
        "citizenship",
        ("What is the citizenship of {}?", "Which country is {} a citizen of?"),
    ),
    "employer": ("employer", ("Who does {} work for?", "Who is the employer of {}?")),
    "work_city": ("work_city", ("In which city did {} work?", "Where did {} work?")),
    "occupation": (
        "occupation",
        ("What is the occupation of {}?", "What does {} do for a living?", "What is {}'s job?"),
    ),
    "field": ("field", ("What field does {} work in?", "What is {}'s area of expertise?")),
    "position_played": (
        "position_played",
        ("What position does {} play?", "Which position does {} play in?"),
    ),
    "instrument": (
        "instrument",
        ("What instrument does {} play?", "Which instrument is {} known for playing?"),
    ),
    "genre": ("genre", ("What genre of music does {} play?", "What kind of music does {} play?")),
    "sport": ("sport", ("What sport does {} play?", "Which sport is {} known for?")),
    "team": ("team", ("Which team does {} play for?", "What team is {} a member of?")),
    "league": ("league", ("Which league does {} play in?", "In what league does {} play?")),
    "creator": (
        "creator",
        ("Who created {}?", "Which company developed {}?", "Who makes {}?"),
    ),
    "owner": ("creator", ("Who owns {}?", "Who is the owner of {}?")),
    "network": (
        "network",
        ("On which network did {} premiere?", "Which channel originally aired {}?"),
    ),
    "religion": ("religion", ("What religion does {} follow?", "What is the religion of {}?")),
    "position_held": (
        "position_held",
        ("What position does {} hold?", "What title does {} hold?"),
    ),
    "founded_in": ("origin", ("Where was {} founded?", "In which country was {} created?")),
    "named_after": ("named_after", ("Who is {} named after?", "What was {} named for?")),
    "record_label": ("record_label", ("Which record label is {} signed to?",)),
    "gender": ("gender", ("What is the gender of {}?",)),
    "follows": ("sequence", ("What came before {}?", "What does {} follow?")),
    "followed_by": ("sequence", ("What came after {}?", "What is {} followed by?")),
    "author": ("author", ("Who wrote {}?", "Who is the author of {}?")),
    "father": ("family", ("Who is the father of {}?", "Who is {}'s father?")),
    "mother": ("family", ("Who is the mother of {}?", "Who is {}'s mother?")),
    "child": ("family", ("Who is the child of {}?", "What is the name of {}'s child?")),
    "spouse": ("family", ("Who is {} married to?", "Who is the spouse of {}?")),
    "siblings": ("family", ("Who are the siblings of {}?",)),
    "award": ("award", ("Which award did {} win?", "What award has {} received?")),
    "nomination": (
        "nomination",
        ("Which award was {} nominated for?", "What has {} been nominated for?"),
    ),
    "alma_mater": ("alma_mater", ("Where did {} study?", "Which university did {} attend?")),
    "cast": ("cast", ("Who starred in {}?", "Who are the cast members of {}?")),
    "birth_date": ("birth_date", ("When was {} born?", "What is the date of birth of {}?")),
    "children_count": ("children_count", ("How many children does {} have?",)),
    "country_associated": (
        "location",
        ("Which country is {} associated with?", "What country is {} from?"),
    ),
    "ethnic_group": ("ethnic_group", ("Which ethnic group is {} associated with?",)),
    "director": ("director", ("Who directed {}?", "Who is the director of {}?")),
    "composer": ("composer", ("Who composed {}?", "Who wrote the music for {}?")),
    "architect": ("architect", ("Who was the architect of {}?", "Who designed {}?")),
    "screenwriter": ("screenwriter", ("Who wrote the screenplay of {}?",)),
    "currency": ("currency", ("What currency is used in {}?",)),
    "anthem": ("anthem", ("What is the anthem of {}?",)),
    "burial": ("deathplace", ("Where is {} buried?",)),
    "eye_color": ("eye_color", ("What colour are {}'s eyes?",)),
    "orientation": ("orientation", ("What is the sexual orientation of {}?",)),
    "member_of": ("member_of", ("Which organisation is {} a member of?",)),
}

# the kinds of subject a relation applies to: negatives come from the subject's own kinds
_PERSON = """birthplace deathplace language citizenship employer work_city occupation field
position_played instrument genre sport team league religion position_held gender father mother
child spouse siblings award alma_mater birth_date children_count country_associated ethnic_group
record_label burial eye_color orientation member_of origin"""
_PLACE = """capital capital_of continent country_located twin_city language currency anthem
named_after founded_in origin religion country_associated"""
_WORK = """creator owner network author cast director composer screenwriter language followed_by
follows genre named_after founded_in country_associated award architect"""
_ORGANISATION = """headquarters founded_in owner creator country_associated member_of named_after
field league"""
DOMAINS = tuple(frozenset(d.split()) for d in (_PERSON, _PLACE, _WORK, _ORGANISATION))
# Relations in no kind (award nominations: people's and works'), so that the other relations
# evaluation draws questions from stay, for every other edit, those it always drew; their
# own edits draw from every kind.
UNDRAWN = frozenset(["nomination"])
PERSON_RELATIONS = DOMAINS[0].difference(*DOMAINS[1:])  # a subject with one of these is a person

# (pattern over the prompt with the subject replaced by "{}", relation), most specific first
PATTERNS: tuple[tuple[str, str], ...] = (
    (r"which \{\} is the capital of", "capital_of"),
    (r"capital", "capital"),
    (r"continent", "continent"),
    (r"located in the country of", "country_located"),
    (r"headquarter", "headquarters"),
    (r"twin city", "twin_city"),
    (r"place of birth|was born in", "birthplace"),
    (r"place of burial", "burial"),
    (
        r"place of death|died|passed away|expired at|lost their life|succumbed|life ended",
        "deathplace",
    ),
    (
        r"record label|music label|record company|recorded for|represented by|label :",
        "record_label",
    ),
    (r"citizen", "citizenship"),
    (r"name of the employer|works for|employed by", "employer"),
    (
        r"worked in the city|was employed in|used to work in|found employment in|took up work in|worked in$",
        "work_city",
    ),
    (r"ethnic group", "ethnic_group"),
    (r"country which \{\} is associated with", "country_associated"),
    (r"religion|follower of", "religion"),
    (
        r"position held|holds the title|holds the position|has the position|whose position is|who has the position",
        "position_held",
    ),
    (
        r"field of work|domain of|area of work|works in the (field|area) of|specializes in|expertise",
        "field",
    ),
    (r"occupation|profession\b|works as|is a professional", "occupation"),
    (r"position|plays as", "position_played"),
    (r"sports team", "team"),
    (r"league", "league"),
    (r"play(s|ing|ed)? the sport|sport does|^the sport \{\} plays", "sport"),
    (r"instrument|performing on the|performs on the|playing the$|plays the$", "instrument"),
    (r"genre|known for performing|^\{\} performs$", "genre"),
    (
        r"language|mother tongue|speaks|spoke\b|writes in|understand|native speaker|speaker of|was written in|is written in",
        "language",
    ),
    (r"debut|premiere|aired on|released on", "network"),
    (r"owner|owned by", "owner"),
    (
        r"created by|developed by|product\b|production (company|of)|produced by|released by|^\{\}, by$",
        "creator",
    ),
    (r"named after|named for|called after", "named_after"),
    (r"originates from|originated from|originally from|was from$|is from$|^\{\},? from$", "origin"),
    (
        r"founded in|formed in|formulated in|started in|was created in|created in$|developed in|originated in",
        "founded_in",
    ),
    (
        r"located in|, in$|is in$|can be found in|location of|is within|is based in|where is",
        "country_located",
    ),
    (r"gender", "gender"),
    (r"is followed by", "followed_by"),
    (r"^\{\} follows$", "follows"),
    (r"author\b|authored by|(novel|book) (written )?by|^\{\} was written by", "author"),
    (r"father", "father"),
    (r"mother", "mother"),
    (r"name of the child", "child"),
    (r"spouse", "spouse"),
    (r"siblings", "siblings"),
    (r"nominat|shortlisted|longlisted|finalist", "nomination"),  # before award: not won
    (r"award", "award"),
    (r"alma mater|studied at|educated at|graduated from", "alma_mater"),
    (r"cast members", "cast"),
    (r"date of birth", "birth_date"),
    (r"number of children", "children_count"),
    (r"director|directed by", "director"),
    (r"composer|composed by", "composer"),
    (r"architect", "architect"),
    (r"screenwriter", "screenwriter"),
    (r"currency", "currency"),
    (r"anthem", "anthem"),
    (r"eye color", "eye_color"),
    (r"sexual orientation", "orientation"),
    (r"member of|belongs to the organization", "member_of"),
)
# Patterns ignore case, and one that starts with a letter matches from the start of a word:
# "died" is no part of "studied".
_COMPILED = tuple(
    (re.compile(rf"(?:(?<![a-z])|(?![a-z]))(?:{p})", re.IGNORECASE), r) for p, r in PATTERNS
)

# how people wrap a question in a prompt
WRAPPERS = (
    "{q}",
    "Question: {q}\nAnswer:",
    "Q: {q}\nA:",
    "{q} Answer:",
    "Answer the question. {q}",
    "{q} It is",
)

# Templates that completion-style callers put around a cloze prompt ("Question: X was born
# in\nAnswer:"); training wraps some benchmark prompts in them, in and out of scope alike.
CLOZE_WRAPPERS = (
    "Question: {q}\nAnswer:",
    "Q: {q}\nA:",
    "{q} Answer:",
    "Answer the question. {q}",
    "Complete the sentence: {q}",
    "Fill in the blank. {q} ___",
)


def mid_sentence(subject: str) -> str:
    """The subject as it reads inside a sentence: "the Eiffel Tower" for "The Eiffel Tower"
    ("Where is the Eiffel Tower?")."""
    return "the " + subject[4:] if subject.startswith("The ") else subject


def relation_of(prompt: str, subject: str | None) -> str | None:
    """The relation a cloze prompt asks about, or None when no pattern knows it."""
    if not subject or subject not in prompt:
        return None
    template = prompt.replace(subject, "{}").strip()
    for pattern, relation in _COMPILED:
        if pattern.search(template):
            return relation
    return None


# Families of relations that read alike but never answer for each other (a mother is no
# father; what X follows is not what follows X). Router training asks them as each other's
# negatives (``other_relations(..., within_family=True)``); the question forms that
# evaluation asks draw as they always did, so that its columns keep asking the same queries.
DISTINCT_FAMILIES = frozenset({"family", "sequence"})


def other_relations(relation: str, *, within_family: bool = False) -> list[str]:
    """The relations a subject with ``relation`` can also have (by its kinds of subject),
    outside ``relation``'s family: what its out-of-scope queries ask about. With
    ``within_family``, the other relations of its family too when the family is one of
    :data:`DISTINCT_FAMILIES`."""
    family = QUESTIONS[relation][0]
    kinds = [d for d in DOMAINS if relation in d] or list(DOMAINS)
    split = within_family and family in DISTINCT_FAMILIES
    return sorted(
        {r for d in kinds for r in d if QUESTIONS[r][0] != family or (split and r != relation)}
    )


def cloze_templates(prompts: Iterable[tuple[str, str | None]]) -> dict[str, list[str]]:
    """Each known relation's distinct cloze templates ("{} was born in") among (prompt,
    subject) pairs, in first-seen order; question-shaped prompts (zsRE's) are left out."""
    found: dict[str, dict[str, None]] = {}
    for prompt, subject in prompts:
        relation = relation_of(prompt, subject)
        if relation is None or subject is None or prompt.rstrip().endswith("?"):
            continue
        template = prompt.replace(subject, "{}").strip()
        if template.count("{}") == 1:
            found.setdefault(relation, {})[template] = None
    return {relation: list(templates) for relation, templates in found.items()}


def cloze_forms(
    prompt: str,
    subject: str | None,
    templates: Mapping[str, Sequence[str]],
    rng: random.Random,
    *,
    known: Collection[str] = (),
    per_edit: int = 1,
) -> list[str] | None:
    """``per_edit`` cloze prompts about ``subject`` on another relation (out of scope), each
    from ``templates`` of a relation in :func:`other_relations` that is not in ``known`` (the
    relations the subject has edits on); None when the prompt's relation is unknown.

    Benchmarks state a subject's other relations as questions (the question forms above) or
    in a few relation-specificity prompts, so a head trained on them learns that a cloze
    naming the edit's subject is in scope, whatever it asks: these are the counter-examples."""
    relation = relation_of(prompt, subject)
    if relation is None or subject is None:
        return None
    others = [
        r
        for r in other_relations(relation, within_family=True)
        if r not in known and templates.get(r)
    ]
    if not others:
        return []
    forms = []
    for _ in range(per_edit):
        template = rng.choice(templates[rng.choice(others)])
        named = subject if template.startswith("{}") else mid_sentence(subject)
        forms.append(template.replace("{}", named))
    return forms


@dataclass(frozen=True)
class QuestionForms:
    same: list[str]  # questions on the edit's relation: in scope
    other: list[str]  # questions on another relation of the same subject: out of scope


def question_forms(
    prompt: str, subject: str | None, rng: random.Random, *, per_kind: int = 2
) -> QuestionForms | None:
    """``per_kind`` in-scope and out-of-scope questions about ``subject``, some wrapped in a
    prompt template; None when the prompt's relation is unknown."""
    relation = relation_of(prompt, subject)
    if relation is None or subject is None:
        return None
    templates = QUESTIONS[relation][1]
    others = other_relations(relation)

    subject = mid_sentence(subject)

    def wrap(question: str, n: int) -> str:
        return question if n == 0 else rng.choice(WRAPPERS).replace("{q}", question)

    same = [wrap(rng.choice(templates).replace("{}", subject), n) for n in range(per_kind)]
    other = [
        wrap(rng.choice(QUESTIONS[rng.choice(others)][1]).replace("{}", subject), n)
        for n in range(per_kind)
    ]
    return QuestionForms(same, other)
