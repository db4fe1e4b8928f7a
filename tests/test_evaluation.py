"""The evaluation harness (`memedit eval routing`, `memedit eval model`) and `memedit calibrate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import shared_data

from memedit import EditStore
from memedit.cli import cli
from memedit.edits import EditDraft, build_edit
from memedit.errors import InputFormatError
from memedit.evaluation import (
    StoredFacts,
    as_text,
    calibrate,
    evaluate_routing,
    named_subjects,
    read_labelled_queries,
)
from memedit.formats import read_cases
from memedit.toymodel import CITIES, LANDMARKS


def landmark_records() -> list[dict[str, Any]]:
    """CounterFact-shaped records over the toy model's world."""
    records = []
    for i, (landmark, city) in enumerate(LANDMARKS.items()):
        new_city = CITIES[(CITIES.index(city) + 3) % len(CITIES)]
        records.append(
            {
                "case_id": i,
                "subject": landmark,
                "prompt": f"Where is the {landmark}?",
                "rephrase_prompt": f"In which city is the {landmark}?",
                "target_new": new_city,
                "ground_truth": city,
                "locality_prompt": "Where is the Hofburg?"
                if landmark != "Hofburg"
                else "Where is the Atomium?",
            }
        )
    return records


def test_routing_report_has_every_kind_and_follows_supersession(tmp_path: Path) -> None:
    records = json.loads(shared_data("counterfact/val.json").read_text())[:60]
    later = dict(records[0], target_new="violin", rephrase_prompt=records[0]["rephrase_prompt"])
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([*records, later]))
    cases = read_cases(path)
    report = evaluate_routing(cases, 1000, router="threshold", latency_queries=20).to_dict()
    assert (
        report["n_edits"] == 61 and report["live_edits"] == 60
    )  # the later edit superseded the first
    assert set(report) >= {
        "n_edits",
        "reliability",
        "generality",
        "locality",
        "wrong_edit_rate",
        "any_wrong_edit_rate",
        "selected_own_edit_rate",
        "selected_wrong_edit_rate",
        "latency_ms",
        "curve",
    }
    assert (
        report["any_wrong_edit_rate"]
        >= report["selected_wrong_edit_rate"]
        >= report["wrong_edit_rate"]
    )
    assert set(report["locality"]) == {"neighborhood"}
    assert (
        report["reliability"] == 1.0
    )  # both the superseded case's prompt and the later one reach the live edit
    assert 0.5 < report["generality"] <= 1.0 and 0.5 < report["locality"]["neighborhood"] <= 1.0
    assert report["counts"]["reliability"] == 61 and report["counts"]["generality"] == 61
    assert (
        report["latency_ms"]["p50"] > 0
        and report["latency_ms"]["p99"] >= report["latency_ms"]["p50"]
    )
    assert report["router"]["kind"] == "threshold"
    recalls = [p["recall"] for p in report["curve"]]
    assert recalls == sorted(recalls, reverse=True)  # recall falls as the threshold rises
    kept = [p["kinds"]["neighborhood"] for p in report["curve"]]
    found = [p["kinds"]["generality"] for p in report["curve"]]
    assert kept == sorted(kept) and found == sorted(found, reverse=True)
    assert kept[0] < report["locality"]["neighborhood"] < kept[-1]
    assert found[-1] < report["generality"] < found[0]


def test_edits_evaluated_as_free_text_are_stored_as_sentences_and_asked_as_given() -> None:
    cases = read_cases(shared_data("counterfact/val.json"))[:40]
    sentence = as_text(cases[0].draft)
    assert sentence.text == f"{cases[0].draft.prompt} {cases[0].draft.target}"
    assert sentence.subject is sentence.prompt is sentence.target is None
    assert as_text(sentence) is sentence  # free text stays as it is
    derived = [build_edit(as_text(c.draft)) for c in cases]
    assert all(e.derived for e in derived)
    same = sum(e.subject == c.draft.subject for e, c in zip(derived, cases, strict=True))
    assert same >= 36, same  # the parser finds CounterFact's subjects in its sentences
    structured = evaluate_routing(cases, 40, router="threshold", questions=True, latency_queries=5)
    text = evaluate_routing(
        cases, 40, router="threshold", questions=True, latency_queries=5, text=True
    )
    assert text["edits_as_text"] is True and structured["edits_as_text"] is False
    # the queries are the structured cases' own, question forms included
    assert text["counts"] == structured["counts"] and text["counts"]["question"] > 0
    assert text["reliability"] >= 0.95 and text["live_edits"] == structured["live_edits"]


def test_eval_routing_cli(tmp_path: Path) -> None:
    data = shared_data("zsre/zsre_mend_train-1k.json")
    runner = CliRunner()

    def routing(path: Path, *args: str) -> Any:
        return runner.invoke(cli, ["eval", "routing", "--data", str(path), *args])

    result = routing(data, "--edits", "10,40", "--router", "threshold", "--json")
    assert result.exit_code == 0, result.output
    reports = json.loads(result.output)
    assert [r["n_edits"] for r in reports] == [10, 40]
    assert (
        set(reports[1]["locality"]) == {"unrelated"} and reports[1]["locality"]["unrelated"] > 0.9
    )
    table = routing(data, "--edits", "20", "--router", "threshold", "--curve")
    assert (
        table.exit_code == 0
        and "reliability" in table.output
        and "threshold  precision  recall  generality  reliability  unrelated" in table.output
    )
    counterfact = shared_data("counterfact/val.json")
    as_sentences = routing(
        counterfact, "--edits", "20", "--router", "threshold", "--as-text", "--json"
    )
    assert as_sentences.exit_code == 0, as_sentences.output
    report = json.loads(as_sentences.output)
    assert report["edits_as_text"] is True and report["n_edits"] == 20
    bad = routing(data, "--edits", "ten")
    assert bad.exit_code == 2 and "give sizes" in bad.output


def test_calibrate_fits_and_saves_the_threshold(store: EditStore, tmp_path: Path) -> None:
    store.configure_router(kind="threshold", threshold=0.95)
    eiffel = store.add("The Eiffel Tower is located in Rome.")
    toko = store.add("Toko Yasuda plays the piano.")
    lines = [
        {"query": "Where is the Eiffel Tower?", "edit": eiffel.id},
        {
            "query": "In which city is the Eiffel Tower?",
            "edit": "The Eiffel Tower is located in Rome.",
        },
        {"query": "What instrument does Toko Yasuda play?", "edit": toko.id[:10]},
        {"query": "Who wrote Hamlet?", "edit": None},
        {"query": "Where is the Colosseum?", "edit": None},
    ]
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    report = calibrate(store, read_labelled_queries(path, store))
    assert report.threshold_before == 0.95 and report.threshold < 0.95
    assert report.balanced_accuracy == 1.0 > report.balanced_accuracy_before
    assert store.router.threshold == report.threshold
    assert store.route("What instrument does Toko Yasuda play?").in_scope

    result = CliRunner().invoke(
        cli, ["calibrate", "--data", str(path), "--dry-run", "--json", "--store", str(store.path)]
    )
    assert result.exit_code == 0 and json.loads(result.output)["saved"] is False

    path.write_text(json.dumps({"query": "Where is the Eiffel Tower?", "edit": eiffel.id}) + "\n")
    with pytest.raises(InputFormatError, match="both in-scope and out-of-scope"):
        read_labelled_queries(path, store)
    path.write_text(json.dumps({"query": "x", "edit": "no such edit text"}) + "\n")
    with pytest.raises(InputFormatError, match="no live edit matches"):
        read_labelled_queries(path, store)

    # bad input through the CLI: one line, exit 1, and the saved threshold stays as it was
    saved = store.router.to_config()
    for content in ("not json\n", json.dumps({"query": "x", "edit": "no such edit text"}) + "\n"):
        path.write_text(content)
        bad = CliRunner().invoke(
            cli, ["calibrate", "--data", str(path), "--store", str(store.path)]
        )
        assert bad.exit_code == 1 and bad.output.startswith("Error: ")
        assert len(bad.output.strip().splitlines()) == 1
        with EditStore(store.path) as reopened:
            assert reopened.router.to_config() == saved
    broken = CliRunner().invoke(cli, ["eval", "routing", "--data", str(path), "--questions"])
    assert broken.exit_code == 1 and len(broken.output.strip().splitlines()) == 1


def test_eval_model_base_vs_wrapped(tmp_path: Path, toy: Any) -> None:
    base_dir = tmp_path / "toy-base"
    toy.model.save_pretrained(base_dir)
    toy.tokenizer.save_pretrained(base_dir)
    data = tmp_path / "landmarks.json"
    data.write_text(json.dumps(landmark_records()[:6]))
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "model",
            "--model",
            str(base_dir),
            "--data",
            str(data),
            "--style",
            "question",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    kinds = json.loads(result.output)["kinds"]
    assert kinds["reliability"]["queries"] == 6 and kinds["reliability"]["routed"] == 1.0
    assert (
        kinds["reliability"]["base_exact_match"] == 0.0
    )  # the base model still says the true city
    assert (
        kinds["reliability"]["wrapped_exact_match"] == 1.0
        and kinds["generality"]["wrapped_exact_match"] == 1.0
    )
    assert (
        kinds["reliability"]["wrapped_token_accuracy"] > kinds["reliability"]["base_token_accuracy"]
    )
    assert (
        kinds["reliability"]["wrapped_target_probability"]
        > 0.5
        > kinds["reliability"]["base_target_probability"]
    )
    assert kinds["neighborhood"]["routed"] == 0.0 and kinds["neighborhood"]["unchanged"] == 1.0


def test_calibrate_keeps_the_current_threshold_or_takes_the_middle_of_the_best_stretch() -> None:
    from memedit.evaluation import _middle_of_best

    cuts = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    best = np.array([False, True, True, True, False, True, False])
    assert _middle_of_best(cuts, best, 0.3) == 0.3  # among the best: kept
    assert _middle_of_best(cuts, best, 0.1) == pytest.approx(0.3)  # middle of 0.2..0.4
    assert _middle_of_best(cuts, best, 0.65) == 0.6  # a stretch of one
    assert _middle_of_best(cuts, best, 0.45) == pytest.approx(0.3)  # nearer stretch: 0.4 vs 0.6


def test_the_learnt_routers_curve_is_what_routing_at_each_threshold_decides() -> None:
    """The learnt router's second look stops at the first candidate in scope, so its curve
    is swept (EditStore.route_sweep), not read off the scores of one threshold."""
    cases = read_cases(shared_data("counterfact/val.json"))[:40]
    report = evaluate_routing(cases, 40, latency_queries=0).to_dict()
    assert report["router"]["kind"] == "learnt"
    curve = report["curve"]
    assert len(curve) > 10
    point = curve[len(curve) // 2]
    at_cut = evaluate_routing(cases, 40, threshold=point["threshold"], latency_queries=0)
    rates = at_cut.to_dict()
    counts = rates["counts"]
    expected = (
        rates["reliability"] * counts["reliability"] + rates["generality"] * counts["generality"]
    ) / (counts["reliability"] + counts["generality"])
    assert point["recall"] == pytest.approx(expected, abs=0.02)
    assert point["kinds"]["generality"] == pytest.approx(rates["generality"], abs=0.02)
    assert point["kinds"]["neighborhood"] == pytest.approx(
        rates["locality"]["neighborhood"], abs=0.02
    )


def test_stored_facts_know_which_prompts_ask_a_stored_edits_question() -> None:
    edits = [
        build_edit(EditDraft(subject=s, prompt=p, target=t))
        for s, p, t in [
            ("Riga", "Riga is a twin city of", "Warsaw"),
            ("Pune", "Pune is located in", "Antarctica"),
            ("Greenwich", "Greenwich is a twin city of", "Paris"),
            ("Aragon", "The official language of Aragon is", "Russian"),
            ("Law & Order", "Law & Order debuted on", "HBO"),
            ("Warsaw", "The twin city of Warsaw is", "Birmingham"),
        ]
    ]
    stored = StoredFacts(edits)
    asked = [
        "Pune is located in",  # a stored prompt
        "The twin city of Riga is",  # the same subject and relation, other words
        "Riga's twin city is",
        "Question: What is the twin city of Riga?\nAnswer:",
        "What is the twin city of Warsaw? It is",
    ]
    not_asked = [
        "The official language of Riga is",  # another relation of a stored subject
        "The twin city of Tallinn is",  # another subject
        "Army Institute of Technology, Pune is located in",  # inside longer names
        "The twin city of Greenwich Township is",
        "In Crown of Aragon, an official language is",
        "Law & Order: LA debuted on",
    ]
    assert [p for p in asked if not stored.asked(p)] == []
    assert [p for p in not_asked if stored.asked(p)] == []
    subjects = {"Riga": 1, "Warsaw": 2}
    assert list(named_subjects("Is Riga's twin, like Warsaw, in Europe?", subjects)) == [
        "Riga",
        "Warsaw",
    ]
    assert list(named_subjects("The twin city of Riga is", {"Warsaw": 1})) == []


RIGA_TWIN = ("Riga", "Riga is a twin city of", "Riga is twinned with", "Warsaw", "Tallinn")


def counterfact_file(tmp_path: Path, *records: tuple[str, str, str, str, str, str]) -> Path:
    """A CounterFact file of (subject, prompt, rephrase, new target, true target, locality
    prompt) records."""
    keys = ("subject", "prompt", "rephrase_prompt", "target_new", "ground_truth", "locality_prompt")
    path = tmp_path / "cf.json"
    rows = [{"case_id": n, **dict(zip(keys, r, strict=True))} for n, r in enumerate(records)]
    path.write_text(json.dumps(rows))
    return path


def test_locality_prompts_that_ask_another_stored_edits_question_are_left_out(
    tmp_path: Path,
) -> None:
    path = counterfact_file(
        tmp_path,
        (*RIGA_TWIN, "The official language of Latvia is"),
        (
            "Oslo",
            "The twin city of Oslo is",
            "Oslo is twinned with",
            "Barcelona",
            "Stockholm",
            "The twin city of Riga is",
        ),  # asks case 0's question
    )
    report = evaluate_routing(read_cases(path), 10, router="threshold", latency_queries=2)
    assert report["locality_left_out"] == {"neighborhood": 1}
    assert report["counts"]["neighborhood"] == 1 and report["locality"]["neighborhood"] == 1.0
    table = CliRunner().invoke(
        cli, ["eval", "routing", "--data", str(path), "--edits", "10", "--router", "threshold"]
    )
    assert table.exit_code == 0, table.output
    assert (
        "left out: 1 neighborhood prompts that ask another stored edit's question" in table.output
    )


def test_any_wrong_edit_counts_other_edits_in_scope_beside_the_right_one() -> None:
    """The wrapper answers with every in-scope edit, so an edit on another relation of the
    subject that is in scope beside the right one is an error the best-edit rate misses."""
    from memedit.evaluation import RoutingQuery, _rates
    from memedit.router import RoutedEdit, RouteResult

    own = build_edit(EditDraft(text="The father of Ada Lovelace is Lord Byron."))
    other = build_edit(EditDraft(text="The mother of Ada Lovelace is Anne Isabella Milbanke."))

    def routed(query: str, *scored: tuple[Any, float]) -> RouteResult:
        edits = tuple(RoutedEdit(e, score, score >= 0.5) for e, score in scored)
        return RouteResult(query, any(e.in_scope for e in edits), edits, 0.5)

    results = [
        routed("Who was Ada Lovelace's father?", (own, 0.9), (other, 0.8)),  # right, and other
        routed("Ada Lovelace's dad is", (other, 0.9), (own, 0.7)),  # wrong first
        routed("Who fathered Ada Lovelace?", (own, 0.9), (other, 0.3)),  # right alone
        routed("Who was Ada Lovelace's husband?", (other, 0.9)),  # locality: not counted here
    ]
    queries = [
        RoutingQuery(
            r.query, None if n == 3 else 0, "relation_specificity" if n == 3 else "generality"
        )
        for n, r in enumerate(results)
    ]
    rates = _rates(results, queries, [own.id], 0.5)
    assert rates["generality"] == pytest.approx(2 / 3)
    assert rates["wrong_edit_rate"] == pytest.approx(1 / 3)
    assert rates["any_wrong_edit_rate"] == pytest.approx(2 / 3)
    assert rates["locality"] == {"relation_specificity": 0.0}
    higher = _rates(results, queries, [own.id], 0.85)  # at a higher cut only the first's stay
    assert higher["wrong_edit_rate"] == pytest.approx(1 / 3)
    assert higher["any_wrong_edit_rate"] == pytest.approx(1 / 3)
    # the wrapper's prompt takes one edit per subject, the best: the first query's prompt
    # has the right edit alone, the second's the wrong one alone
    assert rates["selected_own_edit_rate"] == pytest.approx(2 / 3)
    assert rates["selected_wrong_edit_rate"] == pytest.approx(1 / 3)
    every = _rates(results, queries, [own.id], 0.5, edits_per_subject=None)
    assert every["selected_own_edit_rate"] == pytest.approx(1.0)  # own in scope in all three
    assert every["selected_wrong_edit_rate"] == pytest.approx(2 / 3)


def test_eval_routing_reports_the_prompt_under_an_edits_per_subject_setting(
    tmp_path: Path,
) -> None:
    path = counterfact_file(  # two edits on one subject
        tmp_path,
        (*RIGA_TWIN, "The twin city of Oslo is"),
        (
            "Riga",
            "The official language of Riga is",
            "In Riga, people speak",
            "Swedish",
            "Latvian",
            "The official language of Oslo is",
        ),
    )
    runner = CliRunner()
    low = ["eval", "routing", "--data", str(path), "--edits", "10", "--router", "threshold"]
    low += ["--threshold", "0.01", "--json"]  # both edits in scope of every query

    def report(*options: str) -> dict[str, Any]:
        result = runner.invoke(cli, [*low, *options])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    one, every = report(), report("--edits-per-subject", "all")
    assert one["edits_per_subject"] == 1 and every["edits_per_subject"] is None
    assert one["any_wrong_edit_rate"] == every["any_wrong_edit_rate"] == 1.0
    assert every["selected_wrong_edit_rate"] == 1.0 and every["selected_own_edit_rate"] == 1.0
    # one per subject: the prompt holds the best edit alone, right or wrong
    assert one["selected_wrong_edit_rate"] == one["wrong_edit_rate"]
    assert one["selected_own_edit_rate"] == 1.0 - one["wrong_edit_rate"]
    bad = runner.invoke(cli, [*low, "--edits-per-subject", "none"])
    assert bad.exit_code == 2 and "not a whole number from 1 to 32, or 'all'" in bad.output
