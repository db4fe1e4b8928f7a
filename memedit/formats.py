"""Read edits from files: memedit's own JSONL and the public editing benchmarks.

Supported formats (detected from the first record, or named explicitly):

``jsonl``        memedit's schema, one object per line: ``text`` or ``prompt`` + ``target``,
                 optional ``subject``, ``relation``, ``tags``, ``aliases`` (other names of
                 the subject), ``source`` (also a JSON array).
``counterfact``  EasyEdit CounterFact: ``prompt``, ``subject``, ``target_new``, ...
``knowedit``     KnowEdit: ``subject``, ``prompt``, ``target_new``, ``portability``, ``locality``;
                 WikiBio records (``concept``, ``labels``) too.
``zsre``         MEND zsRE: ``src`` (question), ``alt`` (new answer), ``subject``, ...
``rome``         ROME CounterFact: ``requested_rewrite`` with a ``{}`` subject slot.
``pitfalls``     ConflictEdit / RoundEdit triples: ``edit`` or ``edits`` with relation,
                 subject and ``new_object``; several edits per record apply in order.
``text``         plain text, one fact per line, as ``memedit add "..."`` takes it (blank
                 lines and lines that start with ``#`` are skipped); a ``.txt`` file is
                 read so unless another format is named.

Every reader returns :class:`~memedit.edits.EditDraft` objects; nothing is
validated here beyond the shape of the file, so that all edits get the same
checks in :func:`memedit.edits.build_edit`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memedit.edits import EditDraft
from memedit.errors import InputFormatError

MAX_FILE_BYTES = 1 << 30
FORMATS = ("jsonl", "counterfact", "knowedit", "zsre", "rome", "pitfalls", "text")
TEXT_SUFFIXES = (".txt",)  # read as plain text, one fact per line, when the format is "auto"

Record = Mapping[str, Any]


def _read_text(path: Path) -> str:
    """A file's text, with one-line errors for a missing, oversized or non-UTF-8 file."""
    if not path.is_file():
        raise InputFormatError(f"{path}: no such file.")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputFormatError(
            f"{path}: {size:,} bytes is over the {MAX_FILE_BYTES:,}-byte limit; split the file."
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFormatError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "convert it, e.g. `iconv -f latin1 -t utf-8`."
        ) from None
    return text


def load_records(path: str | Path) -> list[Record]:
    """Parse a JSON array or a JSON-lines file into a list of objects, with errors that name the line."""
    path = Path(path)
    text = _read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise InputFormatError(f"{path}: the file is empty.")
    if stripped[0] not in "[{":
        number = text[: len(text) - len(stripped)].count("\n") + 1
        raise InputFormatError(
            f"{path}: line {number} is not JSON (plain-text facts, one per line, are read "
            "with --format text, or from a .txt file)."
        )
    if stripped[0] == "[":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFormatError(
                f"{path}: line {exc.lineno}: invalid JSON ({exc.msg}, column {exc.colno})."
            ) from None
        records = data
    else:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputFormatError(
                    f"{path}: line {number}: invalid JSON ({exc.msg}, column {exc.colno})."
                ) from None
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InputFormatError(f"{path}: record {index + 1} is not a JSON object.")
    if not records:
        raise InputFormatError(f"{path}: no records found.")
    return records


def detect_format(record: Record) -> str | None:
    """The format a record belongs to, judged by its keys; None when unknown."""
    keys = set(record)
    if "requested_rewrite" in keys:
        return "rome"
    if isinstance(record.get("edit"), dict) or isinstance(record.get("edits"), list):
        return "pitfalls"
    if {"src", "alt"} <= keys:
        return "zsre"
    if {"concept", "labels"} <= keys or (
        {"prompt", "subject", "target_new"} <= keys
        and ("portability" in keys or isinstance(record.get("locality"), dict))
    ):
        return "knowedit"
    if {"prompt", "subject", "target_new"} <= keys:
        return "counterfact"
    if "text" in keys or {"prompt", "target"} <= keys:
        return "jsonl"
    return None


def _field(record: Record, key: str, where: str, *path: str) -> Any:
    value: Any = record
    for part in (key, *path):
        if not isinstance(value, Mapping) or part not in value:
            dotted = ".".join((key, *path))
            raise InputFormatError(f"{where}: missing {dotted!r}.")
        value = value[part]
    return value


def _string(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str):
        raise InputFormatError(f"{where}: {name!r} must be a string, got {type(value).__name__}.")
    return value


def _from_jsonl(record: Record, where: str, source: str) -> list[EditDraft]:
    tags = record.get("tags") or ()
    aliases = record.get("aliases") or ()
    for name, value in (("tags", tags), ("aliases", aliases)):
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise InputFormatError(f"{where}: {name!r} must be a list of strings.")
    for key in ("text", "subject", "prompt", "target", "relation", "source", "id", "created"):
        if record.get(key) is not None:
            _string(record[key], where, key)
    return [
        EditDraft(
            text=record.get("text"),
            subject=record.get("subject"),
            prompt=record.get("prompt"),
            target=record.get("target"),
            relation=record.get("relation"),
            source=record.get("source") or source,
            tags=tuple(tags),
            aliases=tuple(aliases),
            id=record.get("id"),
            created=record.get("created"),
        )
    ]


def _first_string(value: Any, where: str, name: str) -> str:
    # KnowEdit targets are sometimes lists of aliases: the first is canonical
    while isinstance(value, list) and value:
        value = value[0]
    return _string(value, where, name)


def _from_counterfact(record: Record, where: str, source: str) -> list[EditDraft]:
    if {"concept", "labels"} <= set(record):  # KnowEdit WikiBio: a sentence about a person
        return [
            EditDraft(
                text=_string(record["labels"], where, "labels"),
                subject=_string(record["concept"], where, "concept"),
                source=source,
            )
        ]
    return [
        EditDraft(
            subject=_string(_field(record, "subject", where), where, "subject"),
            prompt=_string(_field(record, "prompt", where), where, "prompt"),
            target=_first_string(_field(record, "target_new", where), where, "target_new"),
            source=source,
        )
    ]


def _from_zsre(record: Record, where: str, source: str) -> list[EditDraft]:
    return [
        EditDraft(
            subject=_string(_field(record, "subject", where), where, "subject"),
            prompt=_string(_field(record, "src", where), where, "src"),
            target=_first_string(_field(record, "alt", where), where, "alt"),
            source=source,
        )
    ]


def _from_rome(record: Record, where: str, source: str) -> list[EditDraft]:
    template = _string(
        _field(record, "requested_rewrite", where, "prompt"), where, "requested_rewrite.prompt"
    )
    subject = _string(
        _field(record, "requested_rewrite", where, "subject"), where, "requested_rewrite.subject"
    )
    target = _field(record, "requested_rewrite", where, "target_new", "str")
    relation = record["requested_rewrite"].get("relation_id")
    if "{}" not in template:
        raise InputFormatError(
            f"{where}: requested_rewrite.prompt has no '{{}}' slot for the subject."
        )
    return [
        EditDraft(
            subject=subject,
            prompt=template.replace("{}", subject),
            target=_string(target, where, "requested_rewrite.target_new.str"),
            relation=relation if isinstance(relation, str) else None,
            source=source,
        )
    ]


def _pitfalls_edit(edit: Any, where: str, source: str) -> EditDraft:
    if not isinstance(edit, Mapping):
        raise InputFormatError(f"{where}: an edit must be an object.")
    template = _string(_field(edit, "relation", where, "prompt"), where, "relation.prompt")
    subject = _string(_field(edit, "subject", where, "label"), where, "subject.label")
    target = _string(_field(edit, "new_object", where, "label"), where, "new_object.label")
    relation = edit["relation"].get("id")
    if "{}" not in template:
        raise InputFormatError(f"{where}: relation.prompt has no '{{}}' slot for the subject.")
    return EditDraft(
        subject=subject,
        prompt=template.replace("{}", subject),
        target=target,
        relation=relation if isinstance(relation, str) else None,
        source=source,
    )


def _from_pitfalls(record: Record, where: str, source: str) -> list[EditDraft]:
    edits = (
        record["edits"]
        if isinstance(record.get("edits"), list)
        else [_field(record, "edit", where)]
    )
    return [_pitfalls_edit(edit, f"{where}, edit {i + 1}", source) for i, edit in enumerate(edits)]


_READERS: dict[str, Callable[[Record, str, str], list[EditDraft]]] = {
    "jsonl": _from_jsonl,
    "counterfact": _from_counterfact,
    "knowedit": _from_counterfact,
    "zsre": _from_zsre,
    "rome": _from_rome,
    "pitfalls": _from_pitfalls,
}


def resolve_format(records: list[Record], fmt: str, path: Path | str) -> str:
    """``fmt`` itself, or the detected format when ``fmt`` is "auto"."""
    if fmt != "auto":
        if fmt not in _READERS:
            raise InputFormatError(
                f"Unknown format {fmt!r}; use one of: auto, {', '.join(FORMATS)}."
            )
        return fmt
    detected = detect_format(records[0])
    if detected is None:
        keys = ", ".join(sorted(records[0])[:8]) or "none"
        raise InputFormatError(
            f"{path}: cannot tell the format (first record has keys: {keys}); "
            f"name it with --format ({', '.join(FORMATS)})."
        )
    return detected


@dataclass(frozen=True)
class EditCase:
    """An edit with the queries a benchmark attaches to it.

    ``paraphrases`` should reach the edit (generality); ``locality`` prompts,
    by kind, must be left to the base model; ``portability`` prompts (KnowEdit's
    subject aliases, reasoning and logical generalisation) need the edit to be
    answered, with the answer given.
    """

    draft: EditDraft
    paraphrases: tuple[str, ...] = ()
    locality: tuple[tuple[str, str], ...] = ()  # (kind, prompt)
    portability: tuple[tuple[str, str, str], ...] = ()  # (kind, prompt, answer)


LOCALITY_KINDS = ("neighborhood", "relation_specificity", "unrelated")


def _prompts(value: Any) -> list[str]:
    """Prompts from a string, a list of strings, or a list of {"prompt": ...} objects (lenient)."""
    items = value if isinstance(value, list) else [value]
    found = []
    for item in items:
        if isinstance(item, Mapping):
            item = item.get("prompt")
        if isinstance(item, str) and item.strip():
            found.append(item)
    return found


def _mapping(record: Record, key: str) -> Mapping[str, Any]:
    value = record.get(key)
    return value if isinstance(value, Mapping) else {}


def _case_queries(record: Record, fmt: str) -> tuple[list[str], list[tuple[str, str]]]:
    if fmt == "counterfact":
        return _prompts(record.get("rephrase_prompt")), [
            ("neighborhood", p) for p in _prompts(record.get("locality_prompt"))
        ]
    if fmt == "knowedit":
        locality = _mapping(record, "locality")
        return [], [
            ("relation_specificity", p) for p in _prompts(locality.get("Relation_Specificity", []))
        ]
    if fmt == "zsre":
        return _prompts(record.get("rephrase")), [
            ("unrelated", p) for p in _prompts(record.get("loc"))
        ]
    if fmt == "rome":
        return _prompts(record.get("paraphrase_prompts", [])), [
            ("neighborhood", p) for p in _prompts(record.get("neighborhood_prompts", []))
        ]
    if fmt == "jsonl":
        locality = _mapping(record, "locality")
        return _prompts(record.get("paraphrases", [])), [
            (str(kind), p) for kind, prompts in locality.items() for p in _prompts(prompts)
        ]
    return [], []


def _answer(value: Any) -> str | None:
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) and value.strip() else None


def _portability(record: Record, fmt: str) -> list[tuple[str, str, str]]:
    """KnowEdit portability prompts with their answers (lenient: malformed items are skipped)."""
    if fmt != "knowedit":
        return []
    found = []
    for kind, items in _mapping(record, "portability").items():
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping) and isinstance(item.get("prompt"), str):
                answer = _answer(item.get("ground_truth"))
                if answer:
                    found.append((str(kind), item["prompt"], answer))
    return found


def read_facts(path: str | Path) -> list[EditDraft]:
    """The facts of a plain-text file, one per line, each as free text."""
    path = Path(path)
    drafts = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        fact = line.strip()
        if not fact or fact.startswith("#"):
            continue
        if fact[0] in "{[":
            raise InputFormatError(
                f"{path}: line {number} looks like JSON, not a fact; name the format "
                "with --format (jsonl, counterfact, ...)."
            )
        drafts.append(EditDraft(text=fact, source=f"text:{path.name}#{number}"))
    if not drafts:
        raise InputFormatError(f"{path}: no facts found (one per line; # starts a comment).")
    return drafts


def read_cases(path: str | Path, fmt: str = "auto") -> list[EditCase]:
    """Every edit in a file with its benchmark queries, in file order."""
    path = Path(path)
    if fmt == "text" or (fmt == "auto" and path.suffix.lower() in TEXT_SUFFIXES):
        return [EditCase(draft) for draft in read_facts(path)]
    records = load_records(path)
    fmt = resolve_format(records, fmt, path)
    reader = _READERS[fmt]
    cases: list[EditCase] = []
    for index, record in enumerate(records):
        drafts = reader(record, f"{path}: record {index + 1}", f"{fmt}:{path.name}#{index + 1}")
        if len(drafts) == 1:
            paraphrases, locality = _case_queries(record, fmt)
            portability = _portability(record, fmt)
            cases.append(
                EditCase(drafts[0], tuple(paraphrases), tuple(locality), tuple(portability))
            )
        else:
            cases.extend(EditCase(d) for d in drafts)
    return cases


def read_edit_file(path: str | Path, fmt: str = "auto") -> list[EditDraft]:
    """All edits a file holds, in file order (later records are later facts)."""
    return [case.draft for case in read_cases(path, fmt)]
