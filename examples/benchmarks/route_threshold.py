"""Sweep the router's cosine threshold on CounterFact and find its balanced point.

The cosine router (``threshold`` kind in ``memedit/router.py``; the default for
stores built with embedders that have no trained head) puts a query in scope of
a stored edit when their cosine similarity is at least a threshold. This script measures, for
each threshold from ``--start`` to ``--stop`` by ``--step`` (default
0.30..0.95 by 0.01):

- **reliability**: an edit's own ``prompt`` routes to that edit (top-1) and in scope;
- **generality**: its ``rephrase_prompt`` routes to that edit (top-1) and in scope;
- **locality**: its ``locality_prompt`` (another subject, same relation) is in
  scope of no edit (top-1 similarity below the threshold),

and reports the threshold that maximises min(reliability, generality,
locality), next to the shipped default (``memedit.router.DEFAULT_THRESHOLD``).

The store is built in a temporary folder from the first ``--edits`` records
(default 3000) of ``--data`` (default ``../shared/data/counterfact/train.json``,
relative to the repository root), with ``EditStore.add_file(..., "counterfact")``;
the three query sets are routed with one ``route_many`` call each (k=1), and
every threshold is evaluated on those same top-1 scores.

Two CounterFact quirks are handled rather than counted as errors: records on
the same subject and relation as an earlier one supersede it (the conflict
rule), so a record's "own edit" is the live edit that stands for it; and a
locality prompt that asks a stored edit's question (its prompt, or its subject
with the same relation: ``memedit.evaluation.StoredFacts``) is left out of
locality (routing it in scope is right). Both counts are reported.

Run from the repository root (about 2 minutes for 3000 edits on 2 CPU cores)::

    python examples/benchmarks/route_threshold.py
    python examples/benchmarks/route_threshold.py --edits 1000 --out /tmp/threshold.json

It prints a table and writes JSON to ``examples/benchmarks/results/route_threshold.json``
(``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import REPO_ROOT, environment, log, render_table, write_results

from memedit import EditStore
from memedit.edits import Edit, EditDraft, build_edit
from memedit.embedder import get_embedder
from memedit.evaluation import StoredFacts
from memedit.formats import load_records
from memedit.router import DEFAULT_THRESHOLD

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "counterfact" / "train.json"
DEFAULT_OUT = REPO_ROOT / "examples" / "benchmarks" / "results" / "route_threshold.json"
FIELDS = (
    ("reliability", "prompt"),
    ("generality", "rephrase_prompt"),
    ("locality", "locality_prompt"),
)


def thresholds(start: float, stop: float, step: float) -> list[float]:
    count = round((stop - start) / step) + 1
    return [round(start + i * step, 6) for i in range(count)]


def own_edits(store: EditStore, records: Sequence[dict[str, Any]]) -> tuple[list[str | None], int]:
    """For each record, the id of the live edit that stands for it, and how many were superseded."""
    by_hash = {e.content_hash: e for e in store.edits(include_superseded=True)}
    by_id: dict[str, Edit] = {e.id: e for e in by_hash.values()}
    owners: list[str | None] = []
    superseded = 0
    for record in records:
        draft = EditDraft(
            subject=record["subject"], prompt=record["prompt"], target=record["target_new"]
        )
        edit = by_hash.get(build_edit(draft).content_hash)
        if edit is not None and not edit.live:
            superseded += 1
        seen: set[str] = set()
        while edit is not None and not edit.live and edit.id not in seen:
            seen.add(edit.id)
            edit = by_id.get(edit.superseded_by or "")
        owners.append(edit.id if edit is not None and edit.live else None)
    return owners, superseded


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CounterFact JSON")
    parser.add_argument("--edits", type=int, default=3000, help="first N records become edits")
    parser.add_argument("--start", type=float, default=0.30)
    parser.add_argument("--stop", type=float, default=0.95)
    parser.add_argument("--step", type=float, default=0.01)
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="the default agrees when its min score is within this of the best",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)
    if args.edits < 1 or args.step <= 0 or args.stop < args.start:
        parser.error("need --edits >= 1, --step > 0 and --stop >= --start")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.perf_counter()

    records = [dict(r) for r in load_records(args.data)[: args.edits]]
    missing = [f for _, f in FIELDS if any(not r.get(f) for r in records)]
    if missing:
        raise SystemExit(f"{args.data}: some records lack {', '.join(missing)}")
    grid = thresholds(args.start, args.stop, args.step)
    embedder = get_embedder()

    with tempfile.TemporaryDirectory(prefix="memedit-threshold-") as tmp:
        edits_file = Path(tmp) / "edits.json"
        edits_file.write_text(json.dumps(records))
        with EditStore(Path(tmp) / "store", embedder=embedder) as store:
            store.configure_router(kind="threshold")  # this sweep is about the cosine router
            log(f"adding {len(records):,} CounterFact edits")
            start = time.perf_counter()
            result = store.add_file(edits_file, "counterfact", progress=False)
            add_s = time.perf_counter() - start
            owners, superseded = own_edits(store, records)
            stored = StoredFacts(store.edits())
            top1: dict[str, tuple[list[str | None], np.ndarray]] = {}
            route_s: dict[str, float] = {}
            for name, key in FIELDS:
                log(f"routing {len(records):,} {key}s")
                start = time.perf_counter()
                routed = store.route_many([r[key] for r in records], k=1)
                route_s[name] = time.perf_counter() - start
                top1[name] = (
                    [r.edits[0].id if r.edits else None for r in routed],
                    np.array([r.edits[0].score if r.edits else -1.0 for r in routed]),
                )
            n_live = len(store)

    own_hit = {
        name: np.array([i == o for i, o in zip(top1[name][0], owners, strict=True)])
        for name in ("reliability", "generality")
    }
    locality_mask = np.array([not stored.asked(r["locality_prompt"]) for r in records])
    rows: list[dict[str, float]] = []
    for t in grid:
        row = {"threshold": t}
        for name in ("reliability", "generality"):
            row[name] = float(np.mean(own_hit[name] & (top1[name][1] >= t)))
        row["locality"] = float(np.mean(top1["locality"][1][locality_mask] < t))
        row["min"] = min(row["reliability"], row["generality"], row["locality"])
        rows.append(row)

    best_min = max(r["min"] for r in rows)
    tied = [r["threshold"] for r in rows if r["min"] >= best_min - 1e-12]
    best = tied[len(tied) // 2]  # the middle of a plateau of equally good thresholds
    default_row = {
        "threshold": DEFAULT_THRESHOLD,
        **{
            name: (
                float(np.mean(own_hit[name] & (top1[name][1] >= DEFAULT_THRESHOLD)))
                if name != "locality"
                else float(np.mean(top1["locality"][1][locality_mask] < DEFAULT_THRESHOLD))
            )
            for name, _ in FIELDS
        },
    }
    default_row["min"] = min(default_row[name] for name, _ in FIELDS)
    exact = any(abs(t - DEFAULT_THRESHOLD) < 1e-9 for t in tied)
    within = best_min - default_row["min"] <= args.tolerance
    verdict = (
        "agrees (the default is a best threshold)"
        if exact
        else f"agrees within tolerance {args.tolerance}"
        if within
        else "DISAGREES"
    )

    results: dict[str, Any] = {
        "benchmark": "route_threshold",
        "environment": environment(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "embedder": embedder.id,
        "records": len(records),
        "added": len(result.added),
        "duplicates": len(records) - len(result.added),  # same fact twice in the first N
        "superseded_records": superseded,
        "live_edits": n_live,
        "records_without_live_edit": sum(o is None for o in owners),
        "locality_excluded": int((~locality_mask).sum()),
        "add_s": add_s,
        "route_many_s": route_s,
        "top1_score_mean": {name: float(np.mean(top1[name][1])) for name, _ in FIELDS},
        "top1_is_own_edit": {name: float(np.mean(hit)) for name, hit in own_hit.items()},
        "sweep": rows,
        "best": {"threshold": best, "min": best_min, "tied": tied},
        "default": default_row,
        "tolerance": args.tolerance,
        "default_agrees": exact or within,
        "verdict": verdict,
        "total_s": time.perf_counter() - started,
    }
    print_report(results)
    write_results(args.out, results)
    return 0


def print_report(results: dict[str, Any]) -> None:
    print(
        f"{results['records']:,} CounterFact records -> {results['live_edits']:,} live edits "
        f"({results['superseded_records']} superseded by a later record on the same subject and "
        f"relation, {results['duplicates']} duplicates); {results['embedder']}"
    )
    print(
        f"top-1 is the record's own edit: reliability {results['top1_is_own_edit']['reliability']:.3f}, "
        f"generality {results['top1_is_own_edit']['generality']:.3f}; "
        f"{results['locality_excluded']} locality prompts left out (they ask a stored edit's question)"
    )
    marks = {results["best"]["threshold"]: "best"}
    default = results["default"]["threshold"]
    marks[default] = "best, default" if default in marks else "default"
    print()
    print(
        render_table(
            ["threshold", "reliability", "generality", "locality", "min", "note"],
            [
                [
                    f"{r['threshold']:.2f}",
                    f"{r['reliability']:.3f}",
                    f"{r['generality']:.3f}",
                    f"{r['locality']:.3f}",
                    f"{r['min']:.3f}",
                    ("<- " + marks[r["threshold"]]) if r["threshold"] in marks else "",
                ]
                for r in results["sweep"]
            ],
        )
    )
    best = results["best"]
    tied = best["tied"]
    span = f"{tied[0]:.2f}" if len(tied) == 1 else f"{tied[0]:.2f}..{tied[-1]:.2f}"
    d = results["default"]
    print(
        f"\nbest threshold {best['threshold']:.2f} (min {best['min']:.3f}; best over {span}); "
        f"default {d['threshold']:.2f} (min {d['min']:.3f}: reliability {d['reliability']:.3f}, "
        f"generality {d['generality']:.3f}, locality {d['locality']:.3f})"
    )
    print(f"shipped default DEFAULT_THRESHOLD = {d['threshold']:.2f}: {results['verdict']}")
    print(f"total {results['total_s']:.0f}s")


if __name__ == "__main__":
    raise SystemExit(main())
