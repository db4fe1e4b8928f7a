"""The `memedit` command line: a thin click layer over :mod:`memedit`."""

from memedit.cli.app import cli

__all__ = ["cli"]
