"""EditableModel: a frozen Hugging Face causal LM that answers from edits.

Every query is routed through the store's scope classifier. In scope, the
answer comes from the base model with the edit(s) in its prompt
(``in_context``), or from a separate, usually smaller, counterfactual model
(``counterfactual``, as in SERAC). Out of scope, the base model gets exactly
what it would have got without memedit. The base weights never change: the
wrapper puts the model in eval mode, turns off its gradients, and forwards
every attribute it does not have to it, as peft does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from memedit.errors import MemeditError
from memedit.prompts import PromptTemplate, apply_chat_template
from memedit.router import RoutedEdit, RouteResult
from memedit.selection import DEFAULT_MAX_EDITS, DEFAULT_PER_SUBJECT, select_edits
from memedit.store import EditStore
from memedit.training import is_seq2seq

Mode = Literal["in_context", "counterfactual"]
MODES: tuple[Mode, ...] = ("in_context", "counterfactual")
CONFIG_NAME = "memedit_config.json"
BUNDLE_NAME = "edits.memedit"
COUNTERFACTUAL_CONFIG = "memedit_counterfactual.json"
CONFIG_FORMAT = "memedit.editable_model"
DEFAULT_MAX_NEW_TOKENS = 64


@dataclass(frozen=True)
class Answer:
    """An answer and how it was made: ``mode`` is "in_context", "counterfactual" or "base"."""

    text: str
    routed: bool
    edits: tuple[RoutedEdit, ...]
    prompt: str
    mode: str
    route: RouteResult | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "routed": self.routed,
            "mode": self.mode,
            "edits": [e.to_dict() for e in self.edits],
            "prompt": self.prompt,
        }


def _load_error(kind: str, name: str, exc: Exception) -> MemeditError:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return MemeditError(
        f"Cannot load {kind} {name!r} ({reason}). Give a local folder or a hub id that is reachable; "
        "offline, only models already downloaded (or saved with save_pretrained) can be loaded."
    )


def load_language_model(name: str, **kwargs: Any) -> tuple[Any, Any]:
    """A causal or seq2seq LM and its tokenizer, from a hub id or a local folder."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(name)
        loader = (
            AutoModelForSeq2SeqLM
            if getattr(config, "is_encoder_decoder", False)
            else AutoModelForCausalLM
        )
        model = loader.from_pretrained(name, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise _load_error("model", name, exc) from None
    return model, tokenizer


def freeze(model: Any) -> Any:
    """Eval mode and no gradients: memedit never trains the models it wraps."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _user_messages(messages: Sequence[Mapping[str, str]]) -> list[str]:
    """The contents of a conversation's user messages, in order; a clear error for a list
    that is not one."""
    if not messages or any("role" not in m or "content" not in m for m in messages):
        raise MemeditError("chat() takes a list of {'role': ..., 'content': ...} messages.")
    users = [m["content"] for m in messages if m["role"] == "user"]
    if not users:
        raise MemeditError("chat() needs at least one user message.")
    return users


def _pad_id(tokenizer: Any) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    if tokenizer.eos_token_id is not None:
        return int(tokenizer.eos_token_id)
    raise MemeditError(
        "The tokenizer has no pad or end-of-sequence token; set tokenizer.pad_token first."
    )


class EditableModel(torch.nn.Module):
    """Wrap a causal LM and a tokenizer so that edits in ``store`` change its answers.

    ``store`` is an :class:`EditStore` or a path to one (default: memedit's
    default store). ``mode`` picks how in-scope queries are answered:
    ``"counterfactual"`` when a ``counterfactual_model`` (a loaded model, or a
    hub id / folder) is given, else ``"in_context"``. ``max_edits`` caps how
    many in-scope edits go into one prompt, and ``edits_per_subject`` how many
    of one subject's (the best-scored; ``None``: no cap; see :mod:`memedit.selection`).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        store: EditStore | str | Path | None = None,
        *,
        mode: Mode | None = None,
        template: PromptTemplate | None = None,
        counterfactual_model: Any = None,
        counterfactual_tokenizer: Any = None,
        counterfactual_template: PromptTemplate | None = None,
        max_edits: int = DEFAULT_MAX_EDITS,
        edits_per_subject: int | None = DEFAULT_PER_SUBJECT,
        base_model_id: str | None = None,
    ) -> None:
        super().__init__()
        if mode is None:
            mode = "counterfactual" if counterfactual_model is not None else "in_context"
        if mode not in MODES:
            raise MemeditError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
        if not 1 <= max_edits <= 32:
            raise MemeditError(f"max_edits must be between 1 and 32; got {max_edits}.")
        if edits_per_subject is not None and not 1 <= edits_per_subject <= 32:
            raise MemeditError(
                f"edits_per_subject must be between 1 and 32, or None for no cap; got {edits_per_subject}."
            )
        self.model = freeze(model)
        self.tokenizer = tokenizer
        self.store = store if isinstance(store, EditStore) else EditStore(store)
        self.mode: Mode = mode
        self.template = template or PromptTemplate()
        self.max_edits = max_edits
        self.edits_per_subject = edits_per_subject
        self.base_model_id = base_model_id or getattr(model, "name_or_path", "") or ""
        self.counterfactual_id: str | None = None
        self.counterfactual_model: Any = None
        self.counterfactual_tokenizer: Any = None
        self.counterfactual_template = counterfactual_template or PromptTemplate(chat=False)
        if counterfactual_model is not None:
            self.set_counterfactual_model(
                counterfactual_model, counterfactual_tokenizer, counterfactual_template
            )
        if mode == "counterfactual" and self.counterfactual_model is None:
            raise MemeditError(
                "mode 'counterfactual' needs a counterfactual_model (a hub id, a folder or a loaded model)."
            )

    # -- behaving like the wrapped model ---------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "model":  # not set yet: do not recurse
                raise
            return getattr(self.model, name)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The base model's forward pass, unchanged (edits act on generation)."""
        return self.model(*args, **kwargs)

    def set_counterfactual_model(
        self, model: Any, tokenizer: Any = None, template: PromptTemplate | None = None
    ) -> None:
        """Use ``model`` (loaded, or a hub id / folder) to answer in-scope queries in counterfactual mode."""
        if isinstance(model, str | Path):
            name = str(model)
            model, loaded_tokenizer = load_language_model(name)
            tokenizer = tokenizer or loaded_tokenizer
            saved = Path(name) / COUNTERFACTUAL_CONFIG
            if template is None and saved.is_file():
                template = PromptTemplate.from_dict(json.loads(saved.read_text()).get("template"))
            self.counterfactual_id = name
        else:
            self.counterfactual_id = getattr(model, "name_or_path", None) or None
        if tokenizer is None:
            raise MemeditError(
                "A loaded counterfactual model needs its tokenizer (counterfactual_tokenizer=...)."
            )
        self.counterfactual_model = freeze(model)
        self.counterfactual_tokenizer = tokenizer
        self.counterfactual_template = template or PromptTemplate(chat=False)

    # -- routing -----------------------------------------------------------------------------
    def route(self, query: str, context: str | None = None) -> RouteResult:
        """Where ``query`` goes: the nearest edits with their scores, and whether it is in scope
        (``context``: the message before it, for a follow-up question; see
        :meth:`memedit.store.EditStore.route_many`)."""
        return self.store.route(query, context=context)

    def route_conversation(self, messages: Sequence[Mapping[str, str]]) -> RouteResult:
        """Where a conversation's last user message goes, with the user message before it as
        its context: "Where was he born?" after "Tell me about Mozart." reaches an edit on
        Mozart's birthplace."""
        users = _user_messages(messages)
        return self.route(users[-1], users[-2] if len(users) > 1 else None)

    def select_edits(self, route: RouteResult) -> tuple[RoutedEdit, ...]:
        """The in-scope edits to use, best first: the newest per subject+relation, the best
        ``edits_per_subject`` per subject, at most ``max_edits``."""
        return select_edits(route.matched, self.max_edits, self.edits_per_subject)

    # -- answering ------------------------------------------------------------------------------
    def answer(
        self,
        query: str,
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        mode: Mode | None = None,
        use_edits: bool = True,
        route: RouteResult | None = None,
        **generate_kwargs: Any,
    ) -> Answer:
        """Answer a question: from the edits when it is in scope, from the base model otherwise.

        ``use_edits=False`` asks the base model as if the store were empty (for comparisons).
        ``route``: where the query goes, when the caller has routed it already (:meth:`route`).
        """
        if not use_edits:
            route = None
        elif route is None:
            route = self.route(query)
        edits = self.select_edits(route) if route is not None else ()
        facts = [e.text for e in edits]
        mode = mode or self.mode
        if not edits:
            prompt = self.template.render(self.tokenizer, query)
            text = self._complete(
                self.model, self.tokenizer, prompt, self.template, max_new_tokens, generate_kwargs
            )
            return Answer(text, False, (), prompt, "base", route)
        if mode == "counterfactual":
            if self.counterfactual_model is None:
                raise MemeditError(
                    "mode 'counterfactual' needs a counterfactual model; see set_counterfactual_model()."
                )
            prompt = self.counterfactual_template.render(
                self.counterfactual_tokenizer, query, facts
            )
            model, tokenizer, template = (
                self.counterfactual_model,
                self.counterfactual_tokenizer,
                self.counterfactual_template,
            )
        elif mode == "in_context":
            prompt = self.template.render(self.tokenizer, query, facts)
            model, tokenizer, template = self.model, self.tokenizer, self.template
        else:
            raise MemeditError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
        text = self._complete(model, tokenizer, prompt, template, max_new_tokens, generate_kwargs)
        return Answer(text, True, edits, prompt, mode, route)

    def chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        route: RouteResult | None = None,
        **generate_kwargs: Any,
    ) -> Answer:
        """Answer the last user message of a conversation (routed by :meth:`route_conversation`
        unless ``route`` is given); in scope, the edits join the system message."""
        history = [dict(m) for m in messages]
        if route is None:
            route = self.route_conversation(history)
        else:
            _user_messages(history)
        edits = self.select_edits(route)
        if edits:
            context = self.template.context([e.text for e in edits])
            if history[0]["role"] == "system":
                history[0]["content"] = f"{history[0]['content']}\n\n{context}"
            else:
                history.insert(0, {"role": "system", "content": context})
        if self.template.uses_chat(self.tokenizer):
            prompt = apply_chat_template(self.tokenizer, history)
        else:  # no chat template: a plain transcript
            prompt = "\n".join(f"{m['role']}: {m['content']}" for m in history) + "\nassistant:"
        text = self._complete(
            self.model, self.tokenizer, prompt, self.template, max_new_tokens, generate_kwargs
        )
        return Answer(text, bool(edits), edits, prompt, "in_context" if edits else "base", route)

    @torch.no_grad()
    def _complete(
        self,
        model: Any,
        tokenizer: Any,
        prompt: str,
        template: PromptTemplate,
        max_new_tokens: int,
        generate_kwargs: Mapping[str, Any],
    ) -> str:
        chat = template.uses_chat(tokenizer)
        encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=not chat).to(
            model.device
        )
        options = {"do_sample": False, "pad_token_id": _pad_id(tokenizer), **generate_kwargs}
        output = model.generate(**encoded, max_new_tokens=max_new_tokens, **options)
        new = output[0] if is_seq2seq(model) else output[0, encoded["input_ids"].shape[1] :]
        return template.cut(tokenizer.decode(new, skip_special_tokens=True))

    # -- drop-in generate ---------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        """``model.generate`` with edits: each row is routed on its own text.

        Out-of-scope rows go to the base model exactly as given (same tensors,
        same arguments), so their tokens are the unwrapped model's. In-scope
        rows get the edit context inserted before their prompt (left padding).
        Returned rows keep the caller's prompt, so ``output[:, input_ids.shape[1]:]``
        is the generated part for every row.
        """
        if input_ids is None or "inputs_embeds" in kwargs:
            return self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        rows = [
            ids[mask.bool()].tolist() for ids, mask in zip(input_ids, attention_mask, strict=True)
        ]
        texts = [self.tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in rows]
        routable = [i for i, text in enumerate(texts) if text]
        routes = self.store.route_many([texts[i] for i in routable]) if routable else []
        chosen = {i: self.select_edits(route) for i, route in zip(routable, routes, strict=True)}
        edited = [i for i, edits in chosen.items() if edits]
        if not edited:
            return self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        if kwargs.get("return_dict_in_generate"):
            raise MemeditError(
                "generate(return_dict_in_generate=True) is not supported when a row is routed to an edit."
            )
        batch = input_ids.shape[0]
        for name, value in kwargs.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == batch:
                raise MemeditError(
                    f"generate() cannot re-align the per-row argument {name!r} for edited rows."
                )
        untouched = [i for i in range(batch) if i not in set(edited)]
        pad = _pad_id(self.tokenizer)
        outputs: dict[int, list[int]] = {}
        if untouched:
            index = torch.tensor(untouched, device=input_ids.device)
            base = self.model.generate(
                input_ids=input_ids[index], attention_mask=attention_mask[index], **kwargs
            )
            for row, sequence in zip(untouched, base, strict=True):
                outputs[row] = sequence.tolist()
        prompts = [self._with_context(rows[i], chosen[i]) for i in edited]
        width = max(len(p) for p in prompts)
        edited_ids = torch.tensor(
            [[pad] * (width - len(p)) + p for p in prompts], device=input_ids.device
        )
        edited_mask = torch.tensor(
            [[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=input_ids.device
        )
        generated = self.model.generate(input_ids=edited_ids, attention_mask=edited_mask, **kwargs)
        for row, sequence in zip(edited, generated, strict=True):
            outputs[row] = input_ids[row].tolist() + sequence[width:].tolist()
        longest = max(len(s) for s in outputs.values())
        return torch.tensor(
            [outputs[i] + [pad] * (longest - len(outputs[i])) for i in range(batch)],
            device=input_ids.device,
        )

    def completion_prompt(self, text: str) -> tuple[str, tuple[RoutedEdit, ...]]:
        """The text the model continues for a raw prompt: the edit context before it when in scope
        (what ``generate()`` does to a routed row)."""
        edits = self.select_edits(self.route(text))
        if not edits:
            return text, ()
        return self.template.context([e.text for e in edits]) + "\n\n" + text, edits

    def _with_context(self, ids: list[int], edits: Sequence[RoutedEdit]) -> list[int]:
        """A row's prompt with the edit context before it (after a leading BOS token)."""
        context = self.template.context([e.text for e in edits]) + "\n\n"
        prefix = list(self.tokenizer(context, add_special_tokens=False)["input_ids"])
        bos = self.tokenizer.bos_token_id
        if bos is not None and ids and ids[0] == bos:
            return [bos, *prefix, *ids[1:]]
        return [*prefix, *ids]

    # -- saving and loading -------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the wrapper's config and the edit bundle (not the base weights)."""
        directory = Path(directory).expanduser()
        if directory.exists() and not directory.is_dir():
            raise MemeditError(f"{directory} is a file; save_pretrained() needs a folder.")
        directory.mkdir(parents=True, exist_ok=True)
        from memedit import __version__

        config = {
            "format": CONFIG_FORMAT,
            "format_version": 1,
            "memedit_version": __version__,
            "base_model": self.base_model_id,
            "mode": self.mode,
            "template": self.template.to_dict(),
            "max_edits": self.max_edits,
            "edits_per_subject": self.edits_per_subject,
            "counterfactual_model": self.counterfactual_id,
            "counterfactual_template": self.counterfactual_template.to_dict(),
            "embedder": self.store.config["embedder"],
            "router": self.store.config.get("router"),
        }
        self.store.export(directory / BUNDLE_NAME, overwrite=True)
        (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        return directory

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        *,
        store: EditStore | str | Path | None = None,
        model: Any = None,
        tokenizer: Any = None,
        mode: Mode | None = None,
        template: PromptTemplate | None = None,
        counterfactual_model: Any = None,
        max_edits: int | None = None,
        edits_per_subject: int | Literal["saved"] | None = "saved",
        **model_kwargs: Any,
    ) -> EditableModel:
        """Load a base model (hub id or folder) and wrap it, or restore a saved EditableModel folder.

        A saved folder brings its config and edits: they are imported into
        ``store`` (default: a store in ``<folder>/store``). ``max_edits`` and
        ``edits_per_subject`` override the saved ones. ``model_kwargs``
        (``torch_dtype``, ``device_map``, ...) go to ``from_pretrained`` of the base model.
        """
        saved = Path(name_or_path).expanduser() / CONFIG_NAME
        config: dict[str, Any] = {}
        if saved.is_file():
            try:
                config = json.loads(saved.read_text())
            except ValueError:
                raise MemeditError(f"{saved} is not valid JSON.") from None
            if config.get("format") != CONFIG_FORMAT:
                raise MemeditError(f"{saved} is not an EditableModel config.")
            if int(config.get("format_version", 1)) > 1:
                raise MemeditError(f"{saved} was written by a newer memedit; upgrade memedit.")
            base = str(config.get("base_model") or "")
            if store is None:
                store = EditStore(saved.parent / "store")
            elif not isinstance(store, EditStore):
                store = EditStore(store)
            store.import_bundle(saved.parent / BUNDLE_NAME)
        else:
            base = str(name_or_path)
        if model is None:
            if not base:
                raise MemeditError(
                    f"{saved} does not name its base model (it was built in memory); pass model= and tokenizer=."
                )
            model, loaded_tokenizer = load_language_model(base, **model_kwargs)
            tokenizer = tokenizer or loaded_tokenizer
        if tokenizer is None:
            raise MemeditError("Pass the tokenizer together with a loaded model (tokenizer=...).")
        counterfactual = counterfactual_model or config.get("counterfactual_model")
        if edits_per_subject == "saved":
            saved_cap = config.get("edits_per_subject", DEFAULT_PER_SUBJECT)
            if saved_cap is not None and (
                isinstance(saved_cap, bool) or not isinstance(saved_cap, int)
            ):
                raise MemeditError(
                    f"{saved}: edits_per_subject must be a whole number or null; got {saved_cap!r}."
                )
            edits_per_subject = saved_cap
        return cls(
            model,
            tokenizer,
            store,
            mode=mode or config.get("mode"),
            template=template
            or (PromptTemplate.from_dict(config["template"]) if "template" in config else None),
            counterfactual_model=counterfactual,
            counterfactual_template=PromptTemplate.from_dict(config["counterfactual_template"])
            if config.get("counterfactual_template")
            else None,
            max_edits=max_edits or int(config.get("max_edits", DEFAULT_MAX_EDITS)),
            edits_per_subject=edits_per_subject,
            base_model_id=base or None,
        )
