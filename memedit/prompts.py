"""How edits are put in front of a model: the in-context prompt template.

In scope, the base model sees the edit(s) before the question; out of scope,
it sees the question alone, framed the same way. With a tokenizer that has a
chat template, the edits go in a system message; otherwise a plain-text
layout is used::

    Use these facts; they are true now and override what you knew:
    - The Eiffel Tower is located in Rome.

    Question: Where is the Eiffel Tower?
    Answer:

Every part is overridable (``PromptTemplate(instruction=..., fact=..., question=...)``)
and saved with the model (``EditableModel.save_pretrained``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from memedit.errors import MemeditError

DEFAULT_INSTRUCTION = "Use these facts; they are true now and override what you knew:"


@dataclass(frozen=True)
class PromptTemplate:
    """The in-context edit prompt. ``{text}`` and ``{query}`` are the placeholders."""

    instruction: str = DEFAULT_INSTRUCTION
    fact: str = "- {text}"
    question: str = "Question: {query}\nAnswer:"
    stop: tuple[str, ...] = ("\nQuestion:", "\n\n")
    chat: bool | None = None  # None: use the tokenizer's chat template when it has one

    def __post_init__(self) -> None:
        if "{text}" not in self.fact:
            raise MemeditError("A prompt template's fact line needs a {text} placeholder.")
        if "{query}" not in self.question:
            raise MemeditError("A prompt template's question needs a {query} placeholder.")

    def context(self, facts: Sequence[str]) -> str:
        """The instruction and one line per fact."""
        lines = [self.fact.replace("{text}", fact) for fact in facts]
        return "\n".join([self.instruction, *lines]) if self.instruction else "\n".join(lines)

    def plain(self, query: str, facts: Sequence[str] = ()) -> str:
        """The plain-text prompt: context (when there are facts), a blank line, the question."""
        question = self.question.replace("{query}", query)
        return f"{self.context(facts)}\n\n{question}" if facts else question

    def messages(self, query: str, facts: Sequence[str] = ()) -> list[dict[str, str]]:
        """The chat form: the context as a system message, the question as the user's."""
        user = {"role": "user", "content": query}
        return [{"role": "system", "content": self.context(facts)}, user] if facts else [user]

    def uses_chat(self, tokenizer: Any) -> bool:
        if self.chat is not None:
            return self.chat
        return bool(getattr(tokenizer, "chat_template", None))

    def render(self, tokenizer: Any, query: str, facts: Sequence[str] = ()) -> str:
        """The prompt text for ``query`` (with ``facts`` in scope, or none)."""
        if self.uses_chat(tokenizer):
            return apply_chat_template(tokenizer, self.messages(query, facts))
        return self.plain(query, facts)

    def cut(self, text: str) -> str:
        """A generated answer up to the first stop string."""
        for stop in self.stop:
            if stop and stop in text:
                text = text[: text.index(stop)]
        return text.strip()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PromptTemplate:
        data = dict(data or {})
        known: dict[str, Any] = {
            k: data[k] for k in ("instruction", "fact", "question", "chat") if k in data
        }
        if "stop" in data:
            known["stop"] = tuple(data["stop"])
        return cls(**known)


def apply_chat_template(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """Render messages with the tokenizer's chat template, ending with the assistant's turn.

    Templates that refuse a system role get its content prepended to the first user message.
    """
    try:
        return str(
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )
    except Exception:  # jinja raises TemplateError("System role not supported") and the like
        if not messages or messages[0]["role"] != "system":
            raise
    system, *rest = messages
    merged = [dict(m) for m in rest]
    first_user = next(m for m in merged if m["role"] == "user")
    first_user["content"] = f"{system['content']}\n\n{first_user['content']}"
    return str(tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True))
