"""Router training helpers: disguised prompts, and the second-look band chosen by measurement."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from memedit.edits import EditDraft
from memedit.embedder import Embedder
from memedit.errors import MemeditError
from memedit.evaluation import RoutingQuery, routing_queries
from memedit.formats import EditCase
from memedit.question_forms import CLOZE_WRAPPERS
from memedit.router import SCALARS, CrossTier, Mlp, RouterHead
from memedit.router_training import (
    BAND,
    BAND_TOLERANCE,
    PREFIX_SHARE,
    WRAP_KINDS,
    WRAP_SHARE,
    LiveEdits,
    PairData,
    augmented,
    choose_band,
    choose_threshold,
    fit_mlp,
    pair_texts,
    pair_weights,
    read_pairs_through,
    second_look_share,
    short_name,
    shortened_queries,
    subset,
)

DIM = 4  # embedding width of the synthetic pair features


def test_augmented_disguises_a_share_of_benchmark_prompts_in_and_out_of_scope() -> None:
    kinds = [*WRAP_KINDS, "question"]
    queries = [
        RoutingQuery(f"Subject {n} was born in", n if n % 2 else None, kinds[n % len(kinds)])
        for n in range(3000)
    ]
    prefixes = ["The river floods every spring.", "He won the cup in 1985."]
    out = augmented(queries, prefixes, seed=3)
    assert out == augmented(queries, prefixes, seed=3)  # stable, so caches and heads reproduce
    assert [(q.case, q.kind) for q in out] == [(q.case, q.kind) for q in queries]
    wrapped = prefixed = 0
    for before, after in zip(queries, out, strict=True):
        assert before.text in after.text
        if before.kind not in WRAP_KINDS:
            assert after == before
        elif after.text != before.text:
            if any(after.text == w.replace("{q}", before.text) for w in CLOZE_WRAPPERS):
                wrapped += 1
            else:
                assert after.text in {f"{p} {before.text}" for p in prefixes}
                prefixed += 1
    eligible = sum(q.kind in WRAP_KINDS for q in queries)
    assert wrapped / eligible == pytest.approx(WRAP_SHARE, abs=0.04)
    assert prefixed / eligible == pytest.approx(PREFIX_SHARE, abs=0.04)
    # without prefix sentences, every disguise is a wrapper
    assert all(
        a.text == b.text or a.text.replace(b.text, "{q}") in CLOZE_WRAPPERS
        for a, b in zip(augmented(queries, [], seed=3), queries, strict=True)
    )


def _column_mlp(width: int, column: int, scale: float) -> Mlp:
    """A head tier whose logit is ``scale`` times one feature column."""
    w1 = np.zeros((width, 2), np.float32)
    w1[column] = (1.0, -1.0)
    return Mlp(w1, np.zeros(2, np.float32), np.array([scale, -scale], np.float32), 0.0)


def _pairs(fast_signal: np.ndarray, full_signal: np.ndarray, labels: np.ndarray) -> PairData:
    """One candidate per query; in-scope queries are "generality", the others "neighborhood"."""
    n = len(labels)
    features = np.zeros((n, 3 * DIM + SCALARS), np.float32)
    features[:, 0] = full_signal  # in the pair embedding: only the full tier sees it
    features[:, DIM] = fast_signal  # in query * edit: both tiers see it
    features[:, -SCALARS] = 0.5  # similarity, far from the exact-match shortcut
    queries = [
        RoutingQuery(f"q{i}", i if label else None, "generality" if label else "neighborhood")
        for i, label in enumerate(labels)
    ]
    return PairData(
        features,
        labels.astype(np.float32),
        np.arange(n),
        np.zeros(n, int),
        queries,
        np.zeros(n),
        np.arange(n),
    )


def _head(width: int) -> RouterHead:
    fast = _column_mlp(width - DIM, 0, 3.0)  # the fast tier sees the features after the pair
    full = _column_mlp(width, 0, 3.0)
    return RouterHead("test", fast, full, BAND, 0.3, 3, 0.5, "{query} [SEP] {edit}", {})


def _calibration(
    kinds: dict[str, list[tuple[float, bool]]],
) -> tuple[PairData, np.ndarray, np.ndarray]:
    """Calibration queries with their best candidate's score and whether it is their own
    edit, by kind (in-scope kinds have a case)."""
    queries, best, right = [], [], []
    for kind, scored in kinds.items():
        for score, own in scored:
            case = len(queries) if kind == "generality" else None
            queries.append(RoutingQuery(f"q{len(queries)}", case, kind))
            best.append(score)
            right.append(own)
    n = len(queries)
    data = PairData(
        np.zeros((n, 1), np.float32),
        np.zeros(n, np.float32),
        np.arange(n),
        np.zeros(n, int),
        queries,
        np.zeros(n),
        np.arange(n),
    )
    return data, np.array(best), np.array(right)


@pytest.mark.parametrize(("scale", "expected"), [(1, 0.31), (10, 0.71)])
def test_choose_threshold_takes_the_lowest_within_the_calibrations_resolution(
    scale: int, expected: float
) -> None:
    """Relation specificity 0.90 below 0.3, 0.925 up to 0.7, 0.95 above; generality 0.99 up
    to 0.5, 0.98 up to 0.9. The worst goal metric peaks at 0.95 from 0.71. On 40 relation
    specificity prompts one standard error there is 0.034, so 0.925 (from 0.31) is tied with
    the peak and 0.31 is chosen; on 400 it is 0.011 and the peak stands."""
    relspec = [(0.1, False)] * 36 + [(0.3, False)] + [(0.7, False)] + [(0.95, False)] * 2
    generality = [(0.9, True)] * 392 + [(0.5, True)] * 4 + [(0.2, True)] * 4
    data, best, right = _calibration(
        {"generality": generality, "relation_specificity": relspec * scale}
    )
    choice = choose_threshold(data, best, right)
    assert (choice.peak_threshold, choice.peak) == (0.71, pytest.approx(0.95))
    assert choice.resolution == pytest.approx(np.sqrt(0.95 * 0.05 / (40 * scale)))
    assert choice.threshold == expected
    assert choice.rates == pytest.approx(
        {"generality": 0.99, "relation_specificity": 0.925}
        if expected == 0.31
        else {"generality": 0.98, "relation_specificity": 0.95}
    )
    assert choice.worst == min(choice.rates.values())


def test_choose_band_skips_the_second_look_when_the_fast_tier_already_decides() -> None:
    labels = np.arange(400) % 2
    sign = np.where(labels == 1, 3.0, -3.0)
    data = _pairs(sign, np.zeros(400), labels)  # the pair embedding says nothing
    head, rates, summary = choose_band(_head(data.features.shape[1]), data)
    assert summary["second_look_share"] == 0.0
    assert second_look_share(head, data, np.full(400, 0.5)) == 1.0  # 0.5 is inside any band
    assert rates["generality"] == rates["neighborhood"] == 1.0


def test_choose_band_keeps_the_second_look_where_only_the_pair_tells() -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 2
    noise = rng.normal(0.0, 0.3, 400)  # fast scores near 0.5, unrelated to the label
    data = _pairs(noise, np.where(labels == 1, 3.0, -3.0), labels)
    head, rates, summary = choose_band(_head(data.features.shape[1]), data)
    assert summary["peak_worst_goal_metric"] >= summary["best_peak_worst_goal_metric"] - (
        BAND_TOLERANCE
    )
    assert min(rates["generality"], rates["neighborhood"]) >= 1.0 - BAND_TOLERANCE
    assert summary["second_look_share"] >= 0.95
    assert head.band[0] <= 0.3 and head.band[1] >= 0.7  # the noise band stays covered
    assert summary["fast_only_rates"]["generality"] < 0.9 or (
        summary["fast_only_rates"]["neighborhood"] < 0.9
    )


def test_choose_band_weighs_the_cross_encoder_into_the_second_look() -> None:
    """Where neither the fast tier nor the frozen pair embedding tells, but the
    cross-encoder does, the second look gets it right through the cross-encoder's share."""
    labels = np.arange(400) % 2
    rng = np.random.default_rng(0)
    data = _pairs(rng.normal(0.0, 0.3, 400), np.zeros(400), labels)
    cross = np.where(labels == 1, 0.97, 0.03)
    tier = CrossTier({}, _column_mlp(DIM + SCALARS, 0, 1.0), 0.5)
    _, plain, _ = choose_band(_head(data.features.shape[1]), data)
    assert min(plain["generality"], plain["neighborhood"]) < 0.9
    for weight in (0.3, 0.7):
        head = replace(_head(data.features.shape[1]), cross=replace(tier, weight=weight))
        chosen, rates, summary = choose_band(head, data, cross=cross)
        assert summary["second_look_share"] >= 0.95
        assert min(rates["generality"], rates["neighborhood"]) >= 1.0 - BAND_TOLERANCE
        # the full tier says 0.5 for every pair: the scores are weight * cross + (1 - weight) / 2
        low, high = weight * 0.03 + (1 - weight) / 2, weight * 0.97 + (1 - weight) / 2
        assert low < chosen.threshold <= high
    with pytest.raises(ValueError, match="needs its scores"):
        choose_band(replace(_head(data.features.shape[1]), cross=tier), data)


@pytest.mark.parametrize(
    ("subject", "short"),
    [
        ("Wolfgang Amadeus Mozart", "Mozart"),
        ("Martin Luther King Jr.", "King"),
        ("Mount Kilimanjaro", "Kilimanjaro"),
        ("Danielle Darrieux", "Darrieux"),
        ("Nestlé", None),  # one word: nothing to shorten
    ],
)
def test_short_name(subject: str, short: str | None) -> None:
    assert short_name(subject) == short


def test_shortened_queries_name_the_subject_by_its_last_word_in_and_out_of_scope() -> None:
    cases = [
        EditCase(
            EditDraft(
                subject="Wolfgang Amadeus Mozart",
                prompt="Wolfgang Amadeus Mozart was born in",
                target="Vienna",
            ),
            paraphrases=("The birthplace of Wolfgang Amadeus Mozart is",),
            locality=(("relation_specificity", "Wolfgang Amadeus Mozart died in"),),
        ),
        EditCase(EditDraft(subject="Nestlé", prompt="Nestlé is based in", target="Brussels")),
    ] * 20
    short = shortened_queries(cases, seed=1)
    assert short and all("Mozart" in q.text and "Wolfgang" not in q.text for q in short)
    assert {q.case for q in short if q.kind == "relation_specificity"} == {None}
    assert {q.kind for q in short} >= {"reliability", "generality", "relation_specificity"}
    assert all(
        q.case is None or cases[q.case].draft.subject == "Wolfgang Amadeus Mozart" for q in short
    )


def test_pair_readings_through_fewer_layers_are_cached_and_checked(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = [
        EditCase(EditDraft(subject=f"Alpha {i}", prompt=f"Alpha {i} lives in", target="Rome"))
        for i in range(3)
    ]
    store = LiveEdits.of(cases)
    queries = routing_queries(cases)
    data = PairData(
        features=np.zeros((len(queries), 3 * 384 + SCALARS), np.float32),
        labels=np.ones(len(queries), np.float32),
        pair_query=np.arange(len(queries)),
        pair_rank=np.zeros(len(queries), int),
        queries=queries,
        own_rank=np.zeros(len(queries), int),
        pair_edit=np.array([store.owner[q.case] for q in queries if q.case is not None]),
    )
    cache = tmp_path / "cache" / "benchmarks.layers2.npz"
    readings = read_pairs_through(data, store, embedder, 2, cache)
    texts = pair_texts(data, store)
    assert texts[0] == "Alpha 0 lives in [SEP] Alpha 0 lives in"
    expected = embedder.encode_layers(texts, 2, precision="float32")
    assert readings.shape == (len(queries), 384) and np.allclose(readings, expected, atol=1e-6)
    assert cache.is_file()

    def unexpected(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("the cached readings should have been used")

    original = embedder.encode_layers
    monkeypatch.setattr(embedder, "encode_layers", unexpected)
    assert np.array_equal(read_pairs_through(data, store, embedder, 2, cache), readings)
    # other pairs replace the cache; those read before come from the memo beside it
    fewer = subset(data, np.arange(len(queries)) > 0)
    assert np.array_equal(read_pairs_through(fewer, store, embedder, 2, cache), readings[1:])
    read: list[list[str]] = []

    def counted(texts: list[str], layers: int, **kwargs: object) -> np.ndarray:
        read.append(list(texts))
        return original(texts, layers, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(embedder, "encode_layers", counted)
    first = replace(queries[0], text=queries[0].text + " today")
    reworded = replace(data, queries=[first, *queries[1:]])
    again = read_pairs_through(reworded, store, embedder, 2, cache)
    assert read == [[pair_texts(reworded, store)[0]]]  # only the new pair is read
    assert np.array_equal(again[1:], readings[1:]) and not np.allclose(again[0], readings[0])
    deeper = read_pairs_through(data, store, embedder, 3, cache)  # another depth: its own
    assert len(read) == 2 and len(read[1]) == len(queries)
    assert not np.allclose(deeper, readings)


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (["--triples-share", "1.5"], "--triples-share must be in (0, 1]"),
        (["--triples-relation-share", "0"], "--triples-relation-share must be in (0, 1]"),
        (["--pair-layers", "-1"], "--pair-layers must be 0 (all layers) or more"),
        (["--cloze-share", "-0.1"], "--cloze-share must be in [0, 1]"),
        (["--kind-weight", "questions=2"], "--kind-weight: no kind 'questions'; choose from"),
        (["--kind-weight", "question"], "--kind-weight takes KIND=WEIGHT"),
        (["--kind-weight", "question=0"], "--kind-weight: a weight must be above 0"),
    ],
)
def test_train_router_refuses_bad_flags_in_one_line_before_any_work(
    tmp_path: Path, flag: list[str], message: str
) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "examples" / "train_router.py"
    output = tmp_path / "head"
    done = subprocess.run(
        [sys.executable, str(script), *flag, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not output.exists()


def test_kind_weights_count_a_kinds_pairs_as_if_repeated() -> None:
    """Two points, each with as many in-scope as out-of-scope pairs: unweighted, the fit is
    unsure of both. Weighting one point's out-of-scope kind tips that point out of scope and,
    because the classes are balanced as if those pairs were repeated, the other point in."""
    queries = [RoutingQuery("q", None, "question_specificity"), RoutingQuery("r", 0, "question")]
    queries += [RoutingQuery("s", None, "neighborhood"), RoutingQuery("t", 1, "triples question")]
    # pairs: 20 at point A (10 of query 0, out of scope; 10 of query 1, in scope), 20 at B
    pair_query = np.repeat(np.arange(4), 10)
    features = np.repeat(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]), 10, axis=0)
    labels = np.repeat(np.array([0.0, 1.0, 0.0, 1.0]), 10).astype(np.float32)
    data = PairData(
        queries=queries,
        features=features.astype(np.float32),
        labels=labels,
        pair_query=pair_query,
        pair_rank=np.zeros(40, dtype=np.int64),
        own_rank=np.zeros(4, dtype=np.int64),
        pair_edit=np.zeros(40, dtype=np.int64),
    )
    assert pair_weights(data, {}) is None
    weights = pair_weights(data, {"question_specificity": 4.0, "question": 0.5})
    assert weights is not None
    assert weights.tolist() == [4.0] * 10 + [0.5] * 10 + [1.0] * 10 + [0.5] * 10  # triples too

    point_a, point_b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    settings = {"hidden": 8, "epochs": 200, "learning_rate": 0.05, "weight_decay": 0.0}
    plain, _ = fit_mlp(data.features, labels, **settings)
    for point in (point_a, point_b):
        assert abs(float(plain.probabilities(point.astype(np.float32))[0]) - 0.5) < 0.05
    weighted, _ = fit_mlp(
        data.features,
        labels,
        sample_weights=pair_weights(data, {"question_specificity": 4.0}),
        **settings,
    )
    # out-of-scope mass 40 + 10, in-scope 20, so in-scope pairs weigh 2.5 each: at A 25
    # against 40, at B 25 against 10
    assert float(weighted.probabilities(point_a.astype(np.float32))[0]) == pytest.approx(
        25 / 65, abs=0.03
    )
    assert float(weighted.probabilities(point_b.astype(np.float32))[0]) == pytest.approx(
        25 / 35, abs=0.03
    )


@pytest.mark.parametrize(
    ("kind_weights", "message"),
    [
        ({"questions": 2.0}, "no such kind of training query: questions"),
        ({"question": -1.0}, "above 0"),
    ],
)
def test_train_router_refuses_bad_kind_weights_before_any_work(
    tmp_path: Path, embedder: Embedder, kind_weights: dict[str, float], message: str
) -> None:
    from memedit.router_training import train_router

    with pytest.raises(ValueError, match=message):
        train_router(tmp_path / "no data", tmp_path / "head", embedder, kind_weights=kind_weights)
    assert not (tmp_path / "head").exists()


def _training_slices(root: Path) -> Path:
    """Small slices of every file training reads, copied under ``root``."""
    import json

    from conftest import shared_data

    from memedit.router_training import PREFIX_SOURCE, TRAIN_SOURCES, TRIPLE_SOURCE
    from memedit.triple_cases import TEMPLATE_FILES, TRIPLE_FILES

    for relative, _ in TRAIN_SOURCES:
        records = json.loads(shared_data(relative).read_text(encoding="utf-8"))[:25]
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(json.dumps(records), encoding="utf-8")
    passages = json.loads(shared_data(PREFIX_SOURCE).read_text(encoding="utf-8"))[:20]
    (root / PREFIX_SOURCE).write_text(json.dumps(passages), encoding="utf-8")
    (root / TRIPLE_SOURCE).mkdir()
    for name in (*TRIPLE_FILES, *TEMPLATE_FILES):
        records = json.loads(shared_data(f"{TRIPLE_SOURCE}/{name}").read_text(encoding="utf-8"))
        kept = records[:8] if isinstance(records, list) else records
        (root / TRIPLE_SOURCE / name).write_text(json.dumps(kept), encoding="utf-8")
    return root


def test_train_router_end_to_end_and_its_cache_serves_another_seeds_queries(
    tmp_path: Path, embedder: Embedder
) -> None:
    """A head trained on slices of the training files loads and routes; a second run refits
    from the cache (no new embedding); another seed's queries are routed again, embedding only
    the texts the cache's memo has not seen."""
    from memedit.router import RelationEvidence, shipped_head
    from memedit.router_training import UNSEEN, train_router

    root = _training_slices(tmp_path / "data")
    cache, logged = tmp_path / "cache", []
    settings = {"epochs": 2, "hidden": 8, "cache": cache, "log": logged.append}

    head, info = train_router(root, tmp_path / "head", embedder, **settings)
    assert (tmp_path / "head" / "router_head.safetensors").is_file()
    loaded = RouterHead.load(tmp_path / "head")
    assert loaded.threshold == head.threshold and 0.0 < head.threshold < 1.0
    choice = info["relation_evidence_choice"]
    assert set(choice["rates"]) == {"held-aside training edits", "edits on unseen relations"}
    assert choice["rates"]["edits on unseen relations"]["relation_specificity"] >= 0.0
    assert loaded.relation == head.relation
    assert choice["relation"] == (None if head.relation is None else head.relation.to_json())
    shipped = shipped_head()  # the shipped head's evidence is the one its training chose
    assert shipped is not None and shipped.relation == RelationEvidence(
        **shipped.info["relation_evidence_choice"]["relation"]
    )
    assert info["edits"] > 50 and info["positives"] > 0
    for name in ("benchmarks.npz", f"{UNSEEN}.npz", "calibration.relations.npz"):
        assert (cache / name).is_file(), name
    assert not any("pairs read from" in line for line in logged)

    logged.clear()
    again, _ = train_router(root, tmp_path / "again", embedder, **settings)
    assert any("pairs read from" in line for line in logged)
    assert any("relation cosines read from" in line for line in logged)
    assert again.threshold == head.threshold  # the same pairs, the same seed: the same head
    assert again.relation == head.relation

    logged.clear()  # the evidence alone, for the head already there: nothing is fitted,
    # and the pairs are read through the head's own layers whatever pair_layers says
    chosen, chosen_info = train_router(
        root, tmp_path / "head", embedder, evidence_only=True, pair_layers=2, **settings
    )
    assert not any("fitted" in line for line in logged)
    assert not (cache / "benchmarks.layers2.npz").exists()
    assert chosen.relation == head.relation and chosen.threshold == head.threshold
    assert chosen_info["relation_evidence_choice"] == choice
    with pytest.raises(MemeditError, match="No router head"):
        train_router(root, tmp_path / "nothing", embedder, evidence_only=True, **settings)

    logged.clear()  # another seed's queries: routed again, only the texts not seen embedded
    train_router(root, tmp_path / "seed1", embedder, seed=1, **settings)
    assert any("routing them again" in line for line in logged)
    computed = [line for line in logged if "not in the memo" in line]
    assert computed and all(line.split()[2] != line.split()[4] for line in computed), computed
    assert (tmp_path / "seed1" / "router_head.safetensors").is_file()


def test_train_router_with_the_relation_feature_on_a_share_of_the_triples_relations(
    tmp_path: Path, embedder: Embedder
) -> None:
    """--relation-feature: every pair's relation cosine is a feature (computed once, kept in
    the cache), the saved head lists it before the scalars; --triples-relation-share: the
    triples of some relations are trained on, and the relation evidence is chosen on edits
    of the others; with every relation trained on there are none, and no evidence."""
    from memedit.router_training import (
        TRIPLE_SOURCE,
        train_router,
        training_cases,
        triple_relation_kept,
    )
    from memedit.triple_cases import triple_cases

    root = _training_slices(tmp_path / "data")
    subjects = [c.draft.subject or "" for c in training_cases(root)]
    relations = {
        c.draft.relation or "" for c in triple_cases(root / TRIPLE_SOURCE, exclude=subjects)
    }
    kept = sorted(r for r in relations if triple_relation_kept(r, 0.5))
    assert kept and len(kept) < len(relations)  # the slices hold relations on both sides
    cache, logged = tmp_path / "cache", []
    settings = {"epochs": 2, "hidden": 8, "cache": cache, "log": logged.append}

    head, info = train_router(
        root,
        tmp_path / "head",
        embedder,
        relation_feature=True,
        with_triples=True,
        triples_relation_share=0.5,
        **settings,
    )
    loaded = RouterHead.load(tmp_path / "head")
    assert loaded.relation_feature and head.relation_feature
    assert info["features"] == list(loaded.feature_names)
    assert loaded.feature_names[0] == "relation_similarity"
    assert loaded.fast.w1.shape[0] == 2 * embedder.dimension + 1 + SCALARS
    assert info["trained_on"][-1].endswith(f"relations {', '.join(kept)})")
    assert (cache / "benchmarks.relations.npz").is_file()
    # groups of some relations of the triples have cache files of their own
    assert len(list(cache.glob("triples-*.relations.npz"))) == 1
    assert len(list(cache.glob("unseen-*.relations.npz"))) == 1
    assert not (cache / "triples.npz").exists() and not (cache / "unseen.npz").exists()
    choice = info["relation_evidence_choice"]
    assert choice["rates"]["edits on unseen relations"]["relation_specificity"] >= 0.0
    assert loaded.relation == head.relation

    every, every_info = train_router(
        root, tmp_path / "every", embedder, relation_feature=True, with_triples=True, **settings
    )
    assert every.relation is None and RouterHead.load(tmp_path / "every").relation is None
    assert every_info["relation_evidence_choice"] == {
        "relation": None,
        "why": "no unseen relations left",
    }
    assert any("no relation evidence" in line for line in logged)
    assert (cache / "triples.relations.npz").is_file()


def test_build_pairs_finds_a_live_edit_through_the_edits_it_superseded(
    embedder: Embedder,
) -> None:
    """As the store searches: a superseded case's vector is a key of the edit that replaced
    it, its queries are that edit's positives, and each live edit is a candidate once."""
    from memedit.router_training import build_pairs, pair_texts

    cases = [
        EditCase(
            EditDraft(subject="Tel Aviv", prompt="Tel Aviv is a twin city of", target="Miami")
        ),
        EditCase(
            EditDraft(subject="Tel Aviv", prompt="The twin city of Tel Aviv is", target="Oslo")
        ),
        EditCase(EditDraft(subject="Riga", prompt="The twin city of Riga is", target="Lima")),
    ]
    store = LiveEdits.of(cases)
    assert store.live == [1, 2] and store.owner == [0, 0, 1] and store.keys == [0, 1, 2]
    queries = [
        RoutingQuery("Tel Aviv is a twin city of", 0, "reliability"),
        RoutingQuery("The twin city of Riga is", 2, "reliability"),
    ]
    data = build_pairs(cases, embedder, queries=queries, top_k=5, gate=0.0, top_m=5)
    assert data.pair_key is not None
    first = np.flatnonzero(data.pair_query == 0)
    assert sorted(data.pair_edit[first].tolist()) == [0, 1]  # each live edit once
    nearest = first[data.pair_rank[first] == 0][0]
    assert data.pair_edit[nearest] == 0 and data.pair_key[nearest] == 0  # through case 0's key
    assert data.labels[nearest] == 1.0 and data.own_rank[0] == 0
    assert data.features[nearest, -SCALARS] > 0.999  # the superseded phrasing, word for word
    texts = pair_texts(data, store)
    assert texts[nearest].endswith("Tel Aviv is a twin city of")


def test_train_router_script_reports_missing_data_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "examples" / "train_router.py"
    output = tmp_path / "head"
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "--data-root",
            str(tmp_path / "nowhere"),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "no such file" in done.stderr and "Traceback" not in done.stderr
    assert not output.exists()


def test_relation_cosines_are_those_routing_computes_and_are_cached(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training reads the relation evidence off the cosines a store computes at query time:
    the query cut to the lines naming the candidate's subject, against the stored question
    part's relation vector."""
    from memedit import EditStore
    from memedit.router_training import build_pairs, relation_cosines

    drafts = [
        EditDraft(subject="Miles Millar", prompt="Miles Millar was educated at", target="Yale"),
        EditDraft(subject="Miles Millar", prompt="The mother of Miles Millar is", target="Ann"),
        EditDraft(subject="Riga", prompt="The twin city of Riga is", target="Lima"),
    ]
    cases = [EditCase(d) for d in drafts]
    queries = [
        RoutingQuery("Miles Millar attended", 0, "generality"),
        RoutingQuery("Riga opened a museum in 1990.\nWho is the twin city of Riga?", 2, "question"),
        RoutingQuery("Who is the father of Miles Millar?", None, "question_specificity"),
    ]
    data = build_pairs(cases, embedder, queries=queries)
    store = LiveEdits.of(cases)
    cache = tmp_path / "calibration.relations.npz"
    cosines = relation_cosines(data, store, embedder, cache)
    assert cosines.shape == data.labels.shape and np.all(np.abs(cosines) <= 1.0 + 1e-5)

    with EditStore(tmp_path / "s") as edits:
        edits.add_many(drafts)
        _, _, found = edits._nearest([q.text for q in queries])
    routed = {
        (qi, hit.edit.prompt): hit.relation_similarity
        for qi, hits in enumerate(found)
        for hit in hits
        if hit.relation_similarity is not None
    }
    trained = {
        (int(qi), store.edit(int(p)).prompt): c
        for qi, p, c in zip(data.pair_query, data.pair_edit, cosines, strict=True)
    }
    assert trained.keys() == routed.keys() and len(trained) >= 4
    for key, cosine in trained.items():
        assert cosine == pytest.approx(routed[key], abs=1e-4), key
    attended = trained[0, "Miles Millar was educated at"]
    assert attended > trained[0, "The mother of Miles Millar is"] + 0.2

    def unexpected(*args: object, **kwargs: object) -> object:
        raise AssertionError("the cached cosines should have been used")

    monkeypatch.setattr(embedder, "encode_tokens", unexpected)
    assert np.array_equal(relation_cosines(data, store, embedder, cache), cosines)
    # other pairs replace the cache file; the memo beside it still has their cosines
    fewer = subset(data, np.arange(len(queries)) > 0)
    kept = np.isin(data.pair_query, np.arange(1, len(queries)))
    assert np.array_equal(relation_cosines(fewer, store, embedder, cache), cosines[kept])


def _evidence_group(name: str, rows: list[tuple[str, bool, float, float]]) -> object:
    """A group of one-candidate queries: (kind, in scope, head score, relation cosine). The
    query names the subject, and the candidate is its own edit where it is in scope."""
    from memedit.router_training import EvidenceGroup

    n = len(rows)
    features = np.zeros((n, 3 * DIM + SCALARS), np.float32)
    features[:, -SCALARS] = 0.6  # similarity: not the edit's own question
    features[:, -SCALARS + 1] = 1.0  # names the subject
    queries = [
        RoutingQuery(f"q{i}", i if own else None, kind) for i, (kind, own, _, _) in enumerate(rows)
    ]
    data = PairData(
        features,
        np.array([own for _, own, _, _ in rows], np.float32),
        np.arange(n),
        np.zeros(n, int),
        queries,
        np.zeros(n),
        np.arange(n),
    )
    scores = np.array([s for _, _, s, _ in rows])
    cosines = np.array([c for _, _, _, c in rows])
    return EvidenceGroup(name, data, scores, cosines)


def test_relation_evidence_lifts_unseen_relations_without_costing_known_ones() -> None:
    """On relations it knows, the head separates in and out of scope by itself; on unseen
    ones it takes other-relation questions for the edit (score 0.8), which the relation
    cosine (0.1 against 0.9) tells apart: evidence that lowers them is chosen. Where the
    cosine says nothing (low for both), none is: it could only cost. Nor where lowering
    them would cost the known relations' generality."""
    from memedit.router_training import choose_relation_evidence

    head = replace(_head(3 * DIM + SCALARS), threshold=0.5)
    known = _evidence_group(
        "known",
        [("generality", True, 0.9, 0.5)] * 20 + [("relation_specificity", False, 0.1, 0.5)] * 20,
    )
    telling = _evidence_group(
        "unseen",
        [("generality", True, 0.8, 0.9)] * 20 + [("relation_specificity", False, 0.8, 0.1)] * 20,
    )
    evidence, summary = choose_relation_evidence(head, known, telling)  # type: ignore[arg-type]
    assert evidence is not None and evidence.fall > 0 and evidence.low > 0.1
    assert summary["unseen_worst_goal_metric"] == 1.0
    assert summary["unseen_worst_goal_metric_without"] == 0.0
    assert summary["rates"]["unseen"]["relation_specificity"] == 1.0
    assert summary["rates"]["known"] == summary["rates_without"]["known"]

    mute = _evidence_group(
        "unseen",
        [("generality", True, 0.8, 0.15)] * 20 + [("relation_specificity", False, 0.3, 0.15)] * 20,
    )
    evidence, summary = choose_relation_evidence(head, known, mute)  # type: ignore[arg-type]
    assert evidence is None and summary["unseen_worst_goal_metric"] == 1.0

    fragile = _evidence_group(  # known paraphrases whose relation cosine is as low
        "known",
        [("generality", True, 0.8, 0.1)] * 20 + [("relation_specificity", False, 0.1, 0.5)] * 20,
    )
    evidence, summary = choose_relation_evidence(head, fragile, telling)  # type: ignore[arg-type]
    assert evidence is None or summary["rates"]["known"]["generality"] == 1.0
    assert summary["unseen_worst_goal_metric"] == 0.0


def test_the_shipped_head_is_what_the_training_scripts_defaults_make(
    request: pytest.FixtureRequest,
) -> None:
    """Changing a default of examples/train_router.py without retraining the shipped head (or
    the reverse) would make the README's "python examples/train_router.py" lie: the head's
    training record must match the script's defaults, flag by flag."""
    from conftest import load_script, shared_data

    from memedit.router import HEAD_DIR, RELATION_FEATURE
    from memedit.router_training import (
        CLOZE_SHARE,
        KIND_WEIGHTS,
        PAIR_LAYERS,
        triple_relation_kept,
    )
    from memedit.triple_cases import read_triples

    script = Path(__file__).resolve().parents[1] / "examples" / "train_router.py"
    defaults = load_script(script, request).build_parser().parse_args([])
    assert defaults.output == HEAD_DIR
    head = RouterHead.load(HEAD_DIR)
    info = head.info
    assert defaults.triples and defaults.relation_feature and not defaults.cross_encoder
    assert head.relation_feature and head.feature_names[0] == RELATION_FEATURE
    assert head.cross is None and head.pair_layers == defaults.pair_layers == PAIR_LAYERS
    assert info["kind_weights"] == dict(KIND_WEIGHTS) and not defaults.kind_weight
    assert info["cloze_share"] == defaults.cloze_share == CLOZE_SHARE
    assert (info["epochs"], info["hidden"], info["seed"]) == (
        defaults.epochs,
        defaults.hidden,
        defaults.seed,
    )
    assert info["weight_decay"] == defaults.weight_decay
    assert info["shaped_questions"] is defaults.shaped_questions is True
    trained = info["triples_relations"]
    assert trained and all(
        triple_relation_kept(r, defaults.triples_relation_share) for r in trained
    )
    assert head.relation is not None  # chosen on the relations left out
    relations, _ = read_triples(shared_data("pitfalls/easy.json").parent)
    kept = sorted(r for r in relations if triple_relation_kept(r, defaults.triples_relation_share))
    assert trained == kept and len(relations) == 23
