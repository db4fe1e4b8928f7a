"""Validate the scope classifier on data it was never trained on, against the cosine baseline.

For each held-out set, a fresh store is built from its edits and every query is
routed (``memedit.evaluation.evaluate_routing``, what ``memedit eval routing``
runs), once with the learnt router and once with the cosine threshold:

- ``counterfact/val.json`` (1,919 records; the router trains on ``train.json``):
  reliability, generality (rephrases), neighbourhood locality, at 10, 100, 1,000
  and all edits, and among 10,000 edits (filled up with CounterFact train edits
  as distractors, whose queries are not asked);
- KnowEdit ``train_cf.json`` and ``recent_train.json``, only the 30% of records held
  out from router training by subject hash: relation-specificity locality and
  portability;
- CounterFact val (alone and among 10,000) and the two KnowEdit sets again with every
  edit stored as one sentence (``--as-text`` in the CLI), as ``memedit add "..."`` gets
  it: the free-text parser (``memedit/facts.py``) derives its subject and question part;
  the queries are the structured rows' (its own prompt, question forms from its subject);
- ``counterfact/rome-format-dev.json`` (ROME's CounterFact records, another source):
  paraphrases with distracting prefixes and neighbourhood prompts;
- CounterFact val at 1,000 edits with every rephrase and neighbourhood prompt inside
  a completion-style template (``HELDOUT_WRAPPERS``: none of them is among the
  templates training wraps prompts in), as raw ``/v1/completions`` prompts arrive;
- edits made from the Wikidata triples in ``pitfalls/`` (``memedit.triple_cases``: 23
  relations, most of them in none of the benchmarks above, each asked in ten phrasings),
  the subjects that router training would keep aside (``calibration_subject``): relation
  specificity beyond the benchmarks' relations. A head trained with ``train_router.py
  --triples`` saw some of these relations (never these subjects); its info names them
  (``triples_relations``), and the edits on the others get a row of their own;
- crowded subjects from the same triples: 100 of those people, each with an edit on all
  14 relations people have there (``memedit.triple_cases.crowded_cases``), each edit asked
  in two paraphrase templates and its question, with the subject's other 13 edits among
  the candidates, as when one entity gets many edits (generality and wrong edits only);
- ``examples/data/natural_questions.jsonl``: 60 hand-written edits (half free
  text) with questions people might ask, written apart from the question-form
  templates: 3 on the edited fact (generality), 2 on another relation of the
  subject (relation specificity), 2 on the same relation of another subject
  (neighbourhood); alone and among 10,000 edits. Router development has looked at
  this set (it chose between heads), so it is validation data;
- ``examples/data/natural_questions_test.jsonl``: 60 more, on other subjects, written
  the same way later and by another hand, to be measured only (no head is tuned on
  it; it has informed two things, not to ship the cross-encoder and one word of the
  free-text parser's verb list): the clean test of
  how questions people ask route.

Every set also gets the question forms of its prompts (``--questions`` in the
CLI; see ``memedit/question_forms.py``): "question" is a question on the edit's
relation (in scope), "question_specificity" a question on another relation of
the same subject (out of scope). The templates are the ones router training
uses, so these two columns say how well the router handles question-shaped
queries, not how it handles unseen phrasings.

Run from the repository root (about 40 minutes on 2 CPU cores)::

    python examples/benchmarks/routing_validation.py
    python examples/benchmarks/routing_validation.py --quick   # val at 1,000 edits only
    python examples/benchmarks/routing_validation.py --routers learnt,learnt-fast,threshold
    python examples/benchmarks/routing_validation.py --sets hand-written,ROME   # some rows only

It prints one table and writes ``examples/benchmarks/results/routing_validation.json``,
then a second table from each row's threshold curve: the best generality at which
relation specificity (or neighbourhood locality) is still at least 0.90 / 0.95, to
compare heads at equal locality rather than at each one's own threshold.
``--head DIR`` measures another head (a folder ``examples/train_router.py --output``
wrote) in place of the shipped one, as ``$MEMEDIT_ROUTER_HEAD`` does::

    python examples/train_router.py --output /tmp/head
    python examples/benchmarks/routing_validation.py --head /tmp/head --out /tmp/head.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchlib import REPO_ROOT, environment, log, render_table, write_results

from memedit.errors import MemeditError
from memedit.evaluation import evaluate_routing
from memedit.formats import EditCase, read_cases
from memedit.router import HEAD_ENV, shipped_head
from memedit.router_training import calibration_subject, heldout_subject
from memedit.selection import DEFAULT_PER_SUBJECT
from memedit.triple_cases import crowded_cases, triple_cases

DATA = REPO_ROOT.parent / "shared" / "data"
CROWDED_SUBJECTS = 100  # people, each with an edit on every relation people have
CROWDED = "Wikidata triples, crowded subjects"
# Rows asked without question forms: a crowded subject's question on "another relation" is
# often on a relation it has an edit on (its siblings, its university), so in scope.
WITHOUT_QUESTION_FORMS = frozenset([CROWDED])
# Rows whose edits are stored as one sentence each ("memedit add 'The Eiffel Tower is in
# Rome.'"), the subject and question part derived by memedit.facts; queries as in the row
# without the suffix.
AS_TEXT = ", edits as free text"
NATURAL = REPO_ROOT / "examples" / "data" / "natural_questions.jsonl"
NATURAL_TEST = REPO_ROOT / "examples" / "data" / "natural_questions_test.jsonl"
HELDOUT_WRAPPERS = (
    "User: {q}\nAssistant:",
    "### Instruction:\nContinue the text.\n### Input:\n{q}\n### Response:",
    "Please complete: {q}",
    "{q}\n\nThe answer is",
)
DEFAULT_OUT = REPO_ROOT / "examples" / "benchmarks" / "results" / "routing_validation.json"
COLUMNS = (
    ("reliability", "rel"),
    ("generality", "gen"),
    ("question", "question"),
    ("portability", "port"),
    ("neighborhood", "neighbour"),
    ("relation_specificity", "rel-spec"),
    ("question_specificity", "q-spec"),
    ("wrong_edit_rate", "wrong edit"),
    ("any_wrong_edit_rate", "any wrong"),
    ("selected_own_edit_rate", "prompt own"),
    ("selected_wrong_edit_rate", "prompt wrong"),
)


UNTRAINED_RELATIONS = "Wikidata triples, held-aside subjects, relations the head did not train on"


def runs(
    data: Path, quick: bool, trained_relations: Sequence[str] = ()
) -> list[tuple[str, list[EditCase], int, list[EditCase]]]:
    """(name, cases, store size, distractors) for each row. ``trained_relations``: the
    triples' relations the head trained on (``--triples``): the triples' edits of the other
    relations get a row of their own."""
    val = read_cases(data / "counterfact" / "val.json")
    if quick:
        return [("counterfact val", val, 1000, [])]
    train = read_cases(data / "counterfact" / "train.json")
    natural = read_cases(NATURAL)
    natural_test = read_cases(NATURAL_TEST)
    knowedit = [
        (name, [c for c in read_cases(data / "knowedit" / f) if heldout_subject(c.draft.subject)])
        for name, f in (
            ("KnowEdit train_cf held out", "train_cf.json"),
            ("KnowEdit recent held out", "recent_train.json"),
        )
    ]
    triples = [c for c in triple_cases(data / "pitfalls") if calibration_subject(c.draft.subject)]
    crowded = crowded_cases(data / "pitfalls", CROWDED_SUBJECTS, keep=calibration_subject)
    untrained = [c for c in triples if c.draft.relation not in set(trained_relations)]
    unseen = [(UNTRAINED_RELATIONS, untrained, len(untrained), [])] if trained_relations else []
    return [
        *[("counterfact val", val, n, []) for n in (10, 100, 1000, len(val))],
        ("counterfact val + train distractors", val, 10_000, train),
        *[(name, cases, len(cases), []) for name, cases in knowedit],
        ("counterfact val" + AS_TEXT, val, len(val), []),
        ("counterfact val + train distractors" + AS_TEXT, val, 10_000, train),
        *[(name + AS_TEXT, cases, len(cases), []) for name, cases in knowedit],
        (
            "ROME CounterFact dev",
            read_cases(data / "counterfact" / "rome-format-dev.json"),
            10**9,
            [],
        ),
        ("counterfact val, prompts in held-out templates", wrapped(val), 1000, []),
        ("Wikidata triples, held-aside subjects", triples, len(triples), []),
        *unseen,
        (CROWDED, crowded, len(crowded), []),
        ("hand-written questions", natural, len(natural), []),
        ("hand-written questions + train distractors", natural, 10_000, train),
        ("hand-written test questions", natural_test, len(natural_test), []),
        ("hand-written test questions + train distractors", natural_test, 10_000, train),
    ]


def wrapped(cases: Sequence[EditCase]) -> list[EditCase]:
    """The cases with every rephrase and locality prompt inside a held-out template."""
    out = []
    for n, case in enumerate(cases):

        def wrap(text: str, k: int, n: int = n) -> str:
            return HELDOUT_WRAPPERS[(n + k) % len(HELDOUT_WRAPPERS)].replace("{q}", text)

        out.append(
            replace(
                case,
                paraphrases=tuple(wrap(p, k) for k, p in enumerate(case.paraphrases)),
                locality=tuple((kind, wrap(p, k + 1)) for k, (kind, p) in enumerate(case.locality)),
            )
        )
    return out


TRADE_OFFS = (
    ("relation_specificity", 0.90, "gen@rel-spec>=.90"),
    ("relation_specificity", 0.95, "gen@rel-spec>=.95"),
    ("neighborhood", 0.95, "gen@neighbour>=.95"),
)


def best_at(curve: Sequence[dict[str, Any]], kind: str, level: float) -> float | None:
    """The best generality over the curve's thresholds where ``kind`` is still at ``level``."""
    reached = [
        p["kinds"]["generality"]
        for p in curve
        if "generality" in p.get("kinds", {}) and p["kinds"].get(kind, -1.0) >= level - 1e-9
    ]
    return max(reached) if reached else None


def rate(report: dict[str, Any], key: str) -> float | None:
    value = report.get(key)
    if value is None:
        value = report["locality"].get(key)
    return value


def per_subject(value: str) -> int | None:
    """--edits-per-subject: a whole number from 1, or "all" (None: no cap)."""
    if value == "all":
        return None
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1, or 'all'")
    return int(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared benchmark folder")
    parser.add_argument("--routers", default="learnt,learnt-fast,threshold", help="comma list")
    parser.add_argument("--quick", action="store_true", help="counterfact val at 1,000 edits only")
    parser.add_argument(
        "--sets", default="", help="comma list: only rows whose set name contains one of these"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument(
        "--head", type=Path, help="a router head folder to measure instead of the shipped one"
    )
    parser.add_argument(
        "--edits-per-subject",
        type=per_subject,
        default=DEFAULT_PER_SUBJECT,
        help="the wrapper's setting the 'prompt own' / 'prompt wrong' columns assume "
        "(a number, or 'all'; default %(default)s)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.head is not None:
        os.environ[HEAD_ENV] = str(args.head)
        shipped_head.cache_clear()
    try:
        head = shipped_head()
    except MemeditError as exc:
        parser.error(str(exc))
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    wanted = [w for w in args.sets.split(",") if w]
    try:
        trained = [] if head is None else head.info.get("triples_relations", [])
        planned = runs(args.data, args.quick, trained)
    except MemeditError as exc:  # a missing or damaged benchmark file: one line, nothing run
        sys.exit(f"Error: {exc}")
    for name, cases, size, distractors in planned:
        if wanted and not any(w in name for w in wanted):
            continue
        for router in args.routers.split(","):
            stored = max(min(size, len(cases)), size if distractors else 0)
            log(f"{name}: {stored:,} edits, {router} router")
            report = evaluate_routing(
                cases,
                size,
                router=router,
                distractors=distractors,
                questions=name not in WITHOUT_QUESTION_FORMS,
                edits_per_subject=args.edits_per_subject,
                text=name.endswith(AS_TEXT),
            ).to_dict()
            rows.append({"set": name, **report})
    results = {
        "benchmark": "routing_validation",
        "environment": environment(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "head": None if head is None else {"threshold": head.threshold, "info": head.info},
        "rows": rows,
        "total_s": time.perf_counter() - started,
    }
    print(
        render_table(
            ["set", "edits", "router", *[short for _, short in COLUMNS], "p50 ms", "p99 ms"],
            [
                [
                    r["set"],
                    f"{r['n_edits']:,}",
                    r["router"]["kind"],
                    *["-" if (v := rate(r, key)) is None else f"{v:.3f}" for key, _ in COLUMNS],
                    f"{r['latency_ms']['p50']:.1f}",
                    f"{r['latency_ms']['p99']:.1f}",
                ]
                for r in rows
            ],
        )
    )
    traded = [
        (r, [best_at(r["curve"], kind, level) for kind, level, _ in TRADE_OFFS]) for r in rows
    ]
    traded = [(r, best) for r, best in traded if any(v is not None for v in best)]
    if traded:
        print()
        print(
            render_table(
                ["set", "edits", "router", *[name for _, _, name in TRADE_OFFS]],
                [
                    [
                        r["set"],
                        f"{r['n_edits']:,}",
                        r["router"]["kind"],
                        *["-" if v is None else f"{v:.3f}" for v in best],
                    ]
                    for r, best in traded
                ],
            )
        )
    print(f"total {results['total_s']:.0f}s")
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
