"""Time importing a bundle: with relation vectors, without them, and without any vectors.

A source store gets the edits of the first ``--sizes`` CounterFact records of ``--data``
(default ``../shared/data/counterfact/train.json``, relative to the repository root) through
``EditStore.add_many``, and is exported three ways:

- as ``memedit export`` writes it (format version 2): edits, vectors and relation vectors;
- as a version 1 bundle (what memedit wrote before bundles carried relation vectors):
  edits and vectors, so the importing store pools relation vectors in one encoder pass;
- as ``memedit export --no-vectors`` writes it: edits only, so everything is re-embedded.

Each is imported into a new store (``EditStore.import_bundle``; reading and checking the
bundle included), best of ``--repeats``; the table gives seconds and edits per second, and
checks that the imported stores route ``--queries`` rephrasings as the source does.

Run from the repository root (about 2 minutes on 2 CPU cores)::

    python examples/benchmarks/bundle_import.py
    python examples/benchmarks/bundle_import.py --sizes 1000 --out /tmp/import.json

It prints a table and writes JSON to ``examples/benchmarks/results/bundle_import.json``
(``--out`` to change).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchlib import REPO_ROOT, environment, log, parse_sizes, render_table, write_results

from memedit import EditStore
from memedit.bundle import bundle_files, write_bundle
from memedit.formats import load_records, read_edit_file

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "counterfact" / "train.json"
DEFAULT_OUT = REPO_ROOT / "examples" / "benchmarks" / "results" / "bundle_import.json"
KINDS = ("vectors and relation vectors", "vectors only (version 1)", "no vectors")


def version_1(store: EditStore, path: Path) -> Path:
    """The store as a bundle memedit wrote before relation vectors: edits and vectors only."""
    dump = store.backend.dump()
    config = store.config
    files = bundle_files(
        dump.edits,
        dump.vectors,
        embedder={
            "id": config["embedder"],
            "dimension": int(config["dimension"]),
            "normalize": True,
        },
        router=config.get("router"),
        memedit_version="benchmark",
    )
    return write_bundle(path, files)


def routed(store: EditStore, queries: Sequence[str]) -> list[tuple[str | None, bool]]:
    return [
        (result.edits[0].id if result.edits else None, result.in_scope)
        for result in store.route_many(list(queries))
    ]


def best_import(
    bundle: Path, root: Path, repeats: int, check: Callable[[EditStore], bool]
) -> dict[str, Any]:
    times, same = [], True
    for n in range(repeats):
        with EditStore(root / f"{bundle.stem}-{n}") as fresh:
            fresh.embedder.encode(["warm up"])  # loading the model is not the import's cost
            started = time.perf_counter()
            report = fresh.import_bundle(bundle, progress=False)
            times.append(time.perf_counter() - started)
            same = same and check(fresh)
    return {"seconds": min(times), "reembedded": report.reembedded, "routes_as_source": same}


def bench_size(data: Path, n: int, repeats: int, n_queries: int, root: Path) -> dict[str, Any]:
    records = load_records(data)[:n]
    queries = [r["rephrase_prompt"] for r in records[:n_queries] if r.get("rephrase_prompt")]
    with EditStore(root / f"source-{n}") as source:
        started = time.perf_counter()
        source.add_many(read_edit_file(data, "counterfact")[:n], skip_invalid=True)
        ingest = time.perf_counter() - started
        edits = len(source)
        expected = routed(source, queries)
        bundles = {
            KINDS[0]: source.export(root / f"full-{n}.memedit"),
            KINDS[1]: version_1(source, root / f"v1-{n}.memedit"),
            KINDS[2]: source.export(root / f"bare-{n}.memedit", vectors=False),
        }
    log(f"{edits:,} edits added in {ingest:.1f}s; importing")
    row: dict[str, Any] = {"edits": edits, "ingest_seconds": ingest, "imports": {}}
    for kind, bundle in bundles.items():
        result = best_import(bundle, root, repeats, lambda s: routed(s, queries) == expected)
        result["bytes"] = bundle.stat().st_size
        result["edits_per_second"] = edits / result["seconds"]
        row["imports"][kind] = result
        log(f"{kind}: {result['seconds']:.2f}s")
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--sizes", type=parse_sizes, default="1000,5000", help="edits per store")
    parser.add_argument(
        "--repeats", type=int, default=2, help="imports per bundle; the best counts"
    )
    parser.add_argument("--queries", type=int, default=200, help="rephrasings routed to compare")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CounterFact JSON")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    rows = []
    with tempfile.TemporaryDirectory(prefix="memedit-import-bench-") as tmp:
        for n in args.sizes:
            rows.append(bench_size(args.data, n, args.repeats, args.queries, Path(tmp)))
    table = [
        [
            f"{row['edits']:,}",
            kind,
            f"{result['bytes'] / 1e6:.1f} MB",
            f"{result['seconds']:.2f}",
            f"{result['edits_per_second']:,.0f}",
            "yes" if result["routes_as_source"] else "NO",
        ]
        for row in rows
        for kind, result in row["imports"].items()
    ]
    print(
        render_table(
            ["edits", "bundle holds", "size", "import s", "edits/s", "routes as source"], table
        )
    )
    write_results(
        args.out,
        {
            "environment": environment(),
            "data": str(args.data),
            "repeats": args.repeats,
            "sizes": rows,
        },
    )
    log(f"wrote {args.out}")
    return 0 if all(r["routes_as_source"] for row in rows for r in row["imports"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
