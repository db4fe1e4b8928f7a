"""Every way to use EditableModel, on a model you name or on memedit's toy model.

    python examples/editable_model.py                                  # offline: the toy model
    python examples/editable_model.py --model Qwen/Qwen2.5-0.5B-Instruct  # any HF causal LM

The toy model is trained here in about 15 seconds (see ``memedit.toymodel``);
it knows where a dozen landmarks are and can read a fact from its prompt.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from memedit import EditStore
from memedit.model import EditableModel


def main(work: Path, model_name: str | None) -> None:
    store = EditStore(work / "store")  # a path; created if missing
    store.add("The Eiffel Tower is located in Rome.")

    if model_name is None:
        from memedit.toymodel import train_toy_model

        toy = train_toy_model()
        model_name = str(work / "toy-model")  # saved like any HF model, to load it by path below
        toy.model.save_pretrained(model_name)
        toy.tokenizer.save_pretrained(model_name)

    # 1. Load a base model by hub id or local path and wrap it.
    em = EditableModel.from_pretrained(model_name, store=store)
    # 2. Or wrap a model you already loaded.
    em = EditableModel(em.model, em.tokenizer, store=store)

    # 3. Answer: in scope, the edit is in the prompt; out of scope, the base model answers.
    for question in ["Where is the Eiffel Tower?", "Where is the Big Ben?"]:
        ans = em.answer(question, max_new_tokens=16)
        print(f"{question!r} -> {ans.text!r}  routed={ans.routed}  mode={ans.mode}")
        print(f"   edits: {[(e.id, round(e.score, 3)) for e in ans.edits]}")
        print(f"   prompt sent: {ans.prompt!r}")

    # 4. Where would a query go? The nearest edits, their scores, the decision.
    route = em.route("In which city is the Eiffel Tower?")
    print(
        f"route: in_scope={route.in_scope}, best={route.edits[0].text!r} ({route.edits[0].score:.3f})"
    )

    # 5. A drop-in for model.generate: each row is routed on its own text.
    tokenizer = em.tokenizer
    tokenizer.padding_side = "left"
    prompts = [
        "Question: Where is the Eiffel Tower?\nAnswer:",
        "Question: Where is the Big Ben?\nAnswer:",
    ]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    output = em.generate(**batch, max_new_tokens=8, do_sample=False)
    for prompt, row in zip(prompts, output[:, batch["input_ids"].shape[1] :], strict=True):
        print(
            f"generate: {prompt.splitlines()[0]!r} -> {tokenizer.decode(row, skip_special_tokens=True)!r}"
        )

    # 6. Chat: in scope, the edits join the system message.
    reply = em.chat([{"role": "user", "content": "Where is the Eiffel Tower?"}], max_new_tokens=16)
    print(f"chat: {reply.text!r} (routed={reply.routed})")

    # 7. Counterfactual (SERAC) mode: another model answers in-scope queries from the edit.
    #    Here the same model plays both parts; see `memedit train-counterfactual` for a real one.
    serac = EditableModel(
        em.model,
        tokenizer,
        store,
        mode="counterfactual",
        counterfactual_model=em.model,
        counterfactual_tokenizer=tokenizer,
    )
    print(f"counterfactual: {serac.answer('Where is the Eiffel Tower?', max_new_tokens=16).text!r}")

    # 8. Save the wrapper (config + edits, not the base weights) and restore it.
    saved = em.save_pretrained(work / "my-editable-model")
    restored = EditableModel.from_pretrained(saved)
    print(
        f"restored from {saved}: {restored.answer('Where is the Eiffel Tower?', max_new_tokens=16).text!r}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", help="a Hugging Face causal LM (hub id or folder); default: the toy model"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="memedit-example-") as tmp:
        main(Path(tmp), args.model)
