"""A tiny language model that knows a dozen landmarks, trained in seconds on a CPU.

For demos and tests where no model hub is reachable. The model (a 2-layer
Llama-style transformer over a word-level vocabulary) memorises where each
landmark is, in three phrasings of the question, and learns to answer from a
fact given in its prompt instead — in memedit's default plain-text edit
prompt (:class:`memedit.prompts.PromptTemplate`), with distracting facts about
other landmarks beside it. That is exactly what in-context editing needs
from a base model, so ``EditableModel`` can be shown to change its answers
while its weights stay as trained.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from memedit.prompts import PromptTemplate
from memedit.training import Example, TrainReport, exact_match, train

LANDMARKS = {
    "Eiffel Tower": "Paris",
    "Colosseum": "Rome",
    "Big Ben": "London",
    "Brandenburg Gate": "Berlin",
    "Sagrada Familia": "Barcelona",
    "Golden Gate Bridge": "San Francisco",
    "Space Needle": "Seattle",
    "Little Mermaid": "Copenhagen",
    "Atomium": "Brussels",
    "Charles Bridge": "Prague",
    "Blue Mosque": "Istanbul",
    "Hofburg": "Vienna",
}
CITIES = sorted(set(LANDMARKS.values()) | {"Madrid", "Lisbon", "Oslo", "Dublin"})
QUESTIONS = (
    "Where is the {landmark}?",
    "In which city is the {landmark}?",
    "The {landmark} is located in which city?",
)
SPECIAL_TOKENS = ("<pad>", "<unk>", "<eos>", "<|system|>", "<|user|>", "<|assistant|>")
# A minimal chat template over the special tokens above, for tests of the chat path.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def fact(landmark: str, city: str) -> str:
    """The edit sentence the toy model reads: "The Eiffel Tower is located in Rome."."""
    return f"The {landmark} is located in {city}."


def question(landmark: str, phrasing: int = 0) -> str:
    return QUESTIONS[phrasing].format(landmark=landmark)


def toy_examples(
    template: PromptTemplate | None = None, *, seed: int = 0, per_question: int = 6
) -> list[Example]:
    """Closed-book questions (the true city) and open-book ones (the city a fact says)."""
    template = template or PromptTemplate()
    rng = random.Random(seed)
    examples: list[Example] = []
    names = list(LANDMARKS)
    for landmark, city in LANDMARKS.items():
        for phrasing in range(len(QUESTIONS)):
            query = question(landmark, phrasing)
            examples += [Example(template.plain(query), city)] * 3
            for _ in range(per_question):
                new_city = rng.choice([c for c in CITIES if c != city])
                facts = [fact(landmark, new_city)]
                if rng.random() < 0.5:  # a distracting fact about another landmark
                    other = rng.choice([n for n in names if n != landmark])
                    facts.append(fact(other, rng.choice(CITIES)))
                    rng.shuffle(facts)
                examples.append(Example(template.plain(query, facts), new_city))
    return examples


def word_tokenizer(texts: Iterable[str], *, chat_template: str | None = None) -> Any:
    """A word-level fast tokenizer over the words of ``texts`` (no download needed)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    splitter = pre_tokenizers.Whitespace()
    words = sorted(
        {w for text in texts for w, _ in splitter.pre_tokenize_str(text)} - set(SPECIAL_TOKENS)
    )
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = splitter
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<eos>",
        additional_special_tokens=list(SPECIAL_TOKENS[3:]),
    )
    if chat_template:
        tokenizer.chat_template = chat_template
    return tokenizer


def toy_vocabulary_texts(template: PromptTemplate | None = None) -> list[str]:
    template = template or PromptTemplate()
    texts = [e.prompt + " " + e.answer for e in toy_examples(template, per_question=1)]
    return [*texts, *CITIES, template.context([fact("X", "Y")])]


@dataclass
class ToyModel:
    model: Any
    tokenizer: Any
    report: TrainReport
    closed_book_accuracy: float
    open_book_accuracy: float


def train_toy_model(
    *,
    seed: int = 0,
    epochs: int = 60,
    template: PromptTemplate | None = None,
    chat_template: str | None = None,
) -> ToyModel:
    """Train the toy model (about 15 s on 2 CPU cores); seeded, so runs agree."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    template = template or PromptTemplate()
    tokenizer = word_tokenizer(toy_vocabulary_texts(template), chat_template=chat_template)
    torch.manual_seed(seed)
    config = LlamaConfig(
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
    model = LlamaForCausalLM(config)
    report = train(
        model,
        tokenizer,
        toy_examples(template, seed=seed),
        epochs=epochs,
        batch_size=32,
        learning_rate=3e-3,
        seed=seed,
    )
    closed = [
        Example(template.plain(question(lm, p)), city)
        for lm, city in LANDMARKS.items()
        for p in range(len(QUESTIONS))
    ]
    rng = random.Random(seed + 1)
    opened = []
    for landmark, city in LANDMARKS.items():
        for p in range(len(QUESTIONS)):
            new_city = rng.choice([c for c in CITIES if c != city])
            opened.append(
                Example(template.plain(question(landmark, p), [fact(landmark, new_city)]), new_city)
            )
    return ToyModel(
        model,
        tokenizer,
        report,
        exact_match(model, tokenizer, closed, max_new_tokens=4),
        exact_match(model, tokenizer, opened, max_new_tokens=4),
    )
