"""The README stays true: its CLI reference is the real `--help`, its quickstart is what CI runs.

Regenerate the CLI reference after changing a command with:

    python tests/test_readme.py
"""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from memedit.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START, END = "<!-- cli-reference:start -->", "<!-- cli-reference:end -->"


def render_cli_reference() -> str:
    runner = CliRunner()
    parts = []
    commands: list[list[str]] = [[]]
    for name in sorted(cli.commands):
        commands.append([name])
        command = cli.commands[name]
        if isinstance(command, click.Group):  # and each of its subcommands
            commands += [[name, sub] for sub in sorted(command.commands)]
    for args in commands:
        output = runner.invoke(
            cli, [*args, "--help"], terminal_width=100, prog_name="memedit"
        ).output
        title = "memedit " + " ".join(args) if args else "memedit"
        parts.append(f"### `{title.strip()}`\n\n```\n{output.rstrip()}\n```\n")
    return "\n".join(parts)


def _block(text: str) -> str:
    match = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    assert match, f"README.md lacks the {START} ... {END} block"
    return match.group(1)


def test_cli_reference_is_current() -> None:
    assert _block(README.read_text()) == render_cli_reference(), "run: python tests/test_readme.py"


def test_quickstart_is_what_ci_runs() -> None:
    readme = README.read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ('pip install torch==2.13.0 -e ".[dev]" && pytest', "python examples/demo.py"):
        assert command in ci and command in readme


if __name__ == "__main__":
    text = README.read_text()
    _block(text)  # fails loudly when the markers are missing
    head, rest = text.split(START + "\n", 1)
    tail = rest.split(END, 1)[1]
    updated = f"{head}{START}\n{render_cli_reference()}{END}{tail}"
    README.write_text(updated)
    print("README.md CLI reference updated" if updated != text else "README.md already current")
