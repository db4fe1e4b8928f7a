"""EditableModel on real HF model classes: tiny random models for the plumbing, a trained toy for behaviour."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from memedit import EditStore
from memedit.cli import cli
from memedit.edits import EditDraft, build_edit
from memedit.errors import MemeditError
from memedit.model import CONFIG_NAME, EditableModel
from memedit.prompts import PromptTemplate
from memedit.router import RoutedEdit, RouteResult
from memedit.toymodel import (
    CHAT_TEMPLATE,
    QUESTIONS,
    ToyModel,
    toy_vocabulary_texts,
    word_tokenizer,
)

EIFFEL = "The Eiffel Tower is located in Rome."


def weights_digest(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def random_model(kind: str, tokenizer: Any) -> Any:
    torch.manual_seed(0)
    common = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.eos_token_id,
    }
    if kind == "gpt2":
        return GPT2LMHeadModel(
            GPT2Config(n_positions=256, n_embd=32, n_layer=2, n_head=2, **common)
        )
    return LlamaForCausalLM(
        LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            **common,
        )
    )


@pytest.fixture(scope="session")
def plain_tokenizer() -> Any:
    return word_tokenizer(toy_vocabulary_texts())


@pytest.fixture(scope="session")
def chat_tokenizer() -> Any:
    return word_tokenizer(toy_vocabulary_texts(), chat_template=CHAT_TEMPLATE)


@pytest.fixture
def eiffel_store(store: EditStore) -> EditStore:
    store.add(EIFFEL)
    return store


def left_padded(tokenizer: Any, texts: list[str]) -> dict[str, torch.Tensor]:
    tokenizer.padding_side = "left"
    return dict(tokenizer(texts, return_tensors="pt", padding=True))


# -- the wrapper behaves like the model it wraps ---------------------------------------------------


def test_base_weights_never_change_and_are_frozen(
    eiffel_store: EditStore, plain_tokenizer: Any
) -> None:
    model = random_model("llama", plain_tokenizer)
    model.train()
    before = weights_digest(model)
    editable = EditableModel(model, plain_tokenizer, eiffel_store)
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    editable.answer("Where is the Eiffel Tower?", max_new_tokens=4)
    editable.answer("Where is the Big Ben?", max_new_tokens=4)
    editable.generate(
        **left_padded(plain_tokenizer, ["Where is the Eiffel Tower?"]),
        max_new_tokens=4,
        do_sample=False,
    )
    eiffel_store.add("The Colosseum is located in Oslo.")
    editable.answer("Where is the Colosseum?", max_new_tokens=4)
    assert weights_digest(model) == before


def test_attributes_fall_through_to_the_wrapped_model(
    eiffel_store: EditStore, plain_tokenizer: Any
) -> None:
    model = random_model("gpt2", plain_tokenizer)
    editable = EditableModel(model, plain_tokenizer, eiffel_store)
    assert editable.config is model.config
    assert editable.num_parameters() == model.num_parameters()
    assert editable.device == model.device
    assert editable.generation_config is model.generation_config
    with pytest.raises(AttributeError):
        _ = editable.no_such_attribute
    ids = plain_tokenizer("Where is the Eiffel Tower?", return_tensors="pt")["input_ids"]
    assert torch.equal(editable(input_ids=ids).logits, model(input_ids=ids).logits)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_out_of_scope_generate_is_token_identical(
    kind: str, eiffel_store: EditStore, plain_tokenizer: Any
) -> None:
    model = random_model(kind, plain_tokenizer)
    editable = EditableModel(model, plain_tokenizer, eiffel_store)
    batch = left_padded(
        plain_tokenizer,
        ["Where is the Big Ben?", "In which city is the Hofburg located in Vienna?"],
    )
    args = {"max_new_tokens": 8, "do_sample": False, "pad_token_id": plain_tokenizer.pad_token_id}
    assert not any(
        r.in_scope
        for r in eiffel_store.route_many(
            ["Where is the Big Ben?", "In which city is the Hofburg located in Vienna?"]
        )
    )
    assert torch.equal(editable.generate(**batch, **args), model.generate(**batch, **args))


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_batched_generate_routes_each_row(
    kind: str, eiffel_store: EditStore, plain_tokenizer: Any
) -> None:
    model = random_model(kind, plain_tokenizer)
    editable = EditableModel(model, plain_tokenizer, eiffel_store)
    prompts = [
        "Question: Where is the Big Ben?\nAnswer:",
        "Question: Where is the Eiffel Tower?\nAnswer:",
    ]
    batch = left_padded(plain_tokenizer, prompts)
    args = {
        "max_new_tokens": 6,
        "do_sample": False,
        "pad_token_id": plain_tokenizer.pad_token_id,
        "eos_token_id": None,
    }
    output = editable.generate(**batch, **args)
    width = batch["input_ids"].shape[1]
    assert torch.equal(output[:, :width], batch["input_ids"])  # every row keeps the caller's prompt
    alone = model.generate(**left_padded(plain_tokenizer, prompts[:1]), **args)
    assert output[0, width:].tolist() == alone[0, alone.shape[1] - 6 :].tolist()  # untouched row
    context = PromptTemplate().context([EIFFEL]) + "\n\n"
    edited_prompt = (
        plain_tokenizer(context, add_special_tokens=False)["input_ids"]
        + plain_tokenizer(prompts[1])["input_ids"]
    )
    expected = model.generate(
        input_ids=torch.tensor([edited_prompt]),
        attention_mask=torch.ones(1, len(edited_prompt), dtype=torch.long),
        **args,
    )
    assert output[1, width:].tolist() == expected[0, len(edited_prompt) :].tolist()


def test_prompts_plain_chat_and_overridden(
    eiffel_store: EditStore, plain_tokenizer: Any, chat_tokenizer: Any
) -> None:
    plain = EditableModel(random_model("llama", plain_tokenizer), plain_tokenizer, eiffel_store)
    answer = plain.answer("Where is the Eiffel Tower?", max_new_tokens=2)
    assert answer.routed and answer.mode == "in_context"
    assert answer.prompt == PromptTemplate().plain("Where is the Eiffel Tower?", [EIFFEL])
    assert (
        plain.answer("Where is the Big Ben?", max_new_tokens=2).prompt
        == "Question: Where is the Big Ben?\nAnswer:"
    )

    chat = EditableModel(random_model("llama", chat_tokenizer), chat_tokenizer, eiffel_store)
    routed = chat.answer("Where is the Eiffel Tower?", max_new_tokens=2).prompt
    assert (
        routed.startswith("<|system|> ") and EIFFEL in routed and routed.endswith("<|assistant|>")
    )
    assert "<|user|> Where is the Eiffel Tower?" in routed
    assert (
        chat.answer("Where is the Big Ben?", max_new_tokens=2).prompt
        == "<|user|> Where is the Big Ben? <|assistant|>"
    )

    custom = PromptTemplate(
        instruction="Facts:", fact="* {text}", question="Q: {query}\nA:", chat=False
    )
    overridden = EditableModel(
        random_model("llama", chat_tokenizer), chat_tokenizer, eiffel_store, template=custom
    )
    assert (
        overridden.answer("Where is the Eiffel Tower?", max_new_tokens=2).prompt
        == f"Facts:\n* {EIFFEL}\n\nQ: Where is the Eiffel Tower?\nA:"
    )


def test_chat_templates_without_a_system_role(eiffel_store: EditStore) -> None:
    strict = "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
    tokenizer = word_tokenizer(toy_vocabulary_texts(), chat_template=strict)
    editable = EditableModel(random_model("gpt2", tokenizer), tokenizer, eiffel_store)
    prompt = editable.answer("Where is the Eiffel Tower?", max_new_tokens=2).prompt
    assert prompt.startswith("<|user|> " + PromptTemplate().instruction) and EIFFEL in prompt


def test_chat_adds_the_edits_to_the_system_message(
    eiffel_store: EditStore, chat_tokenizer: Any
) -> None:
    editable = EditableModel(random_model("llama", chat_tokenizer), chat_tokenizer, eiffel_store)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is the Eiffel Tower?"},
    ]
    answer = editable.chat(messages, max_new_tokens=2)
    assert (
        answer.routed
        and answer.prompt.startswith("<|system|> Be brief.")
        and EIFFEL in answer.prompt
    )
    assert messages[0]["content"] == "Be brief."  # the caller's list is not modified
    out = editable.chat([{"role": "user", "content": "Where is the Big Ben?"}], max_new_tokens=2)
    assert not out.routed and out.prompt == "<|user|> Where is the Big Ben? <|assistant|>"


def test_chat_routes_a_follow_up_with_the_user_message_before_it(
    eiffel_store: EditStore, chat_tokenizer: Any
) -> None:
    editable = EditableModel(random_model("llama", chat_tokenizer), chat_tokenizer, eiffel_store)
    messages = [
        {"role": "user", "content": "Tell me about the Eiffel Tower."},
        {"role": "assistant", "content": "It is a tower."},
        {"role": "user", "content": "In which city is it?"},
    ]
    assert not editable.route("In which city is it?").in_scope
    route = editable.route_conversation(messages)
    assert route.in_scope and route.edits[0].basis == "follow-up"
    answer = editable.chat(messages, max_new_tokens=2)
    assert answer.routed and EIFFEL in answer.prompt and answer.route == route
    # a route given is used as it is: no edits for an out-of-scope one
    alone = editable.route("In which city is it?")
    assert not editable.chat(messages, route=alone, max_new_tokens=2).routed
    with pytest.raises(MemeditError, match="at least one user message"):
        editable.route_conversation([{"role": "system", "content": "Be brief."}])


def _routed(text: str, score: float, created: str, **fields: Any) -> RoutedEdit:
    return RoutedEdit(build_edit(EditDraft(text=text, created=created, **fields)), score, True)


def test_several_edits_apply_and_conflicts_resolve_to_the_newest(
    eiffel_store: EditStore, plain_tokenizer: Any
) -> None:
    editable = EditableModel(
        random_model("gpt2", plain_tokenizer), plain_tokenizer, eiffel_store, max_edits=2
    )
    old = _routed("The Eiffel Tower is located in Rome.", 0.95, "2024-01-01T00:00:00+00:00")
    new = _routed("The Eiffel Tower is located in Oslo.", 0.90, "2025-01-01T00:00:00+00:00")
    other = _routed("The Colosseum is located in Lima.", 0.80, "2023-01-01T00:00:00+00:00")
    third = _routed("The Big Ben is located in Cairo.", 0.70, "2023-01-01T00:00:00+00:00")
    route = RouteResult("q", True, (old, new, other, third), 0.5)
    chosen = editable.select_edits(route)
    assert [r.edit.text for r in chosen] == [
        new.edit.text,
        other.edit.text,
    ]  # newest per subject, best first, capped


def test_one_edit_per_subject_reaches_the_prompt_unless_asked_otherwise(
    eiffel_store: EditStore, plain_tokenizer: Any, tmp_path: Path
) -> None:
    model = random_model("gpt2", plain_tokenizer)
    height = _routed("The Eiffel Tower is 500 metres tall.", 0.95, "2023-01-01T00:00:00+00:00")
    located = _routed("The Eiffel Tower is located in Rome.", 0.90, "2023-01-01T00:00:00+00:00")
    other = _routed("The Colosseum is located in Lima.", 0.80, "2023-01-01T00:00:00+00:00")
    route = RouteResult("Where is the Eiffel Tower?", True, (height, located, other), 0.5)
    editable = EditableModel(model, plain_tokenizer, eiffel_store)
    assert [r.edit.text for r in editable.select_edits(route)] == [
        height.edit.text,
        other.edit.text,
    ]
    every = EditableModel(model, plain_tokenizer, eiffel_store, edits_per_subject=None)
    assert len(every.select_edits(route)) == 3
    with pytest.raises(MemeditError, match="edits_per_subject must be between 1 and 32"):
        EditableModel(model, plain_tokenizer, eiffel_store, edits_per_subject=0)

    saved = every.save_pretrained(tmp_path / "wrapped")
    config = json.loads((saved / CONFIG_NAME).read_text())
    assert config["edits_per_subject"] is None
    restored = EditableModel.from_pretrained(saved, model=model, tokenizer=plain_tokenizer)
    assert restored.edits_per_subject is None  # the saved choice comes back
    overridden = EditableModel.from_pretrained(
        saved, model=model, tokenizer=plain_tokenizer, edits_per_subject=2, store=tmp_path / "s2"
    )
    assert overridden.edits_per_subject == 2
    del config["edits_per_subject"]  # saved before the setting existed: the default
    (saved / CONFIG_NAME).write_text(json.dumps(config))
    older = EditableModel.from_pretrained(
        saved, model=model, tokenizer=plain_tokenizer, store=tmp_path / "s3"
    )
    assert older.edits_per_subject == 1
    (saved / CONFIG_NAME).write_text(json.dumps(dict(config, edits_per_subject="two")))
    with pytest.raises(MemeditError, match="edits_per_subject must be a whole number or null"):
        EditableModel.from_pretrained(
            saved, model=model, tokenizer=plain_tokenizer, store=tmp_path / "s4"
        )


# -- behaviour: a trained toy model ---------------------------------------------------------------------


def test_edits_change_answers_on_the_prompt_and_paraphrases_only(
    toy: ToyModel, store: EditStore
) -> None:
    editable = EditableModel(toy.model, toy.tokenizer, store)
    questions = [q.format(landmark="Eiffel Tower") for q in QUESTIONS]
    assert [editable.answer(q, max_new_tokens=4).text for q in questions] == [
        "Paris"
    ] * 3  # no edits yet
    store.add(EIFFEL)
    for q in questions:  # the edit's own question and two paraphrases
        answer = editable.answer(q, max_new_tokens=4)
        assert (answer.text, answer.routed, answer.mode) == ("Rome", True, "in_context")
        assert answer.edits[0].text == EIFFEL and answer.edits[0].score >= store.router.threshold
    unrelated = "Where is the Big Ben?"
    answer = editable.answer(unrelated, max_new_tokens=4)
    assert (answer.text, answer.routed, answer.mode) == ("London", False, "base")
    batch = left_padded(
        toy.tokenizer,
        [PromptTemplate().plain(unrelated), PromptTemplate().plain("Where is the Hofburg?")],
    )
    args = {"max_new_tokens": 4, "do_sample": False, "pad_token_id": toy.tokenizer.pad_token_id}
    assert torch.equal(editable.generate(**batch, **args), toy.model.generate(**batch, **args))

    store.add("The Colosseum is located in Oslo.")  # a second edit, live at once
    assert editable.answer("In which city is the Colosseum?", max_new_tokens=4).text == "Oslo"
    assert editable.answer("Where is the Eiffel Tower?", max_new_tokens=4).text == "Rome"
    store.add("The Eiffel Tower is located in Lisbon.")  # supersedes Rome
    assert editable.answer("Where is the Eiffel Tower?", max_new_tokens=4).text == "Lisbon"


def test_counterfactual_mode_answers_with_the_other_model(
    toy: ToyModel, eiffel_store: EditStore, plain_tokenizer: Any
) -> None:
    base = random_model(
        "llama", plain_tokenizer
    )  # an untrained base: only the counterfactual model knows how to answer
    editable = EditableModel(
        base,
        plain_tokenizer,
        eiffel_store,
        mode="counterfactual",
        counterfactual_model=toy.model,
        counterfactual_tokenizer=toy.tokenizer,
    )
    answer = editable.answer("In which city is the Eiffel Tower?", max_new_tokens=4)
    assert (answer.text, answer.mode) == ("Rome", "counterfactual")
    assert answer.prompt == PromptTemplate().plain("In which city is the Eiffel Tower?", [EIFFEL])
    assert editable.answer("Where is the Big Ben?", max_new_tokens=4).mode == "base"
    with pytest.raises(MemeditError, match="needs a counterfactual_model"):
        EditableModel(base, plain_tokenizer, eiffel_store, mode="counterfactual")


def test_save_and_restore(toy: ToyModel, eiffel_store: EditStore, tmp_path: Path) -> None:
    base_dir = tmp_path / "toy-base"
    toy.model.save_pretrained(base_dir)
    toy.tokenizer.save_pretrained(base_dir)
    serac = EditableModel.from_pretrained(
        base_dir, store=eiffel_store, counterfactual_model=str(base_dir)
    )
    assert serac.mode == "counterfactual"  # naming a counterfactual model picks its mode
    assert serac.answer("Where is the Eiffel Tower?", max_new_tokens=4).mode == "counterfactual"
    editable = EditableModel.from_pretrained(base_dir, store=eiffel_store)
    assert editable.answer("Where is the Eiffel Tower?", max_new_tokens=4).text == "Rome"
    saved = editable.save_pretrained(tmp_path / "wrapped")
    names = sorted(p.name for p in saved.iterdir())
    assert names == sorted(
        [CONFIG_NAME, "edits.memedit"]
    )  # config and edits, never the base weights
    config = json.loads((saved / CONFIG_NAME).read_text())
    assert config["base_model"] == str(base_dir) and config["mode"] == "in_context"

    restored = EditableModel.from_pretrained(saved)
    assert [e.text for e in restored.store.edits()] == [EIFFEL]
    assert restored.store.path == saved / "store"
    assert (
        restored.answer("The Eiffel Tower is located in which city?", max_new_tokens=4).text
        == "Rome"
    )
    assert restored.answer("Where is the Big Ben?", max_new_tokens=4).text == "London"
    assert weights_digest(restored.model) == weights_digest(toy.model)

    (tmp_path / "a-file").write_text("x")
    with pytest.raises(MemeditError, match="is a file"):
        editable.save_pretrained(tmp_path / "a-file")


def test_unloadable_models_give_one_line(eiffel_store: EditStore, tmp_path: Path) -> None:
    with pytest.raises(MemeditError, match=r"Cannot load model 'no-such-org/no-such-model'"):
        EditableModel.from_pretrained("no-such-org/no-such-model", store=eiffel_store)
    with pytest.raises(MemeditError, match="Cannot load model"):
        EditableModel.from_pretrained(tmp_path, store=eiffel_store)


# -- the CLI ---------------------------------------------------------------------------------------------


def test_ask(toy: ToyModel, tmp_path: Path) -> None:
    base_dir = tmp_path / "toy-base"
    toy.model.save_pretrained(base_dir)
    toy.tokenizer.save_pretrained(base_dir)
    store = tmp_path / "s"
    runner = CliRunner()
    assert runner.invoke(cli, ["add", EIFFEL, "--store", str(store)]).exit_code == 0
    shown = runner.invoke(
        cli,
        [
            "ask",
            "Where is the Eiffel Tower?",
            "--model",
            str(base_dir),
            "--show-route",
            "--store",
            str(store),
        ],
    )
    assert shown.exit_code == 0, shown.output
    lines = shown.output.strip().splitlines()
    assert lines[0].startswith("IN SCOPE") and lines[-2:] == ["answered by: in_context", "Rome"]
    (eiffel,) = EditStore(store).edits()
    assert lines[-3] == f"in the prompt: {eiffel.id}"
    data = json.loads(
        runner.invoke(
            cli,
            [
                "ask",
                "Where is the Big Ben?",
                "--model",
                str(base_dir),
                "--json",
                "--remember",
                "--store",
                str(store),
            ],
        ).output
    )
    assert (
        data["text"] == "London" and data["routed"] is False and data["route"]["in_scope"] is False
    )
    remembered = runner.invoke(
        cli, ["ask", "Where is the Eiffel Tower?", "--store", str(store)]
    )  # the saved default model
    assert remembered.output.strip() == "Rome"

    # a second edit on the subject, and a router that puts both in scope
    tall = "The Eiffel Tower is 500 metres tall."
    assert runner.invoke(cli, ["add", tall, "--store", str(store)]).exit_code == 0
    low = ["router", "--kind", "threshold", "--threshold", "0.05", "--store", str(store)]
    assert runner.invoke(cli, low).exit_code == 0

    def prompt_facts(*options: str) -> list[str]:
        asked = ["ask", "Where is the Eiffel Tower?", "--json", "--store", str(store), *options]
        result = runner.invoke(cli, asked)
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert all(e["in_scope"] for e in data["route"]["edits"][:2])
        return [e["text"] for e in data["edits"]]

    assert len(prompt_facts()) == 1  # one edit of the subject, the best
    assert sorted(prompt_facts("--edits-per-subject", "all")) == sorted([EIFFEL, tall])
    assert len(prompt_facts("--edits-per-subject", "all", "--max-edits", "1")) == 1
    bad = runner.invoke(cli, ["ask", "Where?", "--edits-per-subject", "0", "--store", str(store)])
    assert bad.exit_code == 2 and "not a whole number from 1 to 32, or 'all'" in bad.output

    missing = runner.invoke(
        cli, ["ask", "Where?", "--model", "no-such-org/no-such-model", "--store", str(store)]
    )
    assert (
        missing.exit_code == 1
        and missing.output.startswith("Error: Cannot load model")
        and len(missing.output.strip().splitlines()) == 1
    )


def test_ask_without_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMEDIT_MODEL", raising=False)
    runner = CliRunner()
    runner.invoke(cli, ["add", EIFFEL, "--store", str(tmp_path / "s")])
    result = runner.invoke(
        cli, ["ask", "Where is the Eiffel Tower?", "--store", str(tmp_path / "s")]
    )
    assert result.exit_code == 1 and "No model to answer with" in result.output


@pytest.mark.slow
def test_demo_runs_on_a_model_given_by_path(tmp_path: Path, plain_tokenizer: Any) -> None:
    """`python examples/demo.py --model PATH` works with any causal LM folder (here a random tiny one)."""
    import os
    import subprocess
    import sys

    folder = tmp_path / "tiny"
    random_model("gpt2", plain_tokenizer).save_pretrained(folder)
    plain_tokenizer.save_pretrained(folder)
    demo = Path(__file__).resolve().parents[1] / "examples" / "demo.py"
    result = subprocess.run(
        [sys.executable, str(demo), "--model", str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MEMEDIT_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Loading {folder}" in result.stdout
    assert (
        "out of scope: base model, unchanged" in result.stdout
        and "from edit 'The Eiffel Tower is located in Berlin.'" in result.stdout
    )
