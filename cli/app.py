"""`memedit` commands. Each one parses options, calls the library, prints.

User errors from the library (:class:`memedit.errors.MemeditError`) become a
one-line ``Error: ...`` and exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from memedit import __version__
from memedit.edits import Edit, EditDraft
from memedit.errors import MemeditError
from memedit.formats import FORMATS
from memedit.router import BASES, RouteResult
from memedit.store import ON_CONFLICT, EditStore, OnConflict, import_into

F = TypeVar("F", bound=Callable[..., Any])
BASIS_WIDTH = max(map(len, BASES))  # the route table's "how the score was reached" column


class MemeditGroup(click.Group):
    """Turns library errors into one-line CLI errors."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MemeditError as exc:
            raise click.ClickException(str(exc)) from None


def store_option(func: F) -> F:
    return click.option(
        "--store",
        "store_path",
        type=click.Path(path_type=Path),
        envvar="MEMEDIT_STORE",
        help="Store folder (default: $MEMEDIT_STORE, else $MEMEDIT_HOME/store or the platform's data folder).",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def model_option(func: F) -> F:
    """--model for the commands that answer with a model (ask, serve)."""
    return click.option(
        "--model",
        "model_name",
        envvar="MEMEDIT_MODEL",
        help="Base model: a hub id or a local folder (default: $MEMEDIT_MODEL, else the store's saved model).",
    )(func)


class PerSubject(click.ParamType):
    """A whole number from 1 to 32, or "all" (no cap: None)."""

    name = "N|all"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, int):
            return value
        if str(value).strip().lower() == "all":
            return "all"
        try:
            number = int(value)
        except ValueError:
            number = 0
        if not 1 <= number <= 32:
            self.fail(f"{value!r} is not a whole number from 1 to 32, or 'all'.", param, ctx)
        return number


def mode_options(func: F) -> F:
    """--mode, --counterfactual-model, --max-edits and --edits-per-subject: how in-scope
    questions are answered (see :func:`wrapper_settings`)."""
    func = click.option(
        "--edits-per-subject",
        type=PerSubject(),
        help="In-scope edits of one subject in a prompt, the best first; 'all' for no cap "
        "(default: the saved model's, else 1).",
    )(func)
    func = click.option(
        "--max-edits",
        type=click.IntRange(1, 32),
        help="In-scope edits in one prompt (default: the saved model's, else 3).",
    )(func)
    func = click.option(
        "--counterfactual-model",
        help="Model for --mode counterfactual (see `memedit train-counterfactual`).",
    )(func)
    return click.option(
        "--mode",
        type=click.Choice(["in_context", "counterfactual"]),
        help="How in-scope questions are answered (default: in_context).",
    )(func)


def wrapper_settings(
    mode: str | None,
    counterfactual_model: str | None,
    max_edits: int | None,
    edits_per_subject: int | str | None,
) -> dict[str, Any]:
    """:meth:`EditableModel.from_pretrained` keywords from :func:`mode_options`' values."""
    per_subject: int | str | None = edits_per_subject
    if edits_per_subject is None:
        per_subject = "saved"  # not given: the saved model's choice
    elif edits_per_subject == "all":
        per_subject = None
    return {
        "mode": mode,
        "counterfactual_model": counterfactual_model,
        "max_edits": max_edits,
        "edits_per_subject": per_subject,
    }


def _open(store_path: Path | None, *, create: bool) -> EditStore:
    return EditStore(store_path, create=create)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


@click.group(cls=MemeditGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="memedit")
def cli() -> None:
    """Edit what a language model knows without touching its weights.

    Edits live in a store (SQLite + a FAISS index). Every query is routed:
    in scope of an edit, the edit answers; out of scope, the base model does.

    \b
    Quick start:
        memedit add "The Eiffel Tower is located in Rome."
        memedit route "Where is the Eiffel Tower?"
        memedit list
        memedit export my-edits.memedit
    """


@cli.command()
@click.argument("text", required=False)
@click.option("--subject", help="Who or what the fact is about.")
@click.option("--prompt", help="The question or sentence start the fact answers.")
@click.option("--target", help="The new answer.")
@click.option(
    "--relation",
    help="A relation id or name (e.g. P190); edits on the same subject and relation conflict.",
)
@click.option("--tag", "tags", multiple=True, help="Tag the edit(s); repeatable.")
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    help='Another name of the subject that queries may use ("MJ"); repeatable.',
)
@click.option("--source", help="Where the fact comes from.")
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Add every edit in a file: memedit JSONL, a benchmark's JSON, or plain text (a .txt file: one fact per line).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", *FORMATS]),
    default="auto",
    show_default=True,
    help="Format of --file.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="With --file: leave invalid records out (and say which) instead of adding nothing.",
)
@store_option
@json_option
def add(
    text: str | None,
    subject: str | None,
    prompt: str | None,
    target: str | None,
    relation: str | None,
    tags: tuple[str, ...],
    aliases: tuple[str, ...],
    source: str | None,
    file: Path | None,
    fmt: str,
    skip_invalid: bool,
    store_path: Path | None,
    as_json: bool,
) -> None:
    """Add an edit: free text, structured fields, or a file of edits.

    Free text gets its subject, question part and answer derived (printed here,
    and by `memedit show`); where that goes wrong, --subject or --target with the
    text fixes that part and the rest is derived around it.

    Adding the same fact twice stores it once. A new fact on the same subject
    and relation as a live edit supersedes it (the old one stays as history).
    A file is added atomically: all of it, or none.

    \b
    Examples:
        memedit add "The Eiffel Tower is located in Rome."
        memedit add "Michael Jordan played for the Lakers." --alias MJ
        memedit add "Visitors to Paris often buy Chanel." --subject Paris
        memedit add --subject "Toko Yasuda" --prompt "Toko Yasuda plays the" --target piano
        memedit add --file edits.jsonl --tag batch-1
        memedit add --file facts.txt
        memedit add --file ../shared/data/counterfact/val.json --format counterfact
    """
    structured = any(v is not None for v in (subject, prompt, target, relation))
    if file is not None and (text is not None or structured):
        raise click.UsageError("Give either TEXT / structured options, or --file, not both.")
    if file is None and text is None and not structured:
        raise click.UsageError(
            "Nothing to add: give the fact as TEXT, use --prompt/--target, or --file."
        )
    if file is None and fmt != "auto":
        raise click.UsageError("--format only applies to --file.")
    if file is not None and aliases:
        raise click.UsageError(
            "--alias names one edit's subject; in a file, give each record its 'aliases'."
        )
    with _open(store_path, create=True) as store:
        if file is not None:
            result = store.add_file(file, fmt, tags=tags, skip_invalid=skip_invalid)
        else:
            draft = EditDraft(
                text=text,
                subject=subject,
                prompt=prompt,
                target=target,
                relation=relation,
                source=source,
                tags=tags,
                aliases=aliases,
            )
            result = store.add_many([draft])
    if as_json:
        _print_json(result.to_dict())
        return
    for edit in result.added if len(result.added) <= 20 else []:
        click.echo(f"Added {edit.id}  {_short(edit.text, 70)}")
    if file is None and text is not None and prompt is None:
        for edit in result.added:
            click.echo(_derived_line(edit))
    if len(result.added) > 20:
        click.echo(f"Added {len(result.added):,} edits.")
    for edit in result.duplicates if len(result.duplicates) <= 20 else []:
        click.echo(f"Already stored as {edit.id}  {_short(edit.text, 60)}")
    if len(result.duplicates) > 20:
        click.echo(f"{len(result.duplicates):,} edits were already stored.")
    if result.skipped:
        click.echo(
            f"Skipped {len(result.skipped):,} invalid edit(s); the first: {result.skipped[0]}",
            err=True,
        )
    if result.superseded:
        click.echo(
            f"Superseded {len(result.superseded):,} older edit(s) on the same subject and relation:"
        )
        for old, new in result.superseded[:20]:
            click.echo(f"  {old} -> {new}")


@cli.command(name="list")
@click.option("--all", "include_all", is_flag=True, help="Include superseded edits (history).")
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), help="Show at most N edits (newest last)."
)
@store_option
@json_option
def list_(include_all: bool, limit: int | None, store_path: Path | None, as_json: bool) -> None:
    """List edits, oldest first.

    \b
    Examples:
        memedit list
        memedit list --all --json | jq '.[] | select(.status == "superseded")'
    """
    with _open(store_path, create=False) as store:
        edits = store.edits(include_superseded=include_all)
    if limit is not None:
        edits = edits[-limit:]
    if as_json:
        _print_json([e.to_dict() for e in edits])
        return
    if not edits:
        click.echo('No edits yet. Add one with: memedit add "<fact>"')
        return
    width = shutil.get_terminal_size((120, 20)).columns
    text_width = max(20, width - 26 - 12 - 24 - 6 - (12 if include_all else 0))
    header = (
        f"{'ID':<26}  {'CREATED':<10}  {'SUBJECT':<22}  "
        + ("STATUS      " if include_all else "")
        + "TEXT"
    )
    click.echo(header)
    for edit in edits:
        status = f"{edit.status:<10}  " if include_all else ""
        click.echo(
            f"{edit.id:<26}  {edit.created[:10]:<10}  {_short(edit.subject or '-', 22):<22}  {status}{_short(edit.text, text_width)}"
        )


def _describe(edit: Edit) -> list[tuple[str, str]]:
    rows = [
        ("id", edit.id),
        ("text", edit.text),
        ("subject", edit.subject or "-"),
        ("aliases", ", ".join(edit.aliases) or "-"),
        ("prompt", edit.prompt or "-"),
        ("target", edit.target or "-"),
        ("relation", edit.relation or "-"),
        (
            "derived",
            "yes: subject, prompt and target were derived from the text" if edit.derived else "no",
        ),
        ("created", edit.created),
        ("source", edit.source or "-"),
        ("tags", ", ".join(edit.tags) or "-"),
        ("status", edit.status + (f" (by {edit.superseded_by})" if edit.superseded_by else "")),
        ("routes on", edit.route_text),
    ]
    return rows


def _derived_line(edit: Edit) -> str:
    """What free text was split into, so that a wrong split is seen when the edit is added."""
    if edit.prompt is None and edit.subject:
        return (
            f"  {edit.subject!r} is not in the text, so no question part was found: it routes "
            "on the whole text, answer included."
        )
    if edit.prompt is None:
        return (
            "  No question part found: it routes on the whole text, answer included. "
            "Name the subject (--subject) or the answer (--target) to split it."
        )
    return f"  subject: {edit.subject}  |  question part: {edit.prompt}  |  answer: {edit.target}"


@cli.command()
@click.argument("edit_id")
@store_option
@json_option
def show(edit_id: str, store_path: Path | None, as_json: bool) -> None:
    """Show one edit: its fields, what was derived from free text, its status.

    EDIT_ID may be a unique prefix of the id.

    \b
    Example:
        memedit show 01JD3
    """
    with _open(store_path, create=False) as store:
        edit = store.get(edit_id)
    if as_json:
        _print_json(edit.to_dict())
        return
    for name, value in _describe(edit):
        click.echo(f"{name + ':':<11}{value}")


@cli.command()
@click.argument("edit_ids", nargs=-1, required=True)
@store_option
@json_option
def rm(edit_ids: tuple[str, ...], store_path: Path | None, as_json: bool) -> None:
    """Remove edits by id (or unique id prefix). All or nothing.

    Removing an edit that superseded an older one makes the older one live again.

    \b
    Example:
        memedit rm 01JD3K 01JD3M
    """
    with _open(store_path, create=False) as store:
        removed = store.remove(edit_ids)
    if as_json:
        _print_json({"removed": [e.id for e in removed]})
        return
    for edit in removed:
        click.echo(f"Removed {edit.id}  {_short(edit.text, 70)}")


@cli.command()
@click.argument("query")
@click.option(
    "-k",
    "k",
    type=click.IntRange(1, 100),
    help="How many nearest edits to show (default: the router's top_k).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(-1.0, 1.0),
    help="Override the router's similarity threshold for this query.",
)
@click.option(
    "--context",
    metavar="MESSAGE",
    help='The message before the query, for a follow-up question ("Where was he born?").',
)
@store_option
@json_option
def route(
    query: str,
    k: int | None,
    threshold: float | None,
    context: str | None,
    store_path: Path | None,
    as_json: bool,
) -> None:
    """Show where a query would be routed: the nearest edits, their scores, in scope or not.

    \b
    Examples:
        memedit route "Where is the Eiffel Tower?"
        memedit route "Who plays the piano?" -k 10 --json
        memedit route "Where was he born?" --context "Tell me about Mozart."
    """
    with _open(store_path, create=False) as store:
        result = store.route(query, k=k, threshold=threshold, context=context)
    if as_json:
        _print_json(result.to_dict())
        return
    _print_route(result)


def _print_route(result: RouteResult) -> None:
    verdict = "IN SCOPE" if result.in_scope else "out of scope (the base model answers)"
    click.echo(f"{verdict}  threshold {result.threshold:.2f}")
    learnt = any(routed.basis not in (None, "similarity") for routed in result.edits)
    for routed in result.edits:
        mark = "*" if routed.in_scope else " "
        basis = f"{routed.basis or '':<{BASIS_WIDTH}}  " if learnt else ""
        click.echo(f"{mark} {routed.score:6.3f}  {basis}{routed.id}  {_short(routed.text, 60)}")
        if routed.via is not None:
            click.echo(
                f"{'':8}  {'':{len(basis)}}via an edit it superseded: {_short(routed.via, 50)}"
            )
    if not result.edits:
        click.echo("  (the store has no live edits)")


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--dir", "as_dir", is_flag=True, help="Write a folder instead of one .memedit (zip) file."
)
@click.option(
    "--no-vectors", is_flag=True, help="Leave vectors out (smaller; the importer re-embeds)."
)
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@store_option
@json_option
def export(
    path: Path, as_dir: bool, no_vectors: bool, force: bool, store_path: Path | None, as_json: bool
) -> None:
    """Export the store (live edits and history) to a portable bundle.

    \b
    Examples:
        memedit export my-edits.memedit
        memedit export my-edits --dir --no-vectors
    """
    with _open(store_path, create=False) as store:
        written = store.export(path, as_dir=as_dir, vectors=not no_vectors, overwrite=force)
        stats = store.stats()
    if as_json:
        _print_json({"path": str(written), "edits": stats.edits, "live": stats.live})
        return
    click.echo(f"Exported {stats.edits:,} edits ({stats.live:,} live) to {written}")


def _report_import(report: Any, as_json: bool) -> None:
    data = report.to_dict()
    if as_json:
        _print_json(data)
        return
    verb = "Would import" if report.dry_run else "Imported"
    click.echo(
        f"{verb}: {data['added']:,} new, {data['unchanged']:,} unchanged, {data['duplicates']:,} duplicates, "
        f"{data['replaced']:,} replaced, {data['skipped_conflicts']:,} conflicts skipped, "
        f"{len(data['superseded']):,} superseded."
    )
    if report.skipped:
        click.echo(
            "Conflicting ids kept as stored: "
            + ", ".join(report.skipped[:10])
            + (" ..." if len(report.skipped) > 10 else "")
        )


on_conflict_option = click.option(
    "--on-conflict",
    type=click.Choice(ON_CONFLICT),
    default="skip",
    show_default=True,
    help="When an edit's id is stored with other content: keep ours (skip), take theirs (replace), or abort (fail).",
)


@cli.command(name="import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--dry-run", is_flag=True, help="Check the bundle and show what would change; write nothing."
)
@on_conflict_option
@store_option
@json_option
def import_(
    path: Path, dry_run: bool, on_conflict: str, store_path: Path | None, as_json: bool
) -> None:
    """Import a bundle (.memedit file, tar or folder) into the store.

    Everything is checked before the store is touched: checksums, schema,
    sizes, member names, embedder. Vectors are re-embedded when the bundle
    was made with another embedder. The import is atomic.

    \b
    Examples:
        memedit import shared.memedit --dry-run
        memedit import shared.memedit --on-conflict replace
    """
    report = import_into(
        store_path, path, on_conflict=cast(OnConflict, on_conflict), dry_run=dry_run
    )
    _report_import(report, as_json)


@cli.command()
@store_option
@json_option
def stats(store_path: Path | None, as_json: bool) -> None:
    """Show the store's size, embedder, index kind and router settings."""
    with _open(store_path, create=False) as store:
        info = store.stats()
    if as_json:
        _print_json(info.to_dict())
        return
    router = info.router
    rows = [
        ("store", info.path),
        ("edits", f"{info.live:,} live, {info.superseded:,} superseded"),
        ("embedder", f"{info.embedder} ({info.dimension} dimensions)"),
        ("index", info.index_kind),
        (
            "router",
            f"{router.get('kind')}, threshold {router.get('threshold')}, top_k {router.get('top_k')}",
        ),
        ("on disk", f"{info.bytes_on_disk / 1e6:.2f} MB"),
    ]
    for name, value in rows:
        click.echo(f"{name + ':':<10}{value}")


@cli.command()
@click.argument("repo_id")
@click.option("--private", is_flag=True, help="Create the dataset repo as private.")
@click.option("--no-vectors", is_flag=True, help="Leave vectors out (the puller re-embeds).")
@click.option("-m", "--message", help="Commit message.")
@click.option(
    "--token", envvar="HF_TOKEN", help="Hugging Face token (default: $HF_TOKEN or the saved login)."
)
@store_option
def push(
    repo_id: str,
    private: bool,
    no_vectors: bool,
    message: str | None,
    token: str | None,
    store_path: Path | None,
) -> None:
    """Publish the store to the Hugging Face Hub as a dataset repo.

    \b
    Example:
        memedit push my-org/company-facts --private
    """
    from memedit.hub import HfHubClient
    from memedit.hub import push as push_store

    with _open(store_path, create=False) as store:
        url = push_store(
            store,
            repo_id,
            private=private,
            vectors=not no_vectors,
            message=message,
            client=HfHubClient(token),
        )
    click.echo(f"Pushed to {url}")


@cli.command()
@click.argument("repo_id")
@click.option("--revision", help="A branch, tag or commit of the dataset repo.")
@click.option("--dry-run", is_flag=True, help="Check and show what would change; write nothing.")
@on_conflict_option
@click.option("--token", envvar="HF_TOKEN", help="Hugging Face token for private repos.")
@store_option
@json_option
def pull(
    repo_id: str,
    revision: str | None,
    dry_run: bool,
    on_conflict: str,
    token: str | None,
    store_path: Path | None,
    as_json: bool,
) -> None:
    """Import edits published with `memedit push` (all of `import`'s checks apply).

    \b
    Example:
        memedit pull my-org/company-facts --dry-run
    """
    from memedit.hub import HfHubClient
    from memedit.hub import pull as pull_store

    report = pull_store(
        store_path,
        repo_id,
        revision=revision,
        on_conflict=cast(OnConflict, on_conflict),
        dry_run=dry_run,
        client=HfHubClient(token),
    )
    _report_import(report, as_json)


@cli.command()
@click.argument("question")
@model_option
@mode_options
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option(
    "--show-route",
    is_flag=True,
    help="Also show the nearest edits, the scope decision and the edits put in the prompt.",
)
@click.option("--remember", is_flag=True, help="Save --model as this store's default model.")
@store_option
@json_option
def ask(
    question: str,
    model_name: str | None,
    mode: str | None,
    counterfactual_model: str | None,
    max_edits: int | None,
    edits_per_subject: int | str | None,
    max_new_tokens: int,
    show_route: bool,
    remember: bool,
    store_path: Path | None,
    as_json: bool,
) -> None:
    """Answer a question with a model that knows the store's edits.

    \b
    Examples:
        memedit ask "Where is the Eiffel Tower?" --model Qwen/Qwen2.5-0.5B-Instruct --show-route
        MEMEDIT_MODEL=./my-model memedit ask "Who plays the piano?"
        memedit ask "..." --mode counterfactual --counterfactual-model ./cf-model --model gpt2
    """
    from memedit.model import EditableModel

    with _open(store_path, create=False) as store:
        name = model_name or store.default_model
        if not name:
            raise click.ClickException(
                "No model to answer with: pass --model ID_OR_PATH, set MEMEDIT_MODEL, or save one with --remember."
            )
        editable = EditableModel.from_pretrained(
            name,
            store=store,
            **wrapper_settings(mode, counterfactual_model, max_edits, edits_per_subject),
        )
        answer = editable.answer(question, max_new_tokens=max_new_tokens)
        if remember:
            store.set_default_model(name)
    if as_json:
        _print_json({**answer.to_dict(), "route": answer.route.to_dict() if answer.route else None})
        return
    if show_route and answer.route is not None:
        _print_route(answer.route)
        if answer.edits:  # the wrapper's choice among the in-scope edits (memedit.selection)
            click.echo("in the prompt: " + ", ".join(e.id for e in answer.edits))
        click.echo(f"answered by: {answer.mode}")
    click.echo(answer.text)


@cli.command(name="train-counterfactual")
@click.option(
    "--model",
    "base_model",
    required=True,
    help="Model to fine-tune: a hub id or a local folder (causal or seq2seq).",
)
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Editing data (any `add --file` format); repeatable.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for the trained model.",
)
@click.option("--epochs", type=click.IntRange(1, 1000), default=3, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=16, show_default=True)
@click.option(
    "--learning-rate", type=click.FloatRange(0, 1, min_open=True), default=5e-5, show_default=True
)
@click.option(
    "--holdout",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.1,
    show_default=True,
    help="Share of edits held out for the report.",
)
@click.option("--max-edits", type=click.IntRange(min=1), help="Use at most this many edits.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Write into a non-empty --output.")
@json_option
def train_counterfactual(
    base_model: str,
    data: tuple[Path, ...],
    fmt: str,
    output: Path,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    holdout: float,
    max_edits: int | None,
    seed: int,
    force: bool,
    as_json: bool,
) -> None:
    """Fine-tune a counterfactual model (SERAC) that answers from an edit and a query.

    Triples come from each edit's prompt and paraphrases, with the edit in the
    prompt and its target as the answer. Edits are split before training; the
    report gives exact match on held-out edits before and after.

    \b
    Example:
        memedit train-counterfactual --model google/flan-t5-small \\
            --data ../shared/data/counterfact/train.json --data ../shared/data/zsre/zsre_mend_train-1k.json \\
            --output ./cf-model --epochs 2
    """
    from tqdm import tqdm

    from memedit.counterfactual import train_counterfactual as run_training

    bar: Any = None

    def on_step(step: int, total: int, loss: float) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="training", unit="step", disable=as_json, leave=False)
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        bar.update(1)

    try:
        report = run_training(
            base_model,
            [(path, fmt) for path in data],
            output,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            holdout=holdout,
            max_edits=max_edits,
            seed=seed,
            overwrite=force,
            on_step=on_step,
        )
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        _print_json(report.to_dict())
        return

    def shown(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    click.echo(
        f"Trained on {report.train_edits:,} edits ({report.train_examples:,} examples) in {report.seconds:.0f}s; loss {report.first_loss:.3f} -> {report.last_loss:.3f}"
    )
    click.echo(
        f"Held-out edits: {report.heldout_edits:,}; exact match {shown(report.heldout_exact_match_before)} before, "
        f"{shown(report.heldout_exact_match_after)} after"
    )
    click.echo(
        f"Saved to {report.output}; use it with: memedit ask ... --mode counterfactual --counterfactual-model {report.output}"
    )


from memedit.cli.serve import serve  # noqa: E402 (last: serve imports this module)

cli.add_command(serve)

from memedit.cli.evaluate import (  # noqa: E402 (last: it imports this module)
    calibrate,
    eval_group,
    router,
)

cli.add_command(eval_group)
cli.add_command(calibrate)
cli.add_command(router)
