"""The store benchmark's synthetic edits: distinct facts however many are asked for."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from conftest import load_benchmark

from memedit import EditStore
from memedit.edits import EditDraft


@pytest.fixture(scope="module")
def benchmark(request: pytest.FixtureRequest) -> ModuleType:
    return load_benchmark("store_benchmark", request)


def test_synthetic_edits_stay_distinct_facts_beyond_the_subject_relation_pairs(
    benchmark: ModuleType, tmp_path: Path
) -> None:
    """Three subjects on one relation that memedit knows make only three distinct facts; the
    benchmark used to draw until it gave up (a million edits from CounterFact's ~10,000
    subjects hung for hours). Numbered copies of the subjects make the rest, and a store
    keeps all of them live."""
    records = [
        {
            "subject": subject,
            "prompt": f"The mother tongue of {subject} is",
            "target_new": language,
            "rephrase_prompt": f"{subject}'s first language is",
        }
        for subject, language in (
            ("Danielle Darrieux", "English"),
            ("Thomas Joannes Stieltjes", "French"),
            ("Toko Yasuda", "Dutch"),
        )
    ]
    pool = benchmark.make_pool(records, 30, 3, seed=0)
    assert len(pool.edits) == 30 and pool.n_real == 3
    assert len({e.conflict_key for e in pool.edits}) == 30
    assert len({e.content_hash for e in pool.edits}) == 30
    assert any(e.subject.endswith(" 2") for e in pool.edits[3:])
    for edit, (template, subject) in zip(pool.edits[3:], pool.sources, strict=True):
        assert edit.subject.startswith(pool.edits[subject].subject)
        assert edit.target == pool.edits[template].target
    with EditStore(tmp_path / "store") as store:
        store.add_many(
            [EditDraft(subject=e.subject, prompt=e.prompt, target=e.target) for e in pool.edits]
        )
        assert len(store) == 30
