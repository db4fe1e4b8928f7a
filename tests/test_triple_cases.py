"""Router training cases from Wikidata triples, and pairs built per source group then joined."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from memedit.edits import EditDraft, build_edit
from memedit.errors import InputFormatError
from memedit.evaluation import RoutingQuery, routing_queries
from memedit.formats import EditCase
from memedit.router_training import (
    LiveEdits,
    PairData,
    cached_for,
    joined_pairs,
    triple_queries_kept,
)
from memedit.triple_cases import EDIT_SHARE, crowded_cases, read_triples, triple_cases

RELATIONS = {
    "P22": ("The father of {} is", "Who is the father of {}?", "father"),
    "P25": ("The mother of {} is", "Who is the mother of {}?", "mother"),
    "P69": ("{} was educated at", "Where did {} study at?", "educated at"),
    "P136": ("The genre of {} is", "What is the genre of {}?", "genre"),
    "P170": ("The creater of {} is", "Who is the creater of {}?", "creator"),
}
PARAPHRASES = {
    "P22": ["{}'s dad is", "The biological father of {} is", "{} was fathered by"],
    "P25": ["{}'s mum is", "The biological mother of {} is"],
    "P69": ["{} completed his(her) education at", "{} is an alumnus of", "{} studied at"],
    "P136": ["One can identify the genre of {} as", "{} belongs to the genre of"],
    "P170": ["{} was created by", "The creative mind behind {} is"],
}


def _triple(relation: str, subject: str, new: str | None = None) -> dict:
    prompt, query, label = RELATIONS[relation]
    triple = {
        "relation": {"id": relation, "prompt": prompt, "query": query, "label": label},
        "subject": {"id": "Q" + subject, "label": subject},
        "object": {"id": "Q0", "label": "Someone"},
    }
    if new:
        triple["new_object"] = {"id": "Q1", "label": new}
    return triple


@pytest.fixture
def pitfalls(tmp_path: Path) -> Path:
    people = [f"Person {chr(65 + i)}{chr(65 + j)}" for i in range(6) for j in range(6)]
    works = [f"Work {chr(65 + i)}{chr(65 + j)}" for i in range(4) for j in range(5)]
    easy = [{"edit": _triple("P22", p, f"Father of {p}")} for p in people]
    easy += [{"edit": _triple("P136", w, "opera")} for w in works]
    # people with a second known relation, works with a creator; records with several triples
    composite = [
        {"triples": [_triple("P69", p), _triple("P25", p)], "edits": [_triple("P69", p, "Yale")]}
        for p in people[::2]
    ]
    composite += [{"triples": [_triple("P170", w)], "edits": []} for w in works[::2]]
    files = {
        "easy.json": easy,
        "hard.json": [],
        "reverse_edit.json": [],
        "composite_edit.json": composite,
        "coverage_edit.json": [],
        "round_prompts.json": {k: PARAPHRASES[k] for k in ("P69", "P136", "P170")},
        "conflict_prompts.json": {k: PARAPHRASES[k] for k in ("P22", "P25")},
    }
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content), encoding="utf-8")
    return tmp_path


def test_read_triples_takes_every_relation_with_its_phrasings(pitfalls: Path) -> None:
    relations, triples = read_triples(pitfalls)
    assert set(relations) == set(RELATIONS)
    assert relations["P69"].paraphrases[0] == "{} completed their education at"
    assert relations["P22"].query == "Who is the father of {}?"
    assert ("Person AA", "P22", "Father of Person AA") in {
        (t.subject, t.relation, t.new_object) for t in triples
    }
    assert ("Person AA", "P25", None) in {(t.subject, t.relation, t.new_object) for t in triples}


def test_triple_cases_ask_each_edit_in_and_out_of_scope(pitfalls: Path) -> None:
    relations, _ = read_triples(pitfalls)
    cases = triple_cases(pitfalls, seed=1, exclude=["Person AB"])
    assert cases == triple_cases(pitfalls, seed=1, exclude=["Person AB"])  # reproducible
    subjects = {c.draft.subject for c in cases}
    assert "Person AB" not in subjects
    edited: dict[str, set[str]] = {}
    for case in cases:
        draft = case.draft
        assert draft.subject and draft.relation
        edited.setdefault(draft.subject, set()).add(draft.relation)
        relation = relations[draft.relation]
        assert draft.prompt == relation.prompt.replace("{}", draft.subject)
        build_edit(draft)  # a valid edit
        # paraphrases and the question: this relation, this subject, never the prompt itself
        assert case.paraphrases[-1] == relation.query.replace("{}", draft.subject)
        for text in case.paraphrases[:-1]:
            assert text in {p.replace("{}", draft.subject) for p in relation.paraphrases}
        kinds = {kind for kind, _ in case.locality}
        assert kinds <= {"relation_specificity", "neighborhood"}
        for kind, text in case.locality:
            if kind == "relation_specificity":  # the same subject asked another relation
                assert draft.subject in text
                assert text not in {p.replace("{}", draft.subject) for p in relation.phrasings()}
            else:  # the same relation asked about a subject without an edit
                assert draft.subject not in text
                assert any(
                    text.startswith(p.split("{}")[0]) and text.endswith(p.split("{}")[1])
                    for p in relation.phrasings()
                )
    # a share of the 55 subjects get edits; the others are left for neighbourhood questions
    assert len(edited) == int(55 * EDIT_SHARE)
    asked = [t for c in cases for k, t in c.locality if k == "neighborhood"]
    assert asked and not any(s in t for t in asked for s in edited)
    for subject, kinds in edited.items():  # people: father, mother, school; works: genre, maker
        assert kinds <= (
            {"P22", "P25", "P69"} if subject.startswith("Person") else {"P136", "P170"}
        )
    # a subject never gets a negative on a relation that it has an edit on
    for case in cases:
        for kind, text in case.locality:
            if kind == "relation_specificity":
                for relation in edited[case.draft.subject]:
                    phrasings = relations[relation].phrasings()
                    assert text not in {p.replace("{}", case.draft.subject) for p in phrasings}
    assert len(triple_cases(pitfalls, seed=1, limit=5)) == 5


def _group(n_cases: int, prefix: str) -> tuple[list[EditCase], LiveEdits, PairData]:
    cases = [
        EditCase(EditDraft(subject=f"{prefix}{i}", prompt=f"{prefix}{i} lives in", target="Rome"))
        for i in range(n_cases)
    ]
    store = LiveEdits.of(cases)
    queries = [*routing_queries(cases), RoutingQuery("unrelated", None, "unrelated")]
    pair_query = np.arange(len(queries))
    return (
        cases,
        store,
        PairData(
            features=np.zeros((len(queries), 5), np.float32),
            labels=np.array([q.case is not None for q in queries], np.float32),
            pair_query=pair_query,
            pair_rank=np.zeros(len(queries), int),
            queries=queries,
            own_rank=np.zeros(len(queries), int),
            pair_edit=np.array([q.case if q.case is not None else 0 for q in queries]),
            pair_key=np.array([q.case if q.case is not None else 0 for q in queries]),
        ),
    )


def test_joined_pairs_renumber_queries_cases_and_edits() -> None:
    cases_a, store_a, pairs_a = _group(3, "Alpha ")
    cases_b, store_b, pairs_b = _group(2, "Beta ")
    data = joined_pairs([pairs_a, pairs_b], [len(cases_a), len(cases_b)], [store_a, store_b])
    store = LiveEdits.joined([store_a, store_b])
    cases = cases_a + cases_b
    assert len(data.queries) == len(pairs_a.queries) + len(pairs_b.queries)
    assert len(store.live) == 5
    for n in range(len(data.labels)):
        query = data.queries[data.pair_query[n]]
        if data.labels[n]:  # an own-edit pair still names its query's own case
            assert query.case is not None
            assert store.edit(int(data.pair_edit[n])) == store.edits[query.case]
            assert store.live[store.owner[query.case]] == query.case
            assert query.text == cases[query.case].draft.prompt
    # group B's negative pair points at group B's first edit, after group A's three
    assert data.queries[data.pair_query[-1]].case is None
    assert store.edit(int(data.pair_edit[-1])).subject == "Beta 0"
    assert data.pair_query[-1] == len(data.queries) - 1


def test_cached_pairs_are_checked_against_the_cases_they_were_built_from() -> None:
    cases_a, _, pairs_a = _group(3, "Alpha ")
    cases_b, _, _ = _group(3, "Beta ")
    assert cached_for(pairs_a, cases_a)
    assert not cached_for(pairs_a, cases_b)  # other edits: the cache is stale
    assert not cached_for(pairs_a, cases_a[:2])  # fewer edits than the cache names
    # a disguised or name-shortened reliability query still counts as its case's
    person = [
        EditCase(
            EditDraft(subject="Ada Lovelace", prompt="Ada Lovelace was born in", target="Paris")
        )
    ]
    for text in ("Question: Ada Lovelace was born in\nAnswer:", "Lovelace was born in"):
        query = RoutingQuery(text, 0, "reliability")
        assert cached_for(replace(pairs_a, queries=[query]), person)


def test_cached_pairs_are_checked_against_the_queries_training_would_route() -> None:
    cases, _, pairs = _group(3, "Alpha ")
    assert cached_for(pairs, cases, pairs.queries)
    # the queries are made differently now (another generator, another seed): stale
    other = [*pairs.queries[:-1], RoutingQuery("something else", None, "unrelated")]
    assert not cached_for(pairs, cases, other)
    assert not cached_for(pairs, cases, [*pairs.queries, RoutingQuery("more", None, "unrelated")])
    relabelled = [replace(pairs.queries[0], kind="generality"), *pairs.queries[1:]]
    assert not cached_for(pairs, cases, relabelled)
    # a query of no edit's that is a live edit's own prompt is not routed, so not cached
    asked_own_prompt = RoutingQuery(cases[0].draft.prompt, None, "neighborhood")
    assert cached_for(pairs, cases, [*pairs.queries, asked_own_prompt])
    # made before superseded edits were keys of their successor: stale
    assert not cached_for(replace(pairs, pair_key=None), cases, pairs.queries)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "easy.json",
            [{"edit": {"relation": {"id": "P22"}}}],
            r"easy\.json is not a pitfalls file \(missing key 'subject'\)",
        ),
        ("hard.json", "{not json", r"hard\.json cannot be read as JSON"),
        ("round_prompts.json", ["a list"], r"round_prompts\.json is not a pitfalls file"),
        ("coverage_edit.json", None, r"coverage_edit\.json is missing"),
    ],
)
def test_a_malformed_pitfalls_file_is_named_in_a_one_line_error(
    pitfalls: Path, name: str, content: object, message: str
) -> None:
    path = pitfalls / name
    if content is None:
        path.unlink()
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    with pytest.raises(InputFormatError, match=message) as caught:
        read_triples(pitfalls)
    assert "\n" not in str(caught.value)


def test_a_share_of_the_triples_keeps_every_query_of_the_chosen_subjects(pitfalls: Path) -> None:
    cases = triple_cases(pitfalls, seed=1)
    queries = routing_queries(cases)
    kept = triple_queries_kept(queries, cases, 0.4)
    assert np.array_equal(kept, triple_queries_kept(queries, cases, 0.4))  # stable
    assert triple_queries_kept(queries, cases, 1.0).all()
    by_subject: dict[str, set[bool]] = {}
    for query, keep in zip(queries, kept, strict=True):
        if query.case is not None:
            by_subject.setdefault(cases[query.case].draft.subject or "", set()).add(bool(keep))
    assert all(len(v) == 1 for v in by_subject.values())  # a subject's queries go together
    chosen = sum(v == {True} for v in by_subject.values()) / len(by_subject)
    assert 0.15 < chosen < 0.65, chosen
    smaller = triple_queries_kept(queries, cases, 0.2)
    assert not (smaller & ~kept).any()  # a smaller share is a subset of a larger one


def test_crowded_cases_give_each_person_an_edit_on_every_relation_people_have(
    pitfalls: Path,
) -> None:
    cases = crowded_cases(pitfalls, 3, seed=2)
    assert cases == crowded_cases(pitfalls, 3, seed=2)  # reproducible
    subjects = {c.draft.subject for c in cases}
    assert len(subjects) == 3 and all(s.startswith("Person ") for s in subjects)  # no works
    for subject in subjects:
        mine = [c for c in cases if c.draft.subject == subject]
        assert sorted(c.draft.relation for c in mine) == ["P22", "P25", "P69"]
    for case in cases:
        prompt, question, _ = RELATIONS[case.draft.relation]
        assert case.draft.prompt == prompt.replace("{}", case.draft.subject)
        assert case.paraphrases[-1] == question.replace("{}", case.draft.subject)
        assert len(case.paraphrases) == 3 and case.locality == ()
        assert all(case.draft.subject in p for p in case.paraphrases)
    kept = crowded_cases(pitfalls, 50, keep=lambda s: s.endswith("A"))
    assert {c.draft.subject for c in kept} == {f"Person {chr(65 + i)}A" for i in range(6)}
