"""The parse-coverage benchmark: how the free-text parser splits a benchmark's facts."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
from conftest import load_benchmark


@pytest.fixture(scope="module")
def coverage(request: pytest.FixtureRequest) -> ModuleType:
    return load_benchmark("parse_coverage", request)


def record(subject: str, prompt: str, target: str) -> dict[str, str]:
    return {"subject": subject, "prompt": prompt, "target_new": target, "ground_truth": "x"}


def test_each_outcome_is_counted_and_written(coverage: ModuleType, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "cf").mkdir(parents=True)
    (data / "cf" / "facts.json").write_text(
        json.dumps(
            [
                record("The Eiffel Tower", "The Eiffel Tower is located in", "Rome"),  # exact
                record("Jari Kurri", "Jari Kurri is a professional", "soccer"),  # other split
                record("Daniel Royer", "Which position does Daniel Royer play?", "linebacker"),
                record("Paris", "Visitors to Paris often buy", "Chanel"),  # not split
                record("canton of Orcieres", "canton of Orcieres is located in", "France"),
            ]
        )
    )
    out = tmp_path / "r.json"
    assert coverage.main(["--data", str(data), "--files", "cf/facts.json", "--out", str(out)]) == 0
    result = json.loads(out.read_text())["files"]["cf/facts.json"]
    assert result["records"] == 5
    # a question and its answer split exactly; "Orcieres" is taken for the subject
    assert result["shares"] == {
        "exact": 0.4,
        "other split": 0.2,
        "wrong subject": 0.2,
        "not split": 0.2,
    }
    assert {(m["outcome"], m["template"]) for m in result["misses"]} == {
        ("other split", "{} is a professional"),
        ("not split", "Visitors to {} often buy"),
        ("wrong subject", "{} is located in"),
    }


def test_a_missing_file_is_one_line_and_writes_nothing(
    coverage: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    with pytest.raises(SystemExit) as refused:
        coverage.main(["--data", str(tmp_path), "--files", "nope.json", "--out", str(out)])
    message = str(refused.value.code)
    assert message.startswith("Error: ") and "\n" not in message and "no such file" in message
    assert not out.exists()
