"""Train the SERAC-style counterfactual model: given an edit and a query, answer.

``memedit train-counterfactual`` fine-tunes a small causal or seq2seq model on
(edit, query, answer) triples built from editing benchmarks: for each edit,
its own prompt and its paraphrases, with the edit (and sometimes a
distracting edit) in the prompt, answered with the edit's target. Edits are
split before training, so the held-out report measures edits the model never saw.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memedit.edits import build_edit
from memedit.errors import InvalidEditError, MemeditError
from memedit.formats import EditCase, read_cases
from memedit.model import COUNTERFACTUAL_CONFIG, load_language_model
from memedit.prompts import PromptTemplate
from memedit.training import Example, exact_match, train

MAX_EVAL_EXAMPLES = 500


@dataclass
class CounterfactualReport:
    output: str
    base_model: str
    train_edits: int
    heldout_edits: int
    train_examples: int
    heldout_examples: int
    heldout_exact_match_before: float | None  # None without a held-out split
    heldout_exact_match_after: float | None
    first_loss: float
    last_loss: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def counterfactual_examples(
    cases: Sequence[EditCase],
    template: PromptTemplate,
    *,
    seed: int = 0,
    distractor_rate: float = 0.5,
) -> list[Example]:
    """Prompts holding the edit (and sometimes another edit), for its prompt and paraphrases."""
    rng = random.Random(seed)
    edits = []
    for case in cases:
        try:
            edit = build_edit(case.draft)
        except InvalidEditError:
            continue  # benchmarks have the odd malformed record; it is not worth failing a run over
        if edit.target and edit.prompt:
            edits.append((edit, case.paraphrases))
    examples: list[Example] = []
    for edit, paraphrases in edits:
        for query in (edit.prompt, *paraphrases):
            assert query is not None and edit.target is not None
            facts = [edit.text]
            if len(edits) > 1 and rng.random() < distractor_rate:
                other = rng.choice(edits)[0]
                if other.id != edit.id:
                    facts.append(other.text)
                    rng.shuffle(facts)
            examples.append(Example(template.plain(query, facts), edit.target))
    return examples


def train_counterfactual(
    base_model: str,
    data: Sequence[tuple[str | Path, str]],
    output: str | Path,
    *,
    epochs: int = 3,
    batch_size: int = 16,
    learning_rate: float = 5e-5,
    holdout: float = 0.1,
    max_edits: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    template: PromptTemplate | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> CounterfactualReport:
    """Fine-tune ``base_model`` on edits from ``data`` ((path, format) pairs); save it to ``output``."""
    output = Path(output).expanduser()
    if output.exists() and (not output.is_dir() or (any(output.iterdir()) and not overwrite)):
        raise MemeditError(
            f"{output} exists and is not empty; choose another --output or pass --force."
        )
    if not 0.0 <= holdout < 1.0:
        raise MemeditError(f"holdout must be in [0, 1); got {holdout}.")
    template = template or PromptTemplate(chat=False)
    cases = [case for path, fmt in data for case in read_cases(path, fmt)]
    random.Random(seed).shuffle(cases)
    if max_edits is not None:
        cases = cases[:max_edits]
    n_held = round(len(cases) * holdout)
    held, kept = cases[:n_held], cases[n_held:]
    train_examples = counterfactual_examples(kept, template, seed=seed)
    held_examples = counterfactual_examples(held, template, seed=seed + 1)[:MAX_EVAL_EXAMPLES]
    if not train_examples:
        raise MemeditError("The data gave no training examples (edits need a prompt and a target).")
    model, tokenizer = load_language_model(base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    before = exact_match(model, tokenizer, held_examples) if held_examples else None
    report = train(
        model,
        tokenizer,
        train_examples,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        on_step=on_step,
    )
    after = exact_match(model, tokenizer, held_examples) if held_examples else None
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    result = CounterfactualReport(
        output=str(output),
        base_model=base_model,
        train_edits=len(kept),
        heldout_edits=len(held),
        train_examples=len(train_examples),
        heldout_examples=len(held_examples),
        heldout_exact_match_before=before,
        heldout_exact_match_after=after,
        first_loss=report.first_loss,
        last_loss=report.last_loss,
        seconds=report.seconds,
    )
    config = {
        "template": template.to_dict(),
        "data": [{"path": str(p), "format": f} for p, f in data],
        "training": {
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "seed": seed,
        },
        "report": result.to_dict(),
    }
    (output / COUNTERFACTUAL_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return result
