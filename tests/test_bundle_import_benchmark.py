"""The bundle import benchmark: each kind of bundle imports as its name says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import load_benchmark

from memedit.embedder import Embedder

RECORDS = [
    {
        "subject": subject,
        "prompt": f"{subject} is a citizen of",
        "target_new": country,
        "rephrase_prompt": f"Which country is {subject} a citizen of?",
    }
    for subject, country in (
        ("Danielle Darrieux", "Japan"),
        ("Toko Yasuda", "Norway"),
        ("Thomas Joannes Stieltjes", "Brazil"),
        ("Miles Millar", "Chile"),
    )
]


def test_bundle_import_benchmark_reuses_what_each_bundle_carries(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: Embedder
) -> None:
    benchmark = load_benchmark("bundle_import", request)
    data = tmp_path / "counterfact.json"
    data.write_text(json.dumps(RECORDS))
    out = tmp_path / "result.json"
    assert (
        benchmark.main(["--sizes", "3", "--repeats", "1", "--data", str(data), "--out", str(out)])
        == 0
    )
    (size,) = json.loads(out.read_text())["sizes"]
    assert size["edits"] == 3
    imports = size["imports"]
    assert list(imports) == list(benchmark.KINDS)
    assert [imports[kind]["reembedded"] for kind in benchmark.KINDS] == [0, 0, 3]
    assert all(result["routes_as_source"] for result in imports.values())
    full, version_1 = (imports[kind]["bytes"] for kind in benchmark.KINDS[:2])
    assert full > version_1  # the relation vectors are in the first
