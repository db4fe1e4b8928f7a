"""The routing validation script: another head measured by --head, heads compared at equal locality."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest
from conftest import load_benchmark, shared_data

from memedit.router import shipped_head


@pytest.fixture(scope="module")
def validation(request: pytest.FixtureRequest) -> ModuleType:
    return load_benchmark("routing_validation", request)


def test_best_generality_at_a_locality_level(validation: ModuleType) -> None:
    curve = [
        {"threshold": 0.2, "kinds": {"generality": 0.9, "relation_specificity": 0.80}},
        {"threshold": 0.4, "kinds": {"generality": 0.8, "relation_specificity": 0.90}},
        {"threshold": 0.6, "kinds": {"generality": 0.7, "relation_specificity": 0.96}},
        {"threshold": 0.8, "kinds": {"generality": 0.5, "relation_specificity": 0.99}},
    ]
    assert validation.best_at(curve, "relation_specificity", 0.90) == 0.8
    assert validation.best_at(curve, "relation_specificity", 0.95) == 0.7
    assert validation.best_at(curve, "relation_specificity", 0.995) is None
    assert validation.best_at(curve, "neighborhood", 0.5) is None  # not in this row


def test_head_flag_measures_another_head(
    validation: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = shared_data("counterfact/rome-format-dev.json").parents[1]
    shipped = shipped_head()
    assert shipped is not None
    replace(shipped, threshold=0.93).save(tmp_path / "head")
    with pytest.raises(SystemExit) as refused:
        validation.main(["--head", str(tmp_path), "--data", str(data)])
    assert refused.value.code == 2
    assert "no router_head.safetensors" in capsys.readouterr().err
    try:
        code = validation.main(
            [
                *("--head", str(tmp_path / "head"), "--data", str(data)),
                *("--sets", "ROME", "--routers", "learnt", "--out", str(tmp_path / "r.json")),
                *("--edits-per-subject", "all"),
            ]
        )
    finally:
        os.environ.pop("MEMEDIT_ROUTER_HEAD", None)  # main() set it
        shipped_head.cache_clear()
    assert code == 0
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["head"]["threshold"] == 0.93 and results["args"]["head"].endswith("head")
    (row,) = results["rows"]
    assert row["set"] == "ROME CounterFact dev" and row["router"]["threshold"] == 0.93
    assert row["edits_per_subject"] is None  # --edits-per-subject all
    # with no cap the prompt holds every in-scope edit (up to three; never more here), so
    # "any wrong" and "prompt wrong" agree
    assert row["selected_wrong_edit_rate"] == row["any_wrong_edit_rate"]
    printed = capsys.readouterr().out
    assert "gen@neighbour>=.95" in printed
    generality = validation.best_at(row["curve"], "neighborhood", 0.95)
    assert generality is not None and generality >= row["generality"]  # 0.93 keeps 0.95


def test_edits_per_subject_takes_a_number_or_all(validation: ModuleType) -> None:
    assert validation.per_subject("all") is None and validation.per_subject("2") == 2
    for bad in ("0", "-1", "two"):
        with pytest.raises(argparse.ArgumentTypeError, match="whole number from 1"):
            validation.per_subject(bad)


def test_missing_benchmark_files_give_one_line_before_any_run(
    validation: ModuleType, tmp_path: Path
) -> None:
    """A --data folder without the pitfalls files (or any file a row needs) stops the script
    with one line naming the file, before any row is measured or any result written."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("counterfact", "knowedit"):
        (data / name).symlink_to(shared_data(name))
    (data / "pitfalls").mkdir()  # empty: no triples
    out = tmp_path / "r.json"
    with pytest.raises(SystemExit) as refused:
        validation.main(["--data", str(data), "--sets", "crowded", "--out", str(out)])
    message = str(refused.value.code)
    assert message.startswith("Error: ") and "\n" not in message
    assert "round_prompts.json is missing" in message
    assert not out.exists()


def test_a_head_trained_on_some_triples_relations_gets_a_row_of_the_others(
    validation: ModuleType,
) -> None:
    """A head trained with --triples names the relations it saw; the triples' edits on the
    other relations (held-aside subjects, as the whole row) are a row of their own."""
    data = shared_data("counterfact/rome-format-dev.json").parents[1]
    plain = {name: cases for name, cases, _, _ in validation.runs(data, False)}
    assert validation.UNTRAINED_RELATIONS not in plain
    every = plain["Wikidata triples, held-aside subjects"]
    relations = sorted({c.draft.relation for c in every})
    trained = relations[: len(relations) // 2]
    split = {name: cases for name, cases, _, _ in validation.runs(data, False, trained)}
    others = split[validation.UNTRAINED_RELATIONS]
    assert others and {c.draft.relation for c in others} == set(relations) - set(trained)
    assert others == [c for c in every if c.draft.relation not in trained]
