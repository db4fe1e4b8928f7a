"""memedit demo: add edits, see where queries are routed, export and import a store.

Runs offline in well under a minute on a laptop CPU:

    python examples/demo.py                 # a throw-away store in a temp folder
    python examples/demo.py --store demo    # keep the store (then try `memedit list --store demo`)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from memedit import EditDraft, EditStore

FACTS = [
    "The Eiffel Tower is located in Rome.",
    "Toko Yasuda plays the piano.",
    "The capital of France is Lyon.",
]
STRUCTURED = EditDraft(
    subject="Danielle Darrieux",
    prompt="The mother tongue of Danielle Darrieux is",
    target="English",
    tags=("demo",),
)
QUERIES = [
    "Where is the Eiffel Tower?",  # paraphrase of an edit: in scope
    "What instrument does Toko Yasuda play?",
    "What is the capital city of France?",
    "Danielle Darrieux's native language is",
    "Who wrote Hamlet?",  # unrelated: the base model answers
    "Where is the Colosseum?",  # same relation, another subject: must stay out of scope
]


def show_routes(store: EditStore, title: str) -> list[tuple[str, bool, str | None]]:
    print(f"\n{title}")
    rows = []
    for result in store.route_many(QUERIES):
        best = result.edits[0] if result.edits else None
        verdict = "IN SCOPE" if result.in_scope else "base model"
        detail = f"{best.score:.2f}  {best.text}" if best else "-"
        print(f"  {verdict:<10}  {result.query:<42} nearest: {detail}")
        rows.append((result.query, result.in_scope, best.id if best and result.in_scope else None))
    return rows


def main(store_dir: Path) -> None:
    with EditStore(store_dir / "store") as store:
        print(f"Store: {store.path}  (embedder {store.config['embedder']})")
        result = store.add_many([*FACTS, STRUCTURED])
        for edit in result.added:
            print(
                f"  added {edit.id}  {edit.text!r}  subject={edit.subject!r} question part={edit.route_text!r}"
            )
        print("\nAdding the same fact again stores nothing new:")
        again = store.add_many([FACTS[0]])
        print(f"  added {len(again.added)}, already stored {len(again.duplicates)}")

        print("\nA newer fact on the same subject and relation supersedes the old one:")
        newer = store.add_many(["The Eiffel Tower is located in Berlin."])
        for old, new in newer.superseded:
            print(f"  {store.get(old).text!r} -> superseded by {store.get(new).text!r}")
        routes = show_routes(store, "Routing (nearest edit and cosine score):")

        bundle = store.export(store_dir / "edits.memedit", overwrite=True)
        stats = store.stats()
        print(
            f"\nExported {stats.edits} edits ({stats.live} live) to {bundle} ({bundle.stat().st_size:,} bytes)"
        )

    with EditStore(store_dir / "imported") as copy:
        report = copy.import_bundle(bundle)
        print(
            f"Imported into {copy.path}: {len(report.added)} edits, re-embedded {report.reembedded}"
        )
        copied = show_routes(copy, "Routing in the imported copy:")
    assert copied == routes, "the imported store must route exactly like the original"
    print("\nThe imported store routes every query exactly like the original.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--store", type=Path, help="folder to keep the demo stores in (default: a temp folder)"
    )
    args = parser.parse_args()
    if args.store:
        args.store.mkdir(parents=True, exist_ok=True)
        main(args.store)
    else:
        with tempfile.TemporaryDirectory(prefix="memedit-demo-") as tmp:
            main(Path(tmp))
