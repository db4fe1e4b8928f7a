"""Fine-tuning loops for small language models on (prompt, answer) pairs.

Used by ``memedit train-counterfactual`` (the SERAC-style counterfactual model)
and by :mod:`memedit.toymodel`. The loss covers only the answer tokens (and
the end-of-sequence token that stops generation), so a model learns to answer
rather than to repeat its prompts. Plain torch: no Trainer, no accelerate.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

IGNORE = -100


@dataclass(frozen=True)
class Example:
    """A prompt and the answer a model should give to it."""

    prompt: str
    answer: str


@dataclass
class TrainReport:
    steps: int
    epochs: int
    examples: int
    first_loss: float
    last_loss: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def is_seq2seq(model: Any) -> bool:
    return bool(getattr(model.config, "is_encoder_decoder", False))


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id
    if pad is None:
        raise ValueError("the tokenizer has neither a pad nor an end-of-sequence token")
    return int(pad)


def _answer_ids(tokenizer: Any, answer: str) -> list[int]:
    ids = list(tokenizer(" " + answer.strip(), add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    return ids


def _causal_batch(
    tokenizer: Any, batch: Sequence[Example], max_length: int
) -> dict[str, torch.Tensor]:
    rows: list[tuple[list[int], list[int]]] = []
    for example in batch:
        prompt = list(tokenizer(example.prompt)["input_ids"])
        answer = _answer_ids(tokenizer, example.answer)
        ids = (prompt + answer)[-max_length:]
        labels = ([IGNORE] * len(prompt) + answer)[-max_length:]
        rows.append((ids, labels))
    width = max(len(ids) for ids, _ in rows)
    pad = _pad_id(tokenizer)
    return {
        "input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows]),
        "attention_mask": torch.tensor(
            [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows]
        ),
        "labels": torch.tensor([labels + [IGNORE] * (width - len(labels)) for _, labels in rows]),
    }


def _seq2seq_batch(
    tokenizer: Any, batch: Sequence[Example], max_length: int
) -> dict[str, torch.Tensor]:
    encoded = tokenizer(
        [e.prompt for e in batch],
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    targets = [_answer_ids(tokenizer, e.answer)[:max_length] for e in batch]
    width = max(len(t) for t in targets)
    labels = torch.tensor([t + [IGNORE] * (width - len(t)) for t in targets])
    return {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "labels": labels,
    }


def train(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    *,
    epochs: int = 3,
    batch_size: int = 16,
    learning_rate: float = 5e-5,
    max_length: int = 256,
    seed: int = 0,
    on_step: Callable[[int, int, float], None] | None = None,
) -> TrainReport:
    """Fine-tune a causal or seq2seq model in place (AdamW, linear decay); returns losses."""
    if not examples:
        raise ValueError("no training examples")
    random.seed(seed)
    torch.manual_seed(seed)
    order = list(examples)
    make_batch = _seq2seq_batch if is_seq2seq(model) else _causal_batch
    steps_per_epoch = math.ceil(len(order) / batch_size)
    total = steps_per_epoch * epochs
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=learning_rate
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: max(0.0, 1.0 - step / total)
    )
    device = next(model.parameters()).device
    model.train()
    started = time.perf_counter()
    first = last = float("nan")
    step = 0
    try:
        for _ in range(epochs):
            random.shuffle(order)
            for start in range(0, len(order), batch_size):
                batch = {
                    k: v.to(device)
                    for k, v in make_batch(
                        tokenizer, order[start : start + batch_size], max_length
                    ).items()
                }
                loss = model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                last = float(loss.detach())
                if step == 1:
                    first = last
                if on_step is not None:
                    on_step(step, total, last)
    finally:
        model.eval()
    return TrainReport(step, epochs, len(order), first, last, time.perf_counter() - started)


def normalise_answer(text: str) -> str:
    return " ".join(text.strip().strip(".").casefold().split())


@torch.no_grad()
def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 16,
    batch_size: int = 16,
) -> list[str]:
    """Greedy answers, one per prompt (left padding for decoder-only models)."""
    answers: list[str] = []
    seq2seq = is_seq2seq(model)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = list(prompts[start : start + batch_size])
            encoded = tokenizer(chunk, return_tensors="pt", padding=True).to(device)
            output = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=_pad_id(tokenizer),
            )
            new = output if seq2seq else output[:, encoded["input_ids"].shape[1] :]
            answers.extend(t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
    return answers


def exact_match(
    model: Any, tokenizer: Any, examples: Sequence[Example], *, max_new_tokens: int = 16
) -> float:
    """Share of examples whose greedy answer equals the expected one (case and spacing aside)."""
    if not examples:
        return float("nan")
    answers = generate_answers(
        model, tokenizer, [e.prompt for e in examples], max_new_tokens=max_new_tokens
    )
    return sum(
        normalise_answer(a) == normalise_answer(e.answer)
        for a, e in zip(answers, examples, strict=True)
    ) / len(examples)
