"""The counterfactual (SERAC) training recipe, end to end on tiny models."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from conftest import shared_data
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

from memedit import EditStore
from memedit.cli import cli
from memedit.counterfactual import counterfactual_examples
from memedit.formats import read_cases
from memedit.model import COUNTERFACTUAL_CONFIG, EditableModel
from memedit.prompts import PromptTemplate
from memedit.toymodel import CITIES, LANDMARKS, toy_vocabulary_texts, word_tokenizer
from memedit.training import Example, generate_answers, train


def test_examples_from_benchmark_cases() -> None:
    cases = read_cases(shared_data("counterfact/train.json"))[:50]
    template = PromptTemplate(chat=False)
    examples = counterfactual_examples(cases, template, seed=0)
    assert len(examples) == sum(1 + len(c.paraphrases) for c in cases)
    first = cases[0]
    text = f"{first.draft.prompt} {first.draft.target}"
    assert examples[0].answer == first.draft.target == "piano"
    assert f"- {text}" in examples[0].prompt and examples[0].prompt.endswith(
        f"Question: {first.draft.prompt}\nAnswer:"
    )
    assert examples[1].prompt.endswith(f"Question: {first.paraphrases[0]}\nAnswer:")
    assert any(
        e.prompt.count("\n- ") == 2 for e in examples
    )  # some carry a distracting second edit


def landmark_file(tmp_path: Path) -> Path:
    rng = random.Random(0)
    records = []
    for i, landmark in enumerate(LANDMARKS):
        records.append(
            {
                "case_id": i,
                "subject": landmark,
                "prompt": f"Where is the {landmark}?",
                "rephrase_prompt": f"In which city is the {landmark}?",
                "target_new": rng.choice(CITIES),
                "ground_truth": LANDMARKS[landmark],
                "locality_prompt": "Where is the Hofburg?",
            }
        )
    path = tmp_path / "landmarks.json"
    path.write_text(json.dumps(records))
    return path


def tiny_llama_dir(tmp_path: Path) -> Path:
    tokenizer = word_tokenizer(toy_vocabulary_texts())
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=256,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.eos_token_id,
        )
    )
    path = tmp_path / "tiny-llama"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_train_counterfactual_end_to_end(tmp_path: Path, store: EditStore) -> None:
    base = tiny_llama_dir(tmp_path)
    data = landmark_file(tmp_path)
    output = tmp_path / "cf"
    runner = CliRunner()
    args = [
        "train-counterfactual",
        "--model",
        str(base),
        "--data",
        str(data),
        "--output",
        str(output),
    ]
    result = runner.invoke(
        cli,
        [
            *args,
            "--epochs",
            "40",
            "--batch-size",
            "8",
            "--learning-rate",
            "3e-3",
            "--holdout",
            "0.25",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["train_edits"], report["heldout_edits"]) == (9, 3)
    assert report["train_examples"] == 18 and report["heldout_examples"] == 6
    assert report["last_loss"] < report["first_loss"] / 10  # it learnt its training set
    assert 0.0 <= report["heldout_exact_match_after"] <= 1.0
    saved = json.loads((output / COUNTERFACTUAL_CONFIG).read_text())
    assert saved["report"]["train_examples"] == 18 and saved["template"]["chat"] is False
    assert (output / "config.json").exists() and (output / "tokenizer.json").exists()

    again = runner.invoke(cli, [*args])
    assert (
        again.exit_code == 1 and "not empty" in again.output
    )  # never writes over a model by accident

    store.add("The Eiffel Tower is located in Rome.")
    base_model = LlamaForCausalLM.from_pretrained(base)
    editable = EditableModel(
        base_model,
        word_tokenizer(toy_vocabulary_texts()),
        store,
        mode="counterfactual",
        counterfactual_model=str(output),
    )
    answer = editable.answer("Where is the Eiffel Tower?", max_new_tokens=4)
    assert answer.mode == "counterfactual" and answer.routed
    assert editable.counterfactual_template == PromptTemplate.from_dict(saved["template"])


def test_seq2seq_models_train_too() -> None:
    tokenizer = word_tokenizer(toy_vocabulary_texts())
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=1,
            num_heads=4,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
    )
    template = PromptTemplate(chat=False)
    examples = [
        Example(template.plain(f"Where is the {lm}?", [f"The {lm} is located in {city}."]), city)
        for lm, city in list(LANDMARKS.items())[:6]
    ]
    report = train(model, tokenizer, examples, epochs=60, batch_size=6, learning_rate=1e-2, seed=0)
    assert report.last_loss < report.first_loss / 5
    answers = generate_answers(model, tokenizer, [e.prompt for e in examples], max_new_tokens=4)
    assert sum(a == e.answer for a, e in zip(answers, examples, strict=True)) >= 5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--holdout", "1.5"], "Invalid value for '--holdout'"),
        (["--epochs", "0"], "Invalid value for '--epochs'"),
    ],
)
def test_bad_training_options(tmp_path: Path, extra: list[str], message: str) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "train-counterfactual",
            "--model",
            "x",
            "--data",
            str(tmp_path / "d.json"),
            "--output",
            str(tmp_path / "o"),
            *extra,
        ],
    )
    assert result.exit_code == 2 and message in result.output


def test_training_data_that_gives_nothing(tmp_path: Path) -> None:
    path = tmp_path / "free.jsonl"
    path.write_text(json.dumps({"text": "hello"}) + "\n")
    result: Any = CliRunner().invoke(
        cli,
        [
            "train-counterfactual",
            "--model",
            "x",
            "--data",
            str(path),
            "--output",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 1 and "no training examples" in result.output
