"""Measure routing on editing benchmarks, the way the field reports it.

For a data file (any format :mod:`memedit.formats` reads), a fresh temporary
store is built from the first N records' edits, and every query the
benchmark attaches to them is routed:

- ``reliability``: the edit's own prompt reaches that edit (in scope, top match);
- ``generality``: paraphrases reach their edit;
- ``portability``: KnowEdit's alias, reasoning and logical-generalisation prompts
  reach their edit (they need it to be answered);
- ``locality``, by kind — ``neighborhood`` (same relation, another subject),
  ``relation_specificity`` (same subject, another relation), ``unrelated`` —
  the share left to the base model;
- ``wrong_edit_rate``: prompts and paraphrases routed in scope, but to another edit;
- ``any_wrong_edit_rate``: prompts and paraphrases with another edit in scope, first or
  not (``wrong_edit_rate`` counts the best edit only);
- ``selected_own_edit_rate`` / ``selected_wrong_edit_rate``: prompts and paraphrases
  whose own edit / another edit is among those the wrapper puts in the prompt by
  default (:func:`memedit.selection.select_edits`: one edit per subject, the
  best-scored, at most three; ``edits_per_subject`` to assume another setting): what
  reaches the answer once that rule has acted.

Never averaged into one figure. Edits on the same subject and relation
supersede each other as they would in use; a query then belongs to the live
edit that holds its fact. Locality prompts that ask a stored edit's question are
left out (routing them in scope is right): a stored edit's own prompt, or a
stored edit's subject with that edit's relation (:class:`StoredFacts`). In a
store of 10,000 CounterFact edits, "The twin city of Riga is" is a neighbourhood
prompt of one edit and the question of another ("Riga is a twin city of Warsaw").
"""

from __future__ import annotations

import random
import re
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from memedit.edits import Edit, EditDraft, build_edit
from memedit.errors import InvalidEditError, MemeditError
from memedit.formats import EditCase, read_cases
from memedit.ids import new_ulid
from memedit.question_forms import question_forms, relation_of
from memedit.router import RouteResult
from memedit.selection import DEFAULT_PER_SUBJECT, select_edits
from memedit.store import EditStore

IN_SCOPE_KINDS = ("reliability", "generality", "portability", "question")
QUESTION_KINDS = ("question", "question_specificity")  # see memedit.question_forms
LATENCY_QUERIES = 200


@dataclass(frozen=True)
class RoutingQuery:
    text: str
    case: int | None  # the case (edit) it belongs to; None for locality prompts
    kind: str


def valid_cases(cases: Sequence[EditCase]) -> list[EditCase]:
    """Cases whose edit passes validation (benchmarks hold the odd empty target)."""
    kept = []
    for case in cases:
        try:
            build_edit(case.draft)
        except InvalidEditError:
            continue
        kept.append(case)
    return kept


def own_prompt(case: EditCase) -> str:
    """The edit's own question: its prompt, or the question part derived from its text."""
    return case.draft.prompt or build_edit(case.draft).route_text


def as_text(draft: EditDraft) -> EditDraft:
    """The same fact as one sentence, as ``memedit add "..."`` gets it: the store derives its
    subject, question part and target (:mod:`memedit.facts`) rather than being given them."""
    if draft.text is not None:
        return draft
    return EditDraft(text=build_edit(draft).text, source=draft.source, tags=draft.tags)


def routing_queries(cases: Sequence[EditCase]) -> list[RoutingQuery]:
    queries: list[RoutingQuery] = []
    for i, case in enumerate(cases):
        own = own_prompt(case)
        queries.append(RoutingQuery(own, i, "reliability"))
        queries += [RoutingQuery(p, i, "generality") for p in case.paraphrases]
        queries += [RoutingQuery(p, i, "portability") for _, p, _ in case.portability]
        queries += [RoutingQuery(p, None, kind) for kind, p in case.locality]
    return queries


def question_queries(cases: Sequence[EditCase], seed: int = 0) -> list[RoutingQuery]:
    """Questions about each edit's subject (see :mod:`memedit.question_forms`): on its relation
    (kind "question", in scope) and on another relation ("question_specificity", out of scope)."""
    rng = random.Random(seed)
    queries: list[RoutingQuery] = []
    for i, case in enumerate(cases):
        forms = question_forms(own_prompt(case), case.draft.subject, rng)
        if forms is None:
            continue
        queries += [RoutingQuery(q, i, QUESTION_KINDS[0]) for q in forms.same]
        queries += [RoutingQuery(q, None, QUESTION_KINDS[1]) for q in forms.other]
    return queries


SUBJECT_WORDS = 12  # the longest subject, in words, that StoredFacts looks for in a prompt


class StoredFacts:
    """The facts a store holds, to tell which locality prompts ask one of them: a stored
    edit's own prompt (up to case and spacing), or a stored edit's subject with the same
    relation as that edit (exactly, as :func:`memedit.question_forms.relation_of` reads
    both; prompts of relations it does not know count only when they are a stored prompt).
    Routing such a prompt to that edit is right, so evaluation leaves it out of locality.
    (Router training keeps such prompts as negatives: a head trained without them was no
    better; docs/scope-classifier-history.md has the figures.)"""

    def __init__(self, edits: Iterable[Edit]) -> None:
        self.prompts: set[str] = set()
        self.relations: dict[str, set[str]] = defaultdict(set)
        for edit in edits:
            self.prompts.add(_folded(edit.route_text))
            relation = relation_of(edit.route_text, edit.subject)
            if edit.subject and relation is not None:
                self.relations[edit.subject].add(relation)

    def asked(self, prompt: str) -> bool:
        """Whether ``prompt`` asks a stored edit's question."""
        if _folded(prompt) in self.prompts:
            return True
        return any(
            relation_of(prompt, subject) in self.relations[subject]
            for subject in named_subjects(prompt, self.relations)
        )


def _folded(text: str) -> str:
    return " ".join(text.casefold().split())


def named_subjects(text: str, subjects: Mapping[str, object]) -> Iterator[str]:
    """The keys of ``subjects`` that ``text`` names as a whole name (a trailing "'s" or
    punctuation mark aside), without scanning every subject. A key inside a longer name is
    not named: "Pune" in "Army Institute of Technology, Pune", "Aragon" in "Crown of Aragon",
    "Greenwich" in "Greenwich Township"."""
    words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", text)]
    seen: set[str] = set()
    for i, (start, _, _) in enumerate(words):
        if _continues_name_before(words, i):
            continue
        for j in range(i, min(len(words), i + SUBJECT_WORDS)):
            span = text[start : words[j][1]].lstrip("\"'(")
            bare = span.rstrip(".,;:!?\"')")
            for name in (span, bare, span.removesuffix("'s")):
                if name not in subjects or name in seen:
                    continue
                ends_sentence = span[len(bare) :][:1] in {".", "?", "!"}
                after = words[j + 1][2][:1] if j + 1 < len(words) else ""
                if not ends_sentence and (after.isupper() or after.isdigit()):
                    continue  # "Greenwich Township", "Law & Order: LA"
                seen.add(name)
                yield name


_NAME_JOINERS = frozenset(["of", "de", "&", "and", "the", "von", "van", "la", "le", "del"])


def _continues_name_before(words: Sequence[tuple[int, int, str]], i: int) -> bool:
    """Whether the word at ``i`` continues a capitalised name begun before it."""
    if i < 2:  # the prompt's first word is capitalised anyway
        return False
    before = words[i - 1][2]
    if before[:1].isupper():  # "Technology, Pune"
        return True
    return before.casefold() in _NAME_JOINERS and i > 2 and words[i - 2][2][:1].isupper()


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def _owners(store: EditStore, hashes: Sequence[str]) -> list[str]:
    """For each case (by its edit's content hash), the live edit that now holds its fact."""
    everything = {e.id: e for e in store.edits(include_superseded=True)}
    by_hash = {e.content_hash: e.id for e in everything.values()}
    owners = []
    for content_hash in hashes:
        edit_id = by_hash[content_hash]
        seen: set[str] = set()
        while (
            (nxt := everything[edit_id].superseded_by) and nxt in everything and edit_id not in seen
        ):
            seen.add(edit_id)
            edit_id = nxt
        owners.append(edit_id)
    return owners


@dataclass
class RoutingReport:
    """Routing figures at one store size; JSON keys as ``memedit eval routing`` prints them."""

    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def to_dict(self) -> dict[str, Any]:
        return self.data


def _rates(
    results: Sequence[RouteResult],
    queries: Sequence[RoutingQuery],
    owners: Sequence[str],
    cut: float,
    edits_per_subject: int | None = DEFAULT_PER_SUBJECT,
) -> dict[str, Any]:
    hits: dict[str, list[bool]] = defaultdict(list)
    wrong: list[bool] = []
    beside: list[bool] = []  # another edit in scope, best or not
    chosen_own: list[bool] = []  # among the edits the wrapper would put in the prompt
    chosen_other: list[bool] = []
    for result, query in zip(results, queries, strict=True):
        best = result.edits[0] if result.edits else None
        in_scope = best is not None and best.score >= cut
        if query.case is None:
            hits[query.kind].append(not in_scope)
        else:
            own = owners[query.case]
            right = in_scope and best is not None and best.id == own
            hits[query.kind].append(right)
            if query.kind != "portability":
                wrong.append(in_scope and not right)
                reached = [e for e in result.edits if e.score >= cut]
                beside.append(any(e.id != own for e in reached))
                chosen = select_edits(reached, per_subject=edits_per_subject)
                chosen_own.append(any(e.id == own for e in chosen))
                chosen_other.append(any(e.id != own for e in chosen))
    rate = {kind: float(np.mean(v)) for kind, v in hits.items() if v}
    return {
        "reliability": rate.get("reliability"),
        "generality": rate.get("generality"),
        "portability": rate.get("portability"),
        "question": rate.get("question"),
        "locality": {kind: rate[kind] for kind in sorted(rate) if kind not in IN_SCOPE_KINDS},
        "wrong_edit_rate": float(np.mean(wrong)) if wrong else None,
        "any_wrong_edit_rate": float(np.mean(beside)) if beside else None,
        "selected_own_edit_rate": float(np.mean(chosen_own)) if chosen_own else None,
        "selected_wrong_edit_rate": float(np.mean(chosen_other)) if chosen_other else None,
        "counts": {kind: len(v) for kind, v in sorted(hits.items())},
    }


def _against(
    tops: Sequence[tuple[str | None, float]], wanted: Sequence[str | None]
) -> tuple[np.ndarray, np.ndarray]:
    """The score of each query's best edit, and whether that edit is the one wanted for it
    (never, where none is wanted)."""
    scores = np.array([score for _, score in tops], dtype=float)
    right = np.array(
        [w is not None and top == w for (top, _), w in zip(tops, wanted, strict=True)], dtype=bool
    )
    return scores, right


def _curve_cuts(results: Sequence[RouteResult]) -> list[float]:
    """41 thresholds from the lowest to the highest best score routing gave."""
    tops = np.array([r.edits[0].score for r in results if r.edits])
    if not len(tops):
        return []
    grid = np.linspace(float(tops.min()), float(tops.max()), 41)
    return [float(c) for c in np.unique(np.round(grid, 4))]


def _curve(
    results: Sequence[RouteResult],
    queries: Sequence[RoutingQuery],
    owners: Sequence[str],
    cuts: Sequence[float],
    swept: Sequence[Sequence[tuple[str | None, float]]] | None = None,
) -> list[dict[str, Any]]:
    """Precision and recall of "in scope of the right edit" at each of ``cuts``, and each kind's
    rate as the report gives it (``kinds``: routed to the right edit for in-scope kinds, left
    alone for locality kinds), so that one kind can be read at another's level: from the
    routed ``results`` when the router's scores do not depend on the cut, else from
    ``swept`` (:meth:`EditStore.route_sweep` at ``cuts``: each cut's own best edits)."""
    routed = [(r.edits[0].id, r.edits[0].score) if r.edits else (None, -np.inf) for r in results]
    wanted = [None if q.case is None else owners[q.case] for q in queries]
    scored = np.array([q.kind != "portability" for q in queries])
    asked = np.array([q.case is not None for q in queries])  # in scope of an edit
    positive = scored & asked
    kinds = np.array([q.kind for q in queries])
    of_kind = {kind: kinds == kind for kind in sorted(set(kinds))}
    points: list[dict[str, Any]] = []
    for k, cut in enumerate(cuts):
        scores, right = _against(routed if swept is None else swept[k], wanted)
        predicted = scores >= cut
        correct = predicted & right & positive
        considered = predicted & scored
        precision = float(correct.sum() / considered.sum()) if considered.sum() else 1.0
        recall = float(correct.sum() / positive.sum()) if positive.sum() else 0.0
        good = np.where(asked, predicted & right, ~predicted)
        by_kind = {kind: float(good[mask].mean()) for kind, mask in of_kind.items()}
        points.append(
            {"threshold": float(cut), "precision": precision, "recall": recall, "kinds": by_kind}
        )
    return points


def evaluate_routing(
    cases: Sequence[EditCase],
    n_edits: int,
    *,
    embedder: str | None = None,
    router: str | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    latency_queries: int = LATENCY_QUERIES,
    workdir: str | Path | None = None,
    progress: bool = False,
    distractors: Sequence[EditCase] = (),
    questions: bool = False,
    edits_per_subject: int | None = DEFAULT_PER_SUBJECT,
    text: bool = False,
) -> RoutingReport:
    """Build a fresh store from the first ``n_edits`` valid cases and route all their queries.

    With ``text``, every edit (distractors too) is stored as one sentence (:func:`as_text`)
    while the queries stay those of the structured case: the edit's own prompt is still the
    reliability query, and question forms still come from its given subject.

    With ``questions``, also questions made from each edit's relation (kinds "question" and
    "question_specificity"; see :mod:`memedit.question_forms`).

    With ``distractors``, a store smaller than ``n_edits`` is filled up with their edits
    (whose queries are not asked): the cases' queries then compete with that many edits.

    ``edits_per_subject`` is the wrapper's setting the "selected" rates assume.
    """
    chosen = valid_cases(cases)[:n_edits]
    if not chosen:
        raise MemeditError("No valid edits to evaluate.")
    fillers = valid_cases(distractors)[: max(0, n_edits - len(chosen))]
    drafts = [
        replace(as_text(case.draft) if text else case.draft, id=new_ulid())
        for case in [*chosen, *fillers]
    ]
    hashes = [build_edit(d).content_hash for d in drafts]
    queries = routing_queries(chosen) + (question_queries(chosen) if questions else [])
    with (
        tempfile.TemporaryDirectory(prefix="memedit-eval-", dir=workdir) as tmp,
        EditStore(Path(tmp) / "store", embedder=embedder) as store,
    ):
        if router is not None or threshold is not None or top_k is not None:
            store.configure_router(kind=router, threshold=threshold, top_k=top_k)
        store.add_many(drafts, progress=progress)
        owners = _owners(store, hashes)
        stored = StoredFacts(store.edits())
        asked = [q.case is None and stored.asked(q.text) for q in queries]
        left_out = Counter(q.kind for q, a in zip(queries, asked, strict=True) if a)
        queries = [q for q, a in zip(queries, asked, strict=True) if not a]
        started = time.perf_counter()
        results = store.route_many([q.text for q in queries])
        batch_seconds = time.perf_counter() - started
        latencies = []
        for query in queries[:latency_queries]:
            began = time.perf_counter()
            store.route(query.text)
            latencies.append((time.perf_counter() - began) * 1000)
        classifier = store.router
        cuts = _curve_cuts(results)
        swept = (
            store.route_sweep([q.text for q in queries], cuts)
            if classifier.threshold_dependent and cuts
            else None
        )
        live = len(store)
    report = {
        "n_edits": len(chosen) + len(fillers),
        "evaluated_edits": len(chosen),
        "live_edits": live,
        "router": classifier.in_effect(),
        "edits_per_subject": edits_per_subject,
        "edits_as_text": text,
        **_rates(results, queries, owners, classifier.threshold, edits_per_subject),
        "latency_ms": {"p50": _percentile(latencies, 50), "p99": _percentile(latencies, 99)},
        "batch_queries_per_s": len(queries) / batch_seconds if batch_seconds else None,
        "curve": _curve(results, queries, owners, cuts, swept),
        "locality_left_out": dict(sorted(left_out.items())),
    }
    return RoutingReport(report)


def evaluate_routing_file(
    path: str | Path, fmt: str = "auto", sizes: Sequence[int] = (1000,), **options: Any
) -> list[RoutingReport]:
    """``evaluate_routing`` at several store sizes over one data file."""
    cases = read_cases(path, fmt)
    return [evaluate_routing(cases, n, **options) for n in sizes]


# -- calibration on a user's own labelled queries --------------------------------------------------


@dataclass(frozen=True)
class CalibrationReport:
    kind: str
    threshold_before: float
    threshold: float
    positives: int
    negatives: int
    balanced_accuracy_before: float
    balanced_accuracy: float
    saved: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_labelled_queries(path: str | Path, store: EditStore) -> list[tuple[str, str | None]]:
    """JSONL of {"query": ..., "edit": id, id prefix or exact edit text, or null when out of scope}."""
    from memedit.errors import InputFormatError
    from memedit.formats import load_records

    def key(text: str) -> str:
        return " ".join(text.casefold().split())

    by_text = {key(e.text): e.id for e in store.edits()}
    labelled: list[tuple[str, str | None]] = []
    for number, record in enumerate(load_records(path), start=1):
        query = record.get("query")
        if not isinstance(query, str) or not query.strip():
            raise InputFormatError(f"{path}: record {number}: needs a non-empty 'query'.")
        target = record.get("edit")
        if target is None:
            labelled.append((query, None))
            continue
        if not isinstance(target, str):
            raise InputFormatError(
                f"{path}: record {number}: 'edit' must be an edit id, its text, or null."
            )
        edit_id = by_text.get(key(target))
        if edit_id is None:
            try:
                edit_id = store.get(target).id
            except MemeditError:
                raise InputFormatError(
                    f"{path}: record {number}: no live edit matches {target[:60]!r} (give its id or exact text)."
                ) from None
        labelled.append((query, edit_id))
    if not any(e for _, e in labelled) or all(e for _, e in labelled):
        raise InputFormatError(f"{path}: calibration needs both in-scope and out-of-scope queries.")
    return labelled


def _balanced_accuracy(
    tops: np.ndarray, right: np.ndarray, positive: np.ndarray, cut: float
) -> float:
    in_scope = tops >= cut
    tpr = float(np.mean(in_scope[positive] & right[positive]))
    tnr = float(np.mean(~in_scope[~positive]))
    return (tpr + tnr) / 2


def _middle_of_best(cuts: np.ndarray, best: np.ndarray, current: float) -> float:
    """The threshold to keep among sorted ``cuts`` where ``best`` holds: the current one when
    it is among them, else the middle of the run of best cuts nearest to it. Every threshold
    between a run's first and last cut decides as one of them, and the middle leaves the most
    room either way for queries not in the labelled set."""
    runs: list[tuple[int, int]] = []
    for i in np.flatnonzero(best):
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], int(i))
        else:
            runs.append((int(i), int(i)))
    first, last = min(
        runs, key=lambda r: max(0.0, float(cuts[r[0]]) - current, current - float(cuts[r[1]]))
    )
    if float(cuts[first]) <= current <= float(cuts[last]):
        return current
    return float(cuts[first]) if first == last else float((cuts[first] + cuts[last]) / 2)


def calibrate(
    store: EditStore, labelled: Sequence[tuple[str, str | None]], *, save: bool = True
) -> CalibrationReport:
    """Fit the router's threshold to labelled queries (maximum balanced accuracy) and save it.

    Every threshold at which a decision can change is tried, each judged by the decisions
    routing at that threshold makes (:meth:`EditStore.route_sweep`: the learnt router's
    second look stops at the first candidate in scope, so where it stops depends on the
    threshold). Of the best, the current threshold is kept if it is one; otherwise the
    middle of the nearest stretch of equally good thresholds is taken."""
    router = store.router
    queries = [q for q, _ in labelled]
    seen = store.route_many(queries, threshold=1.0)  # every unsure candidate read: all scores
    values = np.unique([e.score for r in seen for e in r.edits])
    cuts = np.unique(np.clip(np.concatenate([values, values + 1e-6]), -1.0, 1.0))
    cuts = np.unique(np.append(cuts, router.threshold))
    swept = store.route_sweep(queries, [float(c) for c in cuts])
    wanted = [e for _, e in labelled]
    positive = np.array([e is not None for e in wanted])

    def accuracy(tops: Sequence[tuple[str | None, float]], cut: float) -> float:
        return _balanced_accuracy(*_against(tops, wanted), positive, cut)

    rated = np.array([accuracy(tops, float(cut)) for tops, cut in zip(swept, cuts, strict=True)])
    best_accuracy = float(rated.max())
    threshold = _middle_of_best(cuts, rated == best_accuracy, router.threshold)
    before = swept[int(np.flatnonzero(cuts == router.threshold)[0])]
    if save:
        store.configure_router(threshold=threshold)
    return CalibrationReport(
        kind=router.kind,
        threshold_before=router.threshold,
        threshold=threshold,
        positives=int(positive.sum()),
        negatives=int((~positive).sum()),
        balanced_accuracy_before=accuracy(before, router.threshold),
        balanced_accuracy=best_accuracy,
        saved=save,
    )


# -- end to end: base vs wrapped model -------------------------------------------------------------

PROMPT_STYLES = ("completion", "question")


def _target_scores(model: Any, tokenizer: Any, prompt: str, target: str) -> tuple[float, float]:
    """EasyEdit's teacher-forced figures: the share of target tokens that are the argmax
    after the prompt and the gold tokens before them, and their mean probability."""
    import torch

    prompt_ids = list(tokenizer(prompt)["input_ids"])
    target_ids = list(tokenizer(" " + target.strip(), add_special_tokens=False)["input_ids"])
    if not target_ids:
        return float("nan"), float("nan")
    ids = torch.tensor([prompt_ids + target_ids], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1]
    gold = torch.tensor(target_ids, device=logits.device)
    accuracy = float((logits.argmax(-1) == gold).float().mean())
    probability = float(torch.softmax(logits.float(), -1).gather(1, gold[:, None]).mean())
    return accuracy, probability


def _greedy(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> str:
    import torch

    encoded = tokenizer(prompt, return_tensors="pt").to(model.device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        output = model.generate(
            **encoded, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad
        )
    return str(
        tokenizer.decode(output[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
    )


def _matches(generated: str, target: str) -> bool:
    normal = " ".join(generated.strip().casefold().split())
    wanted = " ".join(target.strip().casefold().split())
    return bool(wanted) and normal.startswith(wanted)


def evaluate_model(
    editable: Any,
    cases: Sequence[EditCase],
    *,
    style: str = "completion",
    max_new_tokens: int | None = None,
) -> dict[str, Any]:
    """Base vs wrapped on every query kind of ``cases`` (whose edits are in ``editable.store``).

    In scope the edit's target is expected (portability: the data's answer):
    teacher-forced token accuracy and target probability, as EasyEdit computes
    them, and free-generation exact match, which teacher forcing overstates.
    Locality prompts must keep the base model's own greedy continuation.
    """
    if style not in PROMPT_STYLES:
        raise MemeditError(f"style must be one of {', '.join(PROMPT_STYLES)}.")
    model, tokenizer, template = editable.model, editable.tokenizer, editable.template
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for case in cases:
        edit = build_edit(case.draft)
        queries: list[tuple[str, str, str | None]] = []
        if edit.prompt and edit.target:
            queries.append(("reliability", edit.prompt, edit.target))
            queries += [("generality", p, edit.target) for p in case.paraphrases]
        queries += [("portability", p, answer) for _, p, answer in case.portability]
        queries += [(kind, p, None) for kind, p in case.locality]
        for kind, text, target in queries:
            if style == "completion":
                base_prompt = text
                wrapped_prompt, edits = editable.completion_prompt(text)
            else:
                base_prompt = template.plain(text)
                edits = editable.select_edits(editable.route(text))
                wrapped_prompt = template.plain(text, [e.text for e in edits])
            budget = max_new_tokens or (
                len(tokenizer(" " + (target or ""), add_special_tokens=False)["input_ids"]) + 2
                if target
                else 8
            )
            base_out = _greedy(model, tokenizer, base_prompt, budget)
            wrapped_out = (
                base_out
                if wrapped_prompt == base_prompt
                else _greedy(model, tokenizer, wrapped_prompt, budget)
            )
            row = rows[kind]
            row["routed"].append(float(bool(edits)))
            if target is None:
                row["unchanged"].append(float(wrapped_out == base_out))
                continue
            for side, prompt, out in (
                ("base", base_prompt, base_out),
                ("wrapped", wrapped_prompt, wrapped_out),
            ):
                accuracy, probability = _target_scores(model, tokenizer, prompt, target)
                row[f"{side}_token_accuracy"].append(accuracy)
                row[f"{side}_target_probability"].append(probability)
                row[f"{side}_exact_match"].append(float(_matches(out, target)))
    return {
        "n_edits": len(cases),
        "style": style,
        "kinds": {
            kind: {name: float(np.nanmean(v)) for name, v in sorted(values.items())}
            | {"queries": len(values["routed"])}
            for kind, values in sorted(rows.items())
        },
    }
