"""`python -m memedit` runs the same CLI as the `memedit` console script."""

from memedit.cli import cli

if __name__ == "__main__":
    cli(prog_name="memedit")
