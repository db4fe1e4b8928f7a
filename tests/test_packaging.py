"""One import package: cli/ and stores/ ship as memedit.cli and memedit.stores."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_maps_cli_and_stores_into_memedit(tmp_path: Path) -> None:
    source = tmp_path / "src"  # build from a copy: setuptools writes build/ next to the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("memedit", "cli", "stores"):
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("memedit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "memedit/__init__.py",
        "memedit/py.typed",
        "memedit/cli/app.py",
        "memedit/stores/sqlite.py",
        "memedit/data/router_head.json",
        "memedit/data/router_head.safetensors",
    ):
        assert expected in names
    assert not any(n.startswith(("cli/", "stores/", "tests/")) for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "memedit = memedit.cli:cli" in zipfile.ZipFile(wheel).read(entry_points).decode()

    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import memedit.cli, memedit.stores; print(memedit.cli.__file__); print(memedit.stores.__file__)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    cli_file, stores_file = probe.stdout.split()
    assert Path(cli_file).is_relative_to(target) and Path(stores_file).is_relative_to(target)
