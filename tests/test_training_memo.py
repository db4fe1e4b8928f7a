"""The memo that lets router training embed only texts it has not seen (memedit.training_memo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memedit.training_memo import TrainingMemo, composite_key


def test_values_are_kept_by_text_across_runs_and_computed_once(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def compute(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return np.array([[len(t), t.count("a")] for t in texts], np.float32)

    memo = TrainingMemo(tmp_path, "embedder-a")
    first = memo.computed("encode", ["a", "bb", "a"], compute)
    assert calls == [["a", "bb"]]  # distinct texts, once
    assert first.tolist() == [[1, 1], [2, 0], [1, 1]]

    again = TrainingMemo(tmp_path, "embedder-a")  # another run: read from disk
    both = again.computed("encode", ["bb", "cat"], compute)
    assert calls[-1] == ["cat"] and both.tolist() == [[2, 0], [3, 1]]
    assert again.missing("encode", ["a", "dog"]) == [1]
    assert ("encode", "cat") in again and ("layers1", "cat") not in again

    other = TrainingMemo(tmp_path, "embedder-b")  # another embedder's values are not reused
    assert other.missing("encode", ["a"]) == [0]
    assert other.computed("encode", [], compute).shape == (0,)


def test_a_shard_left_half_written_is_never_read(tmp_path: Path) -> None:
    memo = TrainingMemo(tmp_path, "e")
    memo.remember("t", ["x"], np.ones((1, 2)))
    (folder,) = tmp_path.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["00000.npz"]
    (folder / "00001.partial.npz").write_bytes(b"not an npz")
    assert TrainingMemo(tmp_path, "e").values("t", ["x"]).tolist() == [[1.0, 1.0]]


def test_keys_and_their_parts() -> None:
    assert composite_key("q", None) != composite_key("q", "")
    assert composite_key("q", "e", "s") != composite_key("q", "e s")
    memo = TrainingMemo(Path("/nonexistent/memo"), "e")
    with pytest.raises(ValueError, match="NUL"):
        memo.remember("t", ["a\0b"], np.zeros((1, 1)))
    with pytest.raises(ValueError, match="2 keys for 1 values"):
        memo.remember("t", ["a", "b"], np.zeros((1, 1)))


def test_a_cache_folder_has_one_memo_so_its_tables_are_read_once(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from memedit.router_training import memo_beside

    embedder = SimpleNamespace(id="e")
    folder = memo_beside(tmp_path, embedder)  # type: ignore[arg-type]
    assert folder is memo_beside(tmp_path / "benchmarks.layers1.npz", embedder)  # type: ignore[arg-type]
    assert folder is not memo_beside(tmp_path, SimpleNamespace(id="other"))  # type: ignore[arg-type]
    assert memo_beside(None, embedder) is None  # type: ignore[arg-type]


def test_an_unreadable_shard_is_one_error_that_says_what_to_delete(tmp_path: Path) -> None:
    from memedit.errors import MemeditError

    TrainingMemo(tmp_path, "e").remember("t", ["x"], np.ones((1, 2)))
    (folder,) = tmp_path.iterdir()
    shard = folder / "00000.npz"
    shard.write_bytes(b"truncated")
    with pytest.raises(MemeditError, match=r"00000\.npz is not a readable memo shard.*delete it"):
        TrainingMemo(tmp_path, "e").missing("t", ["x"])
    assert shard.read_bytes() == b"truncated"  # left for the user to delete
