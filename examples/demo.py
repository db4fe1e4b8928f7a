"""memedit demo: add edits, see where queries go, export and import a store, answer with a model.

Runs offline in about a minute on a laptop CPU:

    python examples/demo.py                                # a tiny model trained on the spot
    python examples/demo.py --model Qwen/Qwen2.5-0.5B-Instruct   # any HF causal LM (hub id or folder)
    python examples/demo.py --store demo                   # keep the stores (then: memedit list --store demo/store)

Without ``--model`` the answering part uses memedit's toy model: a 2-layer
transformer trained here in about 15 seconds to know where a dozen landmarks
are, and to answer from a fact given in its prompt.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from memedit import EditDraft, EditStore
from memedit.model import EditableModel

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
# What the toy model can read; a real model gets these and the QUERIES above.
TOY_QUESTIONS = [
    "Where is the Eiffel Tower?",
    "In which city is the Eiffel Tower?",
    "Where is the Big Ben?",
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


def build_store(store_dir: Path) -> Path:
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
        routes = show_routes(
            store, "Routing (nearest edit, and the scope classifier's score for it):"
        )

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
    return store_dir / "store"


def load_model(name: str | None) -> tuple[Any, Any, list[str], int]:
    if name:
        from memedit.model import load_language_model

        print(f"\nLoading {name} ...")
        model, tokenizer = load_language_model(name)
        return model, tokenizer, list(dict.fromkeys([*TOY_QUESTIONS, *QUERIES])), 32
    from memedit.toymodel import train_toy_model

    print("\nTraining the toy model (2 layers, a dozen landmarks; about 15 s) ...")
    toy = train_toy_model()
    print(
        f"  closed-book accuracy {toy.closed_book_accuracy:.2f}, answers from a fact in its prompt {toy.open_book_accuracy:.2f}"
    )
    return toy.model, toy.tokenizer, TOY_QUESTIONS, 4


def answer_questions(store_path: Path, model_name: str | None) -> None:
    model, tokenizer, questions, max_new_tokens = load_model(model_name)
    with EditStore(store_path) as store:
        editable = EditableModel(model, tokenizer, store)
        print("\nAnswers: the frozen base model, then the same model with memedit")
        for question in questions:
            base = editable.answer(question, max_new_tokens=max_new_tokens, use_edits=False)
            edited = editable.answer(question, max_new_tokens=max_new_tokens)
            how = (
                f"from edit {edited.edits[0].text!r}"
                if edited.routed
                else "out of scope: base model, unchanged"
            )
            print(f"  {question}\n      base: {base.text!r}\n    edited: {edited.text!r}  ({how})")
            if not edited.routed:
                assert edited.text == base.text, "out of scope, the answer must be the base model's"


def main(work: Path, model_name: str | None) -> None:
    store_path = build_store(work)
    answer_questions(store_path, model_name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--store", type=Path, help="folder to keep the demo stores in (default: a temp folder)"
    )
    parser.add_argument(
        "--model", help="a Hugging Face causal LM (hub id or folder) instead of the toy model"
    )
    args = parser.parse_args()
    if args.store:
        args.store.mkdir(parents=True, exist_ok=True)
        main(args.store, args.model)
    else:
        with tempfile.TemporaryDirectory(prefix="memedit-demo-") as tmp:
            main(Path(tmp), args.model)
