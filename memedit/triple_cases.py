"""Router training cases from Wikidata triples: more relations, and ten phrasings of each.

The editing benchmarks ask about a few dozen relations, each in a handful of
phrasings, so a router trained on them alone learns those phrasings rather than
what makes two questions ask the same thing. The ConflictEdit/RoundEdit files
(``pitfalls/`` in the shared data) hold Wikidata triples over 23 relations, each
with a cloze prompt, a question, and ten paraphrase templates
(``round_prompts.json``, ``conflict_prompts.json``). From them this module makes
:class:`~memedit.formats.EditCase` objects as the benchmarks do: an edit on one
relation of a subject, with paraphrases and a question on that relation (in
scope), queries on the subject's other relations (relation specificity) and the
same relation asked about a subject that has no edit (neighbourhood).

Only query texts matter for routing, so a subject's other relations need not
have a known answer: they are drawn from the relations that subjects of its kind
have (people, works, places, classes).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memedit.edits import EditDraft
from memedit.errors import InputFormatError
from memedit.formats import EditCase

TRIPLE_FILES = (
    "easy.json",
    "hard.json",
    "reverse_edit.json",
    "composite_edit.json",
    "coverage_edit.json",
)
TEMPLATE_FILES = ("round_prompts.json", "conflict_prompts.json")
# the kinds of subject, by the relations that they have; a subject's negatives come from its kind
_PEOPLE = "P22 P25 P26 P27 P39 P40 P69 P166 P1411 P1412 P184 P185 P3373 P800"
_WORKS = "P136 P170 P674 P407 P166 P1411"
_PLACES = "P276 P403 P1001"  # places, rivers, bodies with a jurisdiction
_CLASSES = "P279 P366"
KINDS = tuple(frozenset(kind.split()) for kind in (_PEOPLE, _WORKS, _PLACES, _CLASSES))
EDIT_SHARE = 0.6  # of the subjects get an edit; the others are asked about as neighbours
SECOND_EDIT_SHARE = 0.5  # of edited subjects with two known relations get an edit on both
PER_RELATION = 400  # edits at most per relation: the files hold far more children than rivers
PARAPHRASES = 2
OTHER_RELATIONS = 2


@dataclass(frozen=True)
class Relation:
    id: str
    prompt: str  # "The father of {} is"
    query: str  # "Who is the father of {}?"
    paraphrases: tuple[str, ...]  # more cloze templates with a "{}" slot

    def phrasings(self) -> tuple[str, ...]:
        return (self.prompt, self.query, *self.paraphrases)

    def asked(self, subject: str, rng: random.Random) -> tuple[str, ...]:
        """What an edit on this relation of ``subject`` is asked in scope: ``PARAPHRASES``
        of the paraphrase templates, drawn with ``rng``, then the question."""
        drawn = rng.sample(self.paraphrases, min(PARAPHRASES, len(self.paraphrases)))
        return tuple(t.replace("{}", subject) for t in (*drawn, self.query))

    def edit(self, subject: str, target: str) -> EditDraft:
        """The edit that gives ``subject`` the new object ``target`` on this relation."""
        return EditDraft(
            subject=subject,
            prompt=self.prompt.replace("{}", subject),
            target=target,
            relation=self.id,
            source=f"pitfalls:{self.id}",
        )


@dataclass(frozen=True)
class Triple:
    subject: str
    relation: str
    new_object: str | None


def _clean(template: str) -> str:
    return " ".join(template.replace("his(her)", "their").split())


def _triples(record: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    if isinstance(record.get("edit"), Mapping):
        yield record["edit"]
    for key in ("triples", "edits"):
        for item in record.get(key) or ():
            if isinstance(item, Mapping):
                yield item


def read_triples(root: Path) -> tuple[dict[str, Relation], list[Triple]]:
    """The relations (with their paraphrase templates) and every (subject, relation) triple.
    A missing or malformed file is an :class:`InputFormatError` that names it."""
    paraphrases: dict[str, list[str]] = defaultdict(list)
    for name in TEMPLATE_FILES:
        with _reading(root / name, 'an object of relation id -> ["template with {}", ...]'):
            for relation, templates in json.loads((root / name).read_text("utf-8")).items():
                for template in templates:
                    template = _clean(template)
                    if "{}" in template and template not in paraphrases[relation]:
                        paraphrases[relation].append(template)
    relations: dict[str, Relation] = {}
    triples: list[Triple] = []
    for name in TRIPLE_FILES:
        with _reading(root / name, "a list of records with an edit, triples or edits"):
            for record in json.loads((root / name).read_text("utf-8")):
                for item in _triples(record):
                    rel, subject = item["relation"], item["subject"]["label"]
                    if rel["id"] not in relations:
                        prompt = _clean(rel["prompt"])
                        relations[rel["id"]] = Relation(
                            rel["id"],
                            prompt,
                            _clean(rel["query"]),
                            tuple(p for p in paraphrases[rel["id"]] if p != prompt),
                        )
                    new = item.get("new_object")
                    triples.append(
                        Triple(
                            subject, rel["id"], new["label"] if isinstance(new, Mapping) else None
                        )
                    )
    return relations, triples


@contextmanager
def _reading(path: Path, expected: str) -> Iterator[None]:
    """Turns a missing file or one of another shape into an error that names it."""
    try:
        yield
    except FileNotFoundError:
        raise InputFormatError(
            f"{path} is missing; the pitfalls folder needs {', '.join(TEMPLATE_FILES + TRIPLE_FILES)}."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputFormatError(f"{path} cannot be read as JSON: {error}.") from None
    except (KeyError, TypeError, AttributeError) as error:
        problem = f"missing key {error}" if isinstance(error, KeyError) else str(error)
        raise InputFormatError(
            f"{path} is not a pitfalls file ({problem}); it should hold {expected}."
        ) from None


def triple_cases(
    root: Path, *, limit: int | None = None, exclude: Iterable[str] = (), seed: int = 0
) -> list[EditCase]:
    """Edit cases over the triples in ``root`` (the pitfalls folder), at most ``limit`` edits,
    skipping subjects in ``exclude`` (casefolded) so that no fact is asked in two sources."""
    relations, triples = read_triples(root)
    rng = random.Random(seed)
    skip = {s.casefold() for s in exclude}
    by_subject: dict[str, dict[str, Triple]] = defaultdict(dict)
    objects: dict[str, list[str]] = defaultdict(list)
    for triple in triples:
        if triple.new_object:
            objects[triple.relation].append(triple.new_object)
        if triple.subject.casefold() in skip or "{" in triple.subject:
            continue
        known = by_subject[triple.subject].get(triple.relation)
        if known is None or (triple.new_object and not known.new_object):
            by_subject[triple.subject][triple.relation] = triple
    subjects = sorted(by_subject)
    rng.shuffle(subjects)
    cut = int(len(subjects) * EDIT_SHARE)
    edited, bystanders = subjects[:cut], subjects[cut:]
    asked_about: dict[str, list[str]] = defaultdict(list)  # relation -> subjects without edits
    for subject in bystanders:
        for relation_id in by_subject[subject]:
            asked_about[relation_id].append(subject)

    def kind_of(known: Iterable[str]) -> frozenset[str]:
        known = set(known)
        return max(KINDS, key=lambda kind: len(kind & known))

    def ask(relation: str, subject: str) -> str:
        return rng.choice(relations[relation].phrasings()).replace("{}", subject)

    cases: list[EditCase] = []
    per_relation: dict[str, int] = defaultdict(int)
    for subject in edited:
        own = by_subject[subject]
        open_ = sorted(r for r in own if per_relation[r] < PER_RELATION)
        if not open_:
            continue
        chosen = rng.sample(open_, 2 if len(open_) > 1 and rng.random() < SECOND_EDIT_SHARE else 1)
        others = sorted(((set(own) | kind_of(own)) & relations.keys()) - set(chosen))
        for relation_id in chosen:
            per_relation[relation_id] += 1
            relation = relations[relation_id]
            target = own[relation_id].new_object or rng.choice(objects[relation_id] or ["unknown"])
            in_scope = relation.asked(subject, rng)
            locality = [
                ("relation_specificity", ask(other, subject))
                for other in rng.sample(others, min(OTHER_RELATIONS, len(others)))
            ]
            if asked_about[relation_id]:
                locality.append(
                    ("neighborhood", ask(relation_id, rng.choice(asked_about[relation_id])))
                )
            cases.append(EditCase(relation.edit(subject, target), in_scope, tuple(locality)))
        if limit is not None and len(cases) >= limit:
            break
    return cases[:limit]


def crowded_cases(
    root: Path,
    subjects: int,
    *,
    seed: int = 0,
    keep: Callable[[str], bool] = lambda _: True,
) -> list[EditCase]:
    """Edits on every relation people have in ``root`` (the pitfalls folder) for each of
    ``subjects`` people (those ``keep`` accepts), each asked in two paraphrase templates of
    its relation and its question: a subject's other edits crowd each query's candidates,
    as when one entity gets many edits. No locality prompts: the other edits are the test."""
    relations, triples = read_triples(root)
    people = sorted(KINDS[0] & relations.keys())
    only_people = KINDS[0].difference(*KINDS[1:])  # works win awards too
    rng = random.Random(seed)
    objects: dict[str, list[str]] = defaultdict(list)
    named: set[str] = set()
    for triple in triples:
        if triple.new_object:
            objects[triple.relation].append(triple.new_object)
        if triple.relation in only_people and "{" not in triple.subject and keep(triple.subject):
            named.add(triple.subject)
    chosen = sorted(named)
    rng.shuffle(chosen)
    cases = []
    for subject in chosen[:subjects]:
        for relation_id in people:
            relation = relations[relation_id]
            in_scope = relation.asked(subject, rng)
            target = rng.choice(objects[relation_id] or ["unknown"])
            cases.append(EditCase(relation.edit(subject, target), in_scope, ()))
    return cases
