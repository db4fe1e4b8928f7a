"""How often the free-text parser splits a benchmark's facts as the benchmark does.

Each structured record (subject, prompt, target) is turned into the one sentence
``memedit add "..."`` would get (``memedit.evaluation.as_text``: prompt and target joined)
and built as a free-text edit (``memedit.edits.build_edit``, which runs
``memedit.facts.parse_fact``). The derived parts are compared with the record's:

- exact: the same subject, prompt and target;
- other split: the right subject, the prompt and target divided elsewhere
  ("Jari Kurri is a | professional soccer");
- wrong subject: a subject, but not the record's;
- not split: no subject and no question part (the edit routes on its whole text).

Run from the repository root (a few seconds)::

    python examples/benchmarks/parse_coverage.py
    python examples/benchmarks/parse_coverage.py --examples 5   # the commonest misses too
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchlib import REPO_ROOT, environment, render_table, write_results

from memedit.edits import EditDraft, build_edit
from memedit.errors import MemeditError
from memedit.evaluation import as_text, valid_cases
from memedit.formats import read_cases

DATA = REPO_ROOT.parent / "shared" / "data"
FILES = (
    "counterfact/train.json",
    "counterfact/val.json",
    "counterfact/rome-format-dev.json",
    "knowedit/train_cf.json",
    "knowedit/recent_train.json",
    "zsre/zsre_mend_train-1k.json",
)
OUTCOMES = ("exact", "other split", "wrong subject", "not split")
DEFAULT_OUT = REPO_ROOT / "examples" / "benchmarks" / "results" / "parse_coverage.json"


def _spaced(text: str | None) -> str:
    return " ".join((text or "").split())


def outcome(draft: EditDraft) -> str:
    """How the parser splits the sentence of a structured draft (one of OUTCOMES)."""
    edit = build_edit(as_text(draft))
    if edit.prompt is None:
        return "not split"
    if _spaced(edit.subject) != _spaced(draft.subject):
        return "wrong subject"
    same = (_spaced(edit.prompt), _spaced(edit.target)) == (
        _spaced(draft.prompt),
        _spaced(draft.target),
    )
    return "exact" if same else "other split"


def coverage(path: Path, examples: int = 0) -> dict[str, Any]:
    """Each outcome's share of a file's records, and the commonest misses by template."""
    drafts = [case.draft for case in valid_cases(read_cases(path)) if case.draft.subject]
    counts: Counter[str] = Counter()
    misses: Counter[tuple[str, str]] = Counter()
    for draft in drafts:
        found = outcome(draft)
        counts[found] += 1
        if found != "exact":
            assert draft.prompt is not None and draft.subject is not None
            misses[(found, draft.prompt.replace(draft.subject, "{}", 1))] += 1
    return {
        "records": len(drafts),
        "shares": {name: counts[name] / len(drafts) if drafts else 0.0 for name in OUTCOMES},
        "misses": [
            {"outcome": kind, "template": template, "records": n}
            for (kind, template), n in misses.most_common(examples)
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared benchmark folder")
    parser.add_argument("--files", default=",".join(FILES), help="comma list, under --data")
    parser.add_argument("--examples", type=int, default=10, help="misses kept per file")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        files = {name: coverage(args.data / name, args.examples) for name in args.files.split(",")}
    except MemeditError as exc:  # a missing or damaged benchmark file: one line
        sys.exit(f"Error: {exc}")
    print(
        render_table(
            ["file", "records", *OUTCOMES],
            [
                [name, f"{r['records']:,}", *[f"{r['shares'][o]:.3f}" for o in OUTCOMES]]
                for name, r in files.items()
            ],
        )
    )
    for name, r in files.items():
        for miss in r["misses"]:
            print(f"  {name}: {miss['records']:4d} {miss['outcome']:13s} {miss['template']!r}")
    results = {
        "benchmark": "parse_coverage",
        "environment": environment(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "files": files,
        "total_s": time.perf_counter() - started,
    }
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
