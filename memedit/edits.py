"""What an edit is, how it is validated, and the keys that deduplicate it.

An edit is a fact the model should now believe. Users give it as free text
("The Eiffel Tower is located in Rome.") or as structured fields (subject,
prompt, target); either way it becomes an immutable :class:`Edit` with a
ULID, a creation time and derived keys:

- ``content_hash``: the same fact added twice is stored once;
- ``conflict_key``: subject + relation, so that a newer fact on the same
  subject and relation supersedes the older one;
- ``route_text``: what the scope classifier embeds (the question part of
  the edit when known, not its new answer).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Literal

from memedit.errors import InvalidEditError
from memedit.facts import parse_fact
from memedit.ids import is_ulid, new_ulid
from memedit.question_forms import relation_of

MAX_TEXT_BYTES = 4096
MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_SOURCE_CHARS = 512
MAX_ALIASES = 16
MAX_ALIAS_CHARS = 128

Status = Literal["live", "superseded"]
STATUSES: tuple[Status, ...] = ("live", "superseded")


def utc_now() -> str:
    """Creation times are ISO-8601 UTC with microseconds, so they sort as strings."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _normalise(value: str | None) -> str:
    return " ".join(unicodedata.normalize("NFKC", value or "").casefold().split())


def subject_key(subject: str | None) -> str | None:
    """A subject as compared between edits (case, width and spacing folded); None if none."""
    key = _normalise(subject)
    return key or None


def _clean(name: str, value: Any, *, required: bool = False) -> str | None:
    """Validate one text field: a string, not blank, no control characters, under the cap."""
    if value is None:
        if required:
            raise InvalidEditError(f"An edit needs {name}; got nothing.")
        return None
    if not isinstance(value, str):
        raise InvalidEditError(f"Edit {name} must be a string, got {type(value).__name__}.")
    value = value.strip()
    if not value:
        if required:
            raise InvalidEditError(f"An edit needs {name}; got an empty or whitespace-only string.")
        return None
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in value):
        raise InvalidEditError(
            f"Edit {name} contains control characters; remove them and try again."
        )
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidEditError(
            f"Edit {name} is not valid Unicode (it holds a lone surrogate); fix the input's encoding."
        ) from None
    if size > MAX_TEXT_BYTES:
        raise InvalidEditError(
            f"Edit {name} is {size:,} bytes; the limit is {MAX_TEXT_BYTES:,}. Split it into smaller facts."
        )
    return value


def _clean_names(
    kind: str,
    plural: str,
    values: Any,
    *,
    limit: int,
    max_chars: int,
    key: Callable[[str], Any] = lambda value: value,
    taken: Iterable[Any] = (),
) -> tuple[str, ...]:
    """A list of short one-line strings (tags, aliases), in order, each once by ``key``
    (and none whose key is in ``taken``), at most ``limit`` of them."""
    if values is None:
        return ()
    if not isinstance(values, list | tuple):
        raise InvalidEditError(f"Edit {plural} must be a list of strings.")
    cleaned: list[str] = []
    seen = set(taken)
    for value in values:
        value = _clean(kind, value)
        if value is None:
            raise InvalidEditError(f"Edit {plural} must be non-empty strings.")
        if len(value) > max_chars or "\n" in value or "\t" in value:
            raise InvalidEditError(
                f"{kind.capitalize()} {value[:20]!r}... is too long or spans lines "
                f"(limit {max_chars} characters)."
            )
        if key(value) not in seen:
            seen.add(key(value))
            cleaned.append(value)
    if len(cleaned) > limit:
        raise InvalidEditError(f"An edit may carry at most {limit} {plural}; got {len(cleaned)}.")
    return tuple(cleaned)


def _clean_tags(tags: Any) -> tuple[str, ...]:
    return _clean_names("tag", "tags", tags, limit=MAX_TAGS, max_chars=MAX_TAG_CHARS)


def _clean_aliases(aliases: Any, subject: str | None) -> tuple[str, ...]:
    """Other names of the subject ("MJ" for Michael Jordan): distinct up to case and spacing,
    one line each, not the subject itself."""
    cleaned = _clean_names(
        "alias",
        "aliases",
        aliases,
        limit=MAX_ALIASES,
        max_chars=MAX_ALIAS_CHARS,
        key=subject_key,
        taken=[subject_key(subject)],
    )
    if cleaned and subject is None:
        raise InvalidEditError(
            "Aliases are other names of the edit's subject, and this edit has none: give its "
            "subject (with a prompt and target), or write the fact so that its subject comes first."
        )
    return cleaned


def relation_key(subject: str | None, prompt: str | None, relation: str | None) -> str | None:
    """A key equal for two phrasings of the same relation: an explicit relation
    id when given, else the relation :func:`memedit.question_forms.relation_of` reads in the
    prompt ("X is located in" and "X can be found in" are both ``country_located``), else
    the prompt with the subject masked out (or the template the free-text parser derived)."""
    if relation and "{}" not in relation:  # an id; "{} is in" is a template the parser derived
        return "rel:" + _normalise(relation)
    known = relation_of(prompt, subject) if prompt else None
    if known is not None:
        return "known:" + known
    if relation:
        return "rel:" + _normalise(relation)
    if subject and prompt:
        s, p = _normalise(subject), _normalise(prompt)
        if s and s in p:
            return "tpl:" + p.replace(s, "{}", 1).rstrip(" ,:;.")
    return None


def conflict_key(subject: str | None, prompt: str | None, relation: str | None) -> str | None:
    """Equal for two edits on the same subject and relation (the newer supersedes the older);
    None when the relation is unknown. Stored with each edit: a change to how relations are
    keyed (here or in :mod:`memedit.question_forms`) needs a store migration."""
    key = relation_key(subject, prompt, relation) if subject else None
    return _normalise(subject) + "\x1f" + key if key else None


def supersedes(newer: Edit, older: Edit) -> bool:
    """Whether ``newer`` may supersede ``older``: both on one subject and known relation."""
    return older.conflict_key is not None and newer.conflict_key == older.conflict_key


@dataclass(frozen=True)
class EditDraft:
    """An edit as a user or a file gives it, before validation and ids.

    Either ``text`` or both ``prompt`` and ``target`` are required.
    ``id``/``created``/``status`` are only set when re-importing stored edits.
    """

    text: str | None = None
    subject: str | None = None
    prompt: str | None = None
    target: str | None = None
    relation: str | None = None
    source: str | None = None
    tags: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # other names of the subject, for routing
    id: str | None = None
    created: str | None = None


@dataclass(frozen=True)
class Edit:
    """A validated, stored (or about to be stored) edit."""

    id: str
    text: str
    subject: str | None
    prompt: str | None
    target: str | None
    relation: str | None
    created: str
    source: str | None = None
    tags: tuple[str, ...] = ()
    derived: bool = False  # subject/prompt/target were derived from free text
    aliases: tuple[str, ...] = ()  # other names of the subject ("MJ"): queries may use them
    status: Status = "live"
    superseded_by: str | None = None
    content_hash: str = field(default="", compare=False)
    conflict_key: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(
                self, "content_hash", content_hash(self.text, self.prompt, self.target)
            )
        if self.conflict_key is None:
            key = conflict_key(self.subject, self.prompt, self.relation)
            if key:
                object.__setattr__(self, "conflict_key", key)

    @property
    def live(self) -> bool:
        return self.status == "live"

    @property
    def route_text(self) -> str:
        """What the scope classifier embeds: the question part when known."""
        return self.prompt or self.text

    def with_status(self, status: Status, superseded_by: str | None = None) -> Edit:
        return replace(self, status=status, superseded_by=superseded_by)

    def to_dict(self) -> dict[str, Any]:
        """The edit in memedit's own JSON schema (as in ``edits.jsonl`` and ``list --json``)."""
        data = asdict(self)
        data["tags"] = list(self.tags)
        data["aliases"] = list(self.aliases)
        del data["content_hash"], data["conflict_key"]
        return data


def content_hash(text: str, prompt: str | None, target: str | None) -> str:
    """Equal for the same fact up to case, spacing and Unicode form."""
    payload = json.dumps([_normalise(text), _normalise(prompt), _normalise(target)])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def build_edit(draft: EditDraft) -> Edit:
    """Validate a draft and turn it into an :class:`Edit` with id and creation time.

    Free text gets its subject, question part and target derived (see
    :mod:`memedit.facts`); structured fields get a text composed from them.
    """
    given_only_text = draft.text is not None and draft.prompt is None and draft.target is None
    text = _clean("text", draft.text, required=given_only_text)
    subject = _clean("subject", draft.subject)
    prompt = _clean("prompt", draft.prompt)
    target = _clean("target", draft.target)
    relation = _clean("relation", draft.relation)
    source = _clean("source", draft.source)
    if source and len(source) > MAX_SOURCE_CHARS:
        raise InvalidEditError(f"Edit source is longer than {MAX_SOURCE_CHARS} characters.")
    tags = _clean_tags(draft.tags)
    derived = False
    if text is None:
        if prompt is None or target is None:
            missing = "a target" if prompt else "a prompt" if target else "text"
            raise InvalidEditError(
                f"An edit needs {missing}: give the fact as text, or both a prompt and a target."
            )
        text = _clean("text", f"{prompt} {target}", required=True)
    elif prompt is None:
        # Free text; a subject or target given with it fixes that part ("memedit add TEXT
        # --subject ...", where the rules split the sentence wrong) and the rest is derived.
        parsed = parse_fact(text, subject=subject, target=target)
        if parsed is not None:
            subject, prompt, target = parsed.subject, parsed.prompt, parsed.target
            relation = relation or parsed.relation
            derived = True
        elif target is not None:
            raise InvalidEditError(
                f"The target {target!r} does not end the text {text!r}: give the prompt too, "
                "or leave the target out."
            )
    assert text is not None
    aliases = _clean_aliases(draft.aliases, subject)
    if (prompt is None) != (target is None) and not derived:
        raise InvalidEditError("A structured edit needs both a prompt and a target.")
    edit_id = draft.id or new_ulid()
    if not is_ulid(edit_id):
        raise InvalidEditError(f"Edit id {edit_id!r} is not a ULID (26 characters of 0-9 and A-Z).")
    created = _utc_timestamp(draft.created) if draft.created else utc_now()
    return Edit(
        id=edit_id,
        text=text,
        subject=subject,
        prompt=prompt,
        target=target,
        relation=relation,
        created=created,
        source=source,
        tags=tags,
        derived=derived,
        aliases=aliases,
    )


def _utc_timestamp(value: str) -> str:
    """A given creation time, checked and rewritten in UTC so that times sort as strings."""
    try:
        stamp = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidEditError(
            f"Edit creation time {value!r} is not an ISO-8601 timestamp."
        ) from None
    if stamp.tzinfo is None:
        raise InvalidEditError(
            f"Edit creation time {value!r} has no time zone; use UTC (...+00:00)."
        )
    return stamp.astimezone(timezone.utc).isoformat(timespec="microseconds")


def edit_from_record(record: Mapping[str, Any]) -> Edit:
    """Rebuild a stored edit from memedit's JSON schema, re-validating every field."""
    status = record.get("status", "live")
    if status not in STATUSES:
        raise InvalidEditError(f"Edit status must be one of {', '.join(STATUSES)}; got {status!r}.")
    draft = EditDraft(
        text=record.get("text"),
        subject=record.get("subject"),
        prompt=record.get("prompt"),
        target=record.get("target"),
        relation=record.get("relation"),
        source=record.get("source"),
        tags=record.get("tags") or (),  # validated by build_edit, like any draft's
        id=record.get("id"),
        created=record.get("created"),
    )
    if draft.text is None:
        raise InvalidEditError("A stored edit needs its text.")
    edit = build_edit(replace(draft, subject=None, prompt=None, target=None))
    subject = _clean("subject", draft.subject)
    aliases = _clean_aliases(record.get("aliases"), subject)
    # keep the stored fields exactly, rather than re-deriving them
    superseded_by = _clean("superseded_by", record.get("superseded_by"))
    if superseded_by is not None and not is_ulid(superseded_by):
        raise InvalidEditError(f"superseded_by {superseded_by!r} is not an edit id.")
    return Edit(
        id=edit.id,
        text=edit.text,
        subject=subject,
        prompt=_clean("prompt", draft.prompt),
        target=_clean("target", draft.target),
        relation=_clean("relation", draft.relation),
        created=edit.created,
        source=edit.source,
        tags=edit.tags,
        derived=bool(record.get("derived", False)),
        aliases=aliases,
        status=status,
        superseded_by=superseded_by,
    )
