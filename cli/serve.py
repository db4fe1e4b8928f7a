"""`memedit serve`: the OpenAI-compatible server (memedit.server) under uvicorn.

FastAPI and uvicorn are the optional ``serve`` extra, imported only when the
command runs, so the rest of the CLI works without them.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import click
from click.core import ParameterSource

from memedit.cli.app import mode_options, model_option, store_option, wrapper_settings
from memedit.errors import MemeditError
from memedit.store import EditStore

SERVE_MODULES = {"fastapi", "uvicorn", "starlette"}


def _admin_key(ctx: click.Context, key: str | None, key_file: Path | None) -> str | None:
    """The key from --admin-key-file, --admin-key or $MEMEDIT_ADMIN_KEY (a file wins over the variable)."""
    from_command_line = ctx.get_parameter_source("admin_key") == ParameterSource.COMMANDLINE
    if key_file is not None and key is not None and from_command_line:
        raise click.UsageError("Give --admin-key or --admin-key-file, not both.")
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise click.ClickException(
                f"Cannot read the admin key file {key_file}: {reason}."
            ) from None
        if not key:
            raise click.ClickException(f"The admin key file {key_file} is empty.")
        return key
    if key is not None and not key.strip():
        raise click.UsageError("The admin key is empty.")
    return key.strip() if key is not None else None


def default_threads() -> int:
    """$OMP_NUM_THREADS, else all cores but one: torch's OpenMP workers spin while they wait,
    and on a busy machine they starve the event loop unless a core is left to it."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return max(1, (os.cpu_count() or 2) - 1)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command()
@model_option
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--admin-key",
    envvar="MEMEDIT_ADMIN_KEY",
    help="Enable /v1/edits for clients sending 'Authorization: Bearer KEY' (default: $MEMEDIT_ADMIN_KEY). "
    "Prefer --admin-key-file or the variable: command lines are visible to other users.",
)
@click.option(
    "--admin-key-file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Read the admin key from this file.",
)
@mode_options
@click.option(
    "--max-queue",
    type=click.IntRange(0, 10_000),
    default=16,
    show_default=True,
    help="Requests that may wait for the model; beyond that, 503 with Retry-After.",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(1, 1_000_000),
    default=1024,
    show_default=True,
    help="The most tokens one request may ask for.",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 4096),
    help="CPU threads for torch (default: $OMP_NUM_THREADS, else all cores but one, which keeps "
    "the server responsive under load).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    model_name: str | None,
    store_path: Path | None,
    host: str,
    port: int,
    admin_key: str | None,
    admin_key_file: Path | None,
    mode: str | None,
    counterfactual_model: str | None,
    max_edits: int | None,
    edits_per_subject: int | str | None,
    max_queue: int,
    max_tokens: int,
    threads: int | None,
) -> None:
    """Serve a model with the store's edits through an OpenAI-compatible API.

    Endpoints: /v1/chat/completions, /v1/completions (both with stream),
    /v1/models, /health; with an admin key also /v1/edits (list, add,
    remove, export) to change edits while the server runs. Needs
    `pip install 'memedit[serve]'`.

    \b
    Examples:
        memedit serve --model Qwen/Qwen2.5-0.5B-Instruct --store team-store
        MEMEDIT_ADMIN_KEY=$(cat key) memedit serve --model ./my-model --port 8080
    """
    key = _admin_key(ctx, admin_key, admin_key_file)
    try:
        import uvicorn

        from memedit.server import create_app
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in SERVE_MODULES:
            raise
        raise click.ClickException(
            f"memedit serve needs FastAPI and uvicorn ({exc.name} is missing): install memedit[serve]."
        ) from None
    import torch

    from memedit.model import EditableModel

    torch.set_num_threads(threads or default_threads())
    store = EditStore(store_path)
    name = model_name or store.default_model
    if not name:
        store.close()
        raise click.ClickException(
            "No model to serve: pass --model ID_OR_PATH, set MEMEDIT_MODEL, or save one with `memedit ask --remember`."
        )
    try:
        click.echo(f"Loading {name} ...", err=True)
        editable = EditableModel.from_pretrained(
            name,
            store=store,
            **wrapper_settings(mode, counterfactual_model, max_edits, edits_per_subject),
        )
        app = create_app(editable, admin_key=key, max_queue=max_queue, max_tokens=max_tokens)
        admin = "on (Bearer key)" if key else "off (no admin key)"
        click.echo(
            f"Store {store.path}: {len(store):,} live edits; mode {editable.mode}; "
            f"{torch.get_num_threads()} torch threads; /v1/edits {admin}",
            err=True,
        )
        if not _is_loopback(host):
            click.echo(
                f"Warning: listening on {host}: anyone who can reach it can query the model"
                + (
                    "; put TLS in front so that the admin key is not sent in clear." if key else "."
                ),
                err=True,
            )
        uvicorn.run(app, host=host, port=port, log_level="info")
    except MemeditError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
