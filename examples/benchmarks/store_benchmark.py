"""Benchmark the edit store: ingest throughput, route latency, disk and memory, index kinds.

What it measures, for each store size in ``--sizes`` (default 1000,10000,100000):

- **ingest throughput** (once, on ``--ingest-sample`` edits, default 5000):
  ``EditStore.add_many`` into a fresh store (edits/s) against the raw encoder,
  ``Embedder.encode`` on the same route texts (the prompts) in one call, and
  their ratio (goal: >= 0.8, i.e. the store adds at most 25% on top of embedding),
  best of ``--ingest-repeats`` (default 2, in alternating order);
- **route latency**: p50/p99 of ``EditStore.route(query)`` over ``--queries``
  rephrase prompts (default 300; in scope, the learnt router's costliest case:
  most get the second look), after one warm-up route whose time is
  reported as "index build s" (the FAISS index is built from SQLite on the
  first route); in the same loop, in rotating order, the time to embed the query
  alone (``Embedder.encode_one``) and to search the backend with the
  already-embedded query (``backend.search``), and the ratio
  route p50 / embed p50 (goal: <= 1.5 at 100k). "top-1 own" is the share of
  queries whose best-scored edit, in scope or not, is the edit they rephrase (a sanity
  check). The same
  is measured on as many neighbourhood prompts of the same records (same relation,
  another subject: out of scope), and on both together ("mixed": half the
  queries in scope, half not; a store's real traffic is mostly out of scope);
- **index kind** (``EditStore.stats().index_kind``), **bytes on disk per edit**
  (after closing and reopening the store, so that the WAL is checkpointed),
  the first route after reopening ("index load s": the cached index is read
  back), and the process's **peak RSS** so far (``resource.getrusage``; it only
  grows, so each row is the peak up to and including that size);
- with ``--kinds``: a ``VectorIndex`` of each kind (flat, hnsw) built directly
  from the same vectors, timed on single query vectors (p50 in µs) with the
  recall@1 of HNSW against exact search, at each of ``--kinds-sizes``
  (default: the ``--sizes``). This is what justifies ``HNSW_MIN_VECTORS`` in
  ``memedit/stores/faiss_index.py``: the script reports from which size HNSW
  is faster than flat.

Edits are CounterFact records (``--data``, default
``../shared/data/counterfact/train.json``, relative to the repository root),
one per subject+relation (duplicates would supersede each other), and beyond
those synthetic ones made by putting another record's subject into a
record's prompt (``prompt.replace(subject, other_subject)``), each distinct
(no two share a content hash or a subject+relation: where that subject has an edit on
that relation already, a numbered copy of it, "Toko Yasuda 2", takes its place, since
CounterFact's subjects and relations make far fewer than a million pairs).

Stores beyond the ingest sample are filled through the backend
(``EditStore.backend.transaction()`` -> ``tx.insert(edits, vectors, relations)``) with
precomputed vectors and relation vectors. Real CounterFact prompts are always embedded with
the store's encoder (one batched call), and their relation vectors computed as the store
does at ingest; a synthetic edit takes its template record's relation vector (it asks that
record's relation; relation vectors leave the subject out). The all-MiniLM-L6-v2 encoder does only
a few hundred prompts/s on 2 CPU cores (100-400/s measured), so by default
synthetic edits are *not* embedded: each gets an approximate vector, the
normalised mix 0.2 * v(template record) + 0.8 * v(subject record) plus noise,
whose similarity to its nearest real edit is close to that of real embeddings
(about 0.83 against 0.76), which is what matters for timing the index. ``--encode-synthetic N``
embeds the first N synthetic edits for real instead; the JSON reports how close
the approximation is to the real embedding on a sample (``approximation``).

Run from the repository root (the default run is sized to finish within about
15 minutes on 2 CPU cores; nothing else should run meanwhile, timings are noisy)::

    python examples/benchmarks/store_benchmark.py
    python examples/benchmarks/store_benchmark.py --sizes 1000,10000 --ingest-sample 2000
    python examples/benchmarks/store_benchmark.py --kinds --kinds-sizes 1000,5000,10000,20000,50000,100000
    python examples/benchmarks/store_benchmark.py --sizes 100000 --router learnt-fast --out /tmp/fast.json

It prints tables and writes JSON to ``examples/benchmarks/results/store_benchmark.json``
(``--out`` to change).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import REPO_ROOT, environment, log, parse_sizes, pct, render_table, write_results

from memedit import EditStore
from memedit.edits import Edit, EditDraft, build_edit
from memedit.embedder import Embedder, get_embedder
from memedit.formats import load_records
from memedit.relation_vectors import embed_with_relations
from memedit.router import KINDS as ROUTER_KINDS
from memedit.stores.faiss_index import (
    HNSW_EF_SEARCH,
    HNSW_M,
    HNSW_MIN_VECTORS,
    KINDS,
    VectorIndex,
)

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "counterfact" / "train.json"
DEFAULT_OUT = REPO_ROOT / "examples" / "benchmarks" / "results" / "store_benchmark.json"
INGEST_RATIO_GOAL = 0.8
ROUTE_EMBED_RATIO_GOAL = 1.5
TEMPLATE_WEIGHT = 0.2  # approximate vector: mix of the template record's and the subject record's
NOISE_SCALE = 0.6  # relative norm of the Gaussian noise added to the mix
APPROX_CHECK = 200  # synthetic edits embedded for real to report how good the approximation is


# -- helpers ----------------------------------------------------------------------------------


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux


# -- the edits ----------------------------------------------------------------------------------
@dataclass
class Pool:
    """Edits for the largest store: real CounterFact first, then synthetic ones."""

    edits: list[Edit]
    n_real: int
    queries: list[str]  # rephrase prompt of real edit i, for i < len(queries)
    neighbours: list[str]  # neighbourhood prompts of the same records (out of scope)
    sources: list[tuple[int, int]] = field(default_factory=list)  # synthetic k: (template, subject)


def synthetic(template: Edit, subject: str) -> Edit:
    """The template edit's prompt and target about another subject."""
    assert template.prompt and template.subject
    return build_edit(
        EditDraft(
            subject=subject,
            prompt=template.prompt.replace(template.subject, subject, 1),
            target=template.target,
            source="counterfact-synthetic",
        )
    )


def make_pool(records: Sequence[dict[str, Any]], n: int, n_queries: int, seed: int) -> Pool:
    seen: set[str] = set()
    edits: list[Edit] = []
    queries: list[str] = []
    neighbours: list[str] = []

    def fresh(edit: Edit) -> bool:
        keys = {edit.content_hash, edit.conflict_key or edit.content_hash}
        if keys & seen:
            return False
        seen.update(keys)
        return True

    for record in records:
        if len(edits) >= n:
            break
        edit = build_edit(
            EditDraft(
                subject=record["subject"],
                prompt=record["prompt"],
                target=record["target_new"],
                source="counterfact",
            )
        )
        if fresh(edit):
            edits.append(edit)
            if len(queries) < n_queries:
                queries.append(record.get("rephrase_prompt") or record["prompt"])
                if record.get("locality_prompt"):
                    neighbours.append(record["locality_prompt"])
    n_real = len(edits)
    if n_real == 0:
        raise SystemExit("no usable CounterFact records in the data file")
    rng = random.Random(seed)
    sources: list[tuple[int, int]] = []
    numbered: dict[str, int] = {}  # subject -> the last number a copy of it was given
    attempts = 0
    while len(edits) < n:
        attempts += 1
        if attempts > 50 * n:
            raise SystemExit(
                f"could only make {len(edits) - n_real} distinct synthetic edits; ask for fewer"
            )
        i, j = rng.randrange(n_real), rng.randrange(n_real)
        template, other = edits[i], edits[j]
        assert template.prompt and template.subject and other.subject
        if template.subject.casefold() == other.subject.casefold():
            continue
        if template.subject not in template.prompt:
            continue
        edit = synthetic(template, other.subject)
        if not fresh(edit):
            # that subject has an edit on this relation already, and a store keeps one live
            # edit per subject and known relation: a numbered copy of the subject ("Toko
            # Yasuda 2") makes it another fact (CounterFact has far fewer than a million
            # distinct subject-relation pairs)
            numbered[other.subject] = numbered.get(other.subject, 1) + 1
            edit = synthetic(template, f"{other.subject} {numbered[other.subject]}")
            if not fresh(edit):
                continue
        edits.append(edit)
        sources.append((i, j))
    return Pool(edits, n_real, queries, neighbours, sources)


def approximate(real: np.ndarray, sources: Sequence[tuple[int, int]], seed: int) -> np.ndarray:
    """Approximate vectors for synthetic edits from the vectors of their two source records."""
    if not sources:
        return np.zeros((0, real.shape[1]), np.float32)
    idx = np.asarray(sources, dtype=np.int64)
    mix = TEMPLATE_WEIGHT * real[idx[:, 0]] + (1 - TEMPLATE_WEIGHT) * real[idx[:, 1]]
    noise = np.random.default_rng(seed).standard_normal(mix.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    noise *= NOISE_SCALE * np.linalg.norm(mix, axis=1, keepdims=True)
    out = mix + noise
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return np.ascontiguousarray(out, dtype=np.float32)


# -- ingest -----------------------------------------------------------------------------------
def bench_ingest(
    embedder: Embedder, edits: Sequence[Edit], workdir: Path, repeats: int
) -> tuple[dict[str, Any], np.ndarray]:
    texts = [e.route_text for e in edits]
    drafts = [
        EditDraft(subject=e.subject, prompt=e.prompt, target=e.target, source=e.source)
        for e in edits
    ]
    embedder.encode(texts[:64])  # warm-up: model loaded, first-call costs paid
    encode_s: list[float] = []
    add_s: list[float] = []
    vectors = np.zeros((0, embedder.dimension), np.float32)
    added = live = 0

    def encode() -> None:
        nonlocal vectors
        start = time.perf_counter()
        vectors = embedder.encode(texts)
        encode_s.append(time.perf_counter() - start)

    def add(path: Path) -> None:
        nonlocal added, live
        with EditStore(path, embedder=embedder) as store:
            start = time.perf_counter()
            result = store.add_many(drafts, progress=False)
            add_s.append(time.perf_counter() - start)
            added, live = len(result.added), len(store)
        shutil.rmtree(path, ignore_errors=True)

    for attempt in range(repeats):
        if attempt % 2 == 0:  # alternate the order, so that neither always runs first
            encode()
            add(workdir / f"ingest-{attempt}")
        else:
            add(workdir / f"ingest-{attempt}")
            encode()
        log(
            f"ingest {attempt + 1}/{repeats}: encode {len(texts) / encode_s[-1]:.1f}/s, "
            f"add_many {len(texts) / add_s[-1]:.1f}/s"
        )
    encode_rate = len(texts) / min(encode_s)
    add_rate = len(texts) / min(add_s)
    return {
        "edits": len(texts),
        "repeats": repeats,
        "add_many_s": min(add_s),
        "encode_s": min(encode_s),
        "add_many_edits_per_s": add_rate,
        "encode_texts_per_s": encode_rate,
        "ratio": add_rate / encode_rate,
        "goal_ratio_min": INGEST_RATIO_GOAL,
        "meets_goal": add_rate / encode_rate >= INGEST_RATIO_GOAL,
        "added": added,
        "live": live,
    }, vectors


# -- route latency at one size ----------------------------------------------------------------------
def bench_size(
    embedder: Embedder,
    pool: Pool,
    stored: tuple[np.ndarray, np.ndarray],
    query_vectors: np.ndarray,
    n: int,
    workdir: Path,
    keep: bool,
    router: str | None = None,
) -> dict[str, Any]:
    path = workdir / f"store-{n}"
    edits = pool.edits[:n]
    queries = pool.queries[: min(len(pool.queries), n)]
    store = EditStore(path, embedder=embedder)
    if router is not None:
        store.configure_router(kind=router)
    try:
        start = time.perf_counter()
        with store.backend.transaction() as tx:
            tx.insert(edits, stored[0][:n], stored[1][:n])
        insert_s = time.perf_counter() - start
        k = store.router.top_k

        start = time.perf_counter()
        store.route(queries[0])  # warm-up: builds the FAISS index from SQLite
        index_build_s = time.perf_counter() - start

        route_ms: list[float] = []
        embed_ms: list[float] = []
        search_ms: list[float] = []
        own = 0
        for i, query in enumerate(queries):
            timed: dict[str, float] = {}
            # the three timings rotate, so that none always follows the same call (torch and
            # FAISS each bring their own OpenMP thread pool, which may spin on after a call)
            for step in (("embed", "route", "search") * 2)[i % 3 : i % 3 + 3]:
                start = time.perf_counter()
                if step == "embed":
                    embedder.encode_one(query)
                elif step == "route":
                    routed = store.route(query)
                else:
                    store.backend.search(query_vectors[i].reshape(1, -1), k)
                timed[step] = (time.perf_counter() - start) * 1e3
            embed_ms.append(timed["embed"])
            route_ms.append(timed["route"])
            search_ms.append(timed["search"])
            own += bool(routed.edits) and routed.edits[0].id == edits[i].id
        out_route_ms: list[float] = []
        out_embed_ms: list[float] = []
        for i, query in enumerate(pool.neighbours[: len(queries)]):
            for step in ("embed", "route") if i % 2 else ("route", "embed"):
                start = time.perf_counter()
                if step == "embed":
                    embedder.encode_one(query)
                else:
                    store.route(query)
                (out_embed_ms if step == "embed" else out_route_ms).append(
                    (time.perf_counter() - start) * 1e3
                )
        stats = store.stats()
    finally:
        store.close()

    with EditStore(path, embedder=embedder) as reopened:  # closed once: the WAL is checkpointed
        on_disk = reopened.stats()
        start = time.perf_counter()
        reopened.route(queries[0])
        index_load_s = time.perf_counter() - start
    if not keep:
        shutil.rmtree(path, ignore_errors=True)

    route_p50, embed_p50 = pct(route_ms, 50), pct(embed_ms, 50)
    return {
        "edits": n,
        "router": stats.router,
        "live": stats.live,
        "synthetic": max(0, n - pool.n_real),
        "index_kind": stats.index_kind,
        "insert_s": insert_s,
        "index_build_s": index_build_s,
        "index_load_s": index_load_s,
        "queries": len(queries),
        "route_ms_p50": route_p50,
        "route_ms_p99": pct(route_ms, 99),
        "embed_ms_p50": embed_p50,
        "embed_ms_p99": pct(embed_ms, 99),
        "search_ms_p50": pct(search_ms, 50),
        "search_ms_p99": pct(search_ms, 99),
        "route_overhead_ms_p50": pct(np.subtract(route_ms, embed_ms) - np.asarray(search_ms), 50),
        "route_over_embed": route_p50 / embed_p50,
        "goal_route_over_embed_max": ROUTE_EMBED_RATIO_GOAL,
        "top1_own": own / len(queries),
        "out_of_scope_queries": len(out_route_ms),
        "out_of_scope_route_ms_p50": pct(out_route_ms, 50),
        "out_of_scope_route_over_embed": pct(out_route_ms, 50) / pct(out_embed_ms, 50),
        "mixed_route_ms_p50": pct(route_ms + out_route_ms, 50),
        "mixed_route_over_embed": pct(route_ms + out_route_ms, 50)
        / pct(embed_ms + out_embed_ms, 50),
        "bytes_on_disk": on_disk.bytes_on_disk,
        "bytes_per_edit": on_disk.bytes_on_disk / n,
        "peak_rss_bytes": peak_rss_bytes(),
    }


# -- flat vs hnsw --------------------------------------------------------------------------------
def bench_kinds(vectors: np.ndarray, queries: np.ndarray, n: int, k: int) -> dict[str, Any]:
    ids = np.arange(n, dtype=np.int64)
    result: dict[str, Any] = {"vectors": n, "queries": len(queries), "k": k}
    top1: dict[str, np.ndarray] = {}
    for kind in KINDS:
        index = VectorIndex(vectors.shape[1], kind)
        start = time.perf_counter()
        index.add(ids, vectors[:n])
        build_s = time.perf_counter() - start
        for q in queries[:10]:  # warm-up
            index.search(q.reshape(1, -1), k)
        times: list[float] = []
        best = np.empty(len(queries), dtype=np.int64)
        for i, q in enumerate(queries):
            start = time.perf_counter()
            _, found = index.search(q.reshape(1, -1), k)
            times.append((time.perf_counter() - start) * 1e6)
            best[i] = found[0, 0]
        top1[kind] = best
        result[kind] = {"build_s": build_s, "us_p50": pct(times, 50), "us_p99": pct(times, 99)}
        del index
    result["hnsw_recall_at_1"] = float(np.mean(top1["hnsw"] == top1["flat"]))
    result["hnsw_faster"] = result["hnsw"]["us_p50"] < result["flat"]["us_p50"]
    return result


def crossover(rows: Sequence[dict[str, Any]]) -> str:
    faster = [r["vectors"] for r in rows if r["hnsw_faster"]]
    slower = [r["vectors"] for r in rows if not r["hnsw_faster"]]
    if not faster:
        return f"HNSW was not faster than flat at any measured size (up to {rows[-1]['vectors']:,})"
    first = min(faster)
    below = [s for s in slower if s < first]
    if any(s > first for s in slower):
        return f"no clean crossover: HNSW faster at {faster}, slower at {slower}"
    if below:
        return f"HNSW starts to pay between {max(below):,} and {first:,} vectors"
    return f"HNSW was already faster at the smallest measured size ({first:,} vectors)"


# -- main --------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--sizes", type=parse_sizes, default="1000,10000,100000", help="store sizes (edits)"
    )
    parser.add_argument("--ingest-sample", type=int, default=5000, help="edits for the ingest test")
    parser.add_argument(
        "--ingest-repeats", type=int, default=2, help="best of this many, alternating the order"
    )
    parser.add_argument("--queries", type=int, default=300, help="route queries per size")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CounterFact JSON")
    parser.add_argument(
        "--encode-synthetic",
        type=int,
        default=0,
        help="embed this many synthetic edits for real (the rest get approximate vectors)",
    )
    parser.add_argument(
        "--router", choices=ROUTER_KINDS, default=None, help="scope classifier; unset: the default"
    )
    parser.add_argument("--kinds", action="store_true", help="also compare flat vs hnsw search")
    parser.add_argument(
        "--kinds-sizes",
        type=parse_sizes,
        default=None,
        help="sizes for --kinds; unset: the --sizes",
    )
    parser.add_argument("--seed", type=int, default=0, help="for synthetic edits and vectors")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where stores go; unset: a temp folder"
    )
    parser.add_argument("--keep", action="store_true", help="keep the stores in --workdir")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)
    if args.ingest_sample < 1 or args.queries < 1 or args.ingest_repeats < 1:
        parser.error("--ingest-sample, --queries and --ingest-repeats must be positive")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.perf_counter()

    sizes: list[int] = args.sizes
    kinds_sizes: list[int] = (args.kinds_sizes or sizes) if args.kinds else []
    largest = max([*sizes, *kinds_sizes, args.ingest_sample])
    records = load_records(args.data)
    log(f"building {largest:,} distinct edits from {len(records):,} records in {args.data}")
    pool = make_pool(records, largest, args.queries, args.seed)
    n_synthetic = len(pool.edits) - pool.n_real
    log(f"{pool.n_real:,} real CounterFact edits, {n_synthetic:,} synthetic")

    embedder = get_embedder()
    start = time.perf_counter()
    embedder.encode(["warm up"])
    load_s = time.perf_counter() - start
    log(f"embedder {embedder.id} loaded in {load_s:.1f}s")

    owned = tempfile.TemporaryDirectory(prefix="memedit-bench-") if args.workdir is None else None
    workdir = Path(owned.name) if owned else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        # 1. ingest, on a fixed sample; its raw-encoder vectors are reused below
        sample = pool.edits[: args.ingest_sample]
        log(f"ingest: {len(sample):,} edits, add_many vs encode")
        ingest, sample_vectors = bench_ingest(embedder, sample, workdir, args.ingest_repeats)

        # 2. vectors for every store: real prompts embedded, synthetic ones approximated
        total = len(pool.edits)
        vectors = np.zeros((total, embedder.dimension), np.float32)
        vectors[: len(sample)] = sample_vectors
        n_encoded_synth = min(args.encode_synthetic, n_synthetic)
        encode_end = max(len(sample), pool.n_real + n_encoded_synth)
        todo = pool.edits[len(sample) : encode_end]
        log(f"embedding {len(todo):,} more edits (one batched call)")
        start = time.perf_counter()
        vectors[len(sample) : encode_end] = embedder.encode([e.route_text for e in todo])
        encode_pool_s = time.perf_counter() - start
        log(f"relation vectors of the {encode_end:,} embedded edits")
        embedded = pool.edits[:encode_end]
        relations = np.zeros_like(vectors)
        relations[:encode_end] = embed_with_relations(
            embedder, [e.route_text for e in embedded], [e.subject for e in embedded]
        )[1]
        real = vectors[: pool.n_real]
        approx_rows = list(range(encode_end, total))
        approx_sources = [pool.sources[row - pool.n_real] for row in approx_rows]
        vectors[encode_end:] = approximate(real, approx_sources, args.seed)
        # a synthetic edit asks its template record's relation of another subject: the
        # relation vector leaves the subject out, so the template's stands for it
        relations[encode_end:] = relations[[template for template, _ in approx_sources]]
        approximation: dict[str, Any] = {"approximated": len(approx_rows)}
        if approx_rows:
            check = approx_rows[:APPROX_CHECK]
            truth = embedder.encode([pool.edits[row].route_text for row in check])
            guess = vectors[check]
            approximation.update(
                {
                    "method": f"normalise({TEMPLATE_WEIGHT} * v(template record) + "
                    f"{1 - TEMPLATE_WEIGHT:.1f} * v(subject record) + noise({NOISE_SCALE}))",
                    "checked": len(check),
                    "cos_true_vs_approx_mean": float(np.mean(np.sum(truth * guess, axis=1))),
                    "nearest_real_cos_true_mean": float(np.mean((truth @ real.T).max(axis=1))),
                    "nearest_real_cos_approx_mean": float(np.mean((guess @ real.T).max(axis=1))),
                }
            )

        # 3. route latency, disk and memory at each size
        query_vectors = embedder.encode(pool.queries)  # for search-only timings
        rows: list[dict[str, Any]] = []
        for n in sizes:
            log(f"size {n:,}: filling the store through the backend, then routing")
            rows.append(
                bench_size(
                    embedder,
                    pool,
                    (vectors, relations),
                    query_vectors,
                    n,
                    workdir,
                    args.keep,
                    args.router,
                )
            )
            r = rows[-1]
            log(
                f"size {n:,}: {r['index_kind']}, route p50 {r['route_ms_p50']:.2f} ms, "
                f"embed p50 {r['embed_ms_p50']:.2f} ms"
            )

        # 4. flat vs hnsw
        kinds: list[dict[str, Any]] = []
        if kinds_sizes:
            for n in kinds_sizes:
                log(f"kinds: flat vs hnsw at {n:,} vectors")
                kinds.append(bench_kinds(vectors, query_vectors, n, k=5))
    finally:
        if owned is not None:
            owned.cleanup()

    results: dict[str, Any] = {
        "benchmark": "store_benchmark",
        "environment": environment(),
        "args": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"
        },
        "embedder": embedder.id,
        "embedder_load_s": load_s,
        "data": {
            "file": str(args.data),
            "records": len(records),
            "real_edits": pool.n_real,
            "synthetic_edits": n_synthetic,
            "synthetic_encoded": max(0, encode_end - pool.n_real),
            "encode_pool_s": encode_pool_s,
            "approximation": approximation,
        },
        "hnsw_min_vectors": HNSW_MIN_VECTORS,
        "hnsw": {"M": HNSW_M, "ef_search": HNSW_EF_SEARCH},
        "ingest": ingest,
        "sizes": rows,
        "kinds": kinds,
        "kinds_crossover": crossover(kinds) if kinds else None,
        "total_s": time.perf_counter() - started,
    }
    print_report(results)
    write_results(args.out, results)
    return 0


def print_report(results: dict[str, Any]) -> None:
    env = results["environment"]
    data = results["data"]
    print(
        f"memedit {env['memedit']} ({(env['commit'] or '?')[:10]}"
        f"{', library modified' if env['library_modified'] else ''}), {results['embedder']}, "
        f"{env['cpu_count']} CPUs, torch {env['torch']} ({env['torch_threads']} threads), "
        f"faiss {env['faiss']}"
    )
    print(
        f"edits: {data['real_edits']:,} real CounterFact + {data['synthetic_edits']:,} synthetic "
        f"({data['synthetic_encoded']:,} of them embedded, "
        f"{data['approximation']['approximated']:,} approximated)"
    )
    approx = data["approximation"]
    if approx.get("checked"):
        print(
            f"approximate vectors on {approx['checked']} checked: cos(true, approx) "
            f"{approx['cos_true_vs_approx_mean']:.3f}; nearest real edit cos "
            f"{approx['nearest_real_cos_true_mean']:.3f} (true) vs {approx['nearest_real_cos_approx_mean']:.3f} (approx)"
        )

    ing = results["ingest"]
    print("\nIngest (fresh store, one add_many call vs one encode call on the same prompts)")
    print(
        render_table(
            [
                "edits",
                "add_many edits/s",
                "encode texts/s",
                "ratio",
                f"goal >= {INGEST_RATIO_GOAL}",
            ],
            [
                [
                    f"{ing['edits']:,}",
                    f"{ing['add_many_edits_per_s']:.1f}",
                    f"{ing['encode_texts_per_s']:.1f}",
                    f"{ing['ratio']:.3f}",
                    "yes" if ing["meets_goal"] else "NO",
                ]
            ],
        )
    )

    print(
        "\nRoute (EditStore.route, one query at a time; embed = Embedder.encode_one; "
        "search = backend.search on the embedded query)"
    )
    rows = []
    for r in results["sizes"]:
        rows.append(
            [
                f"{r['edits']:,}",
                r["index_kind"],
                f"{r['index_build_s']:.2f}",
                f"{r['route_ms_p50']:.2f}",
                f"{r['route_ms_p99']:.2f}",
                f"{r['embed_ms_p50']:.2f}",
                f"{r['search_ms_p50']:.3f}",
                f"{r['route_overhead_ms_p50']:.2f}",
                f"{r['route_over_embed']:.2f}",
                f"{r['out_of_scope_route_over_embed']:.2f}",
                f"{r['mixed_route_over_embed']:.2f}",
                f"{r['top1_own']:.3f}",
                f"{r['bytes_per_edit']:,.0f}",
                f"{r['peak_rss_bytes'] / 2**20:,.0f}",
            ]
        )
    print(
        render_table(
            [
                "edits",
                "index",
                "index build s",
                "route p50 ms",
                "route p99 ms",
                "embed p50 ms",
                "search p50 ms",
                "other p50 ms",
                "route/embed",
                "out of scope",
                "mixed",
                "top-1 own",
                "bytes/edit",
                "peak RSS MiB",
            ],
            rows,
        )
    )
    largest = results["sizes"][-1]
    verdict = "yes" if largest["route_over_embed"] <= ROUTE_EMBED_RATIO_GOAL else "NO"
    print(
        f"route/embed at {largest['edits']:,} edits: {largest['route_over_embed']:.2f} "
        f"(goal <= {ROUTE_EMBED_RATIO_GOAL} at 100k): {verdict} on in-scope rephrasings, "
        f"{largest['out_of_scope_route_over_embed']:.2f} on out-of-scope neighbourhood prompts, "
        f"{largest['mixed_route_over_embed']:.2f} on both; "
        "other = route - embed - search (config reads, live count, SQLite lookups)"
    )

    if results["kinds"]:
        print("\nIndex kinds (VectorIndex.search on one query vector, k=5)")
        print(
            render_table(
                [
                    "vectors",
                    "flat p50 us",
                    "hnsw p50 us",
                    "flat p99 us",
                    "hnsw p99 us",
                    "hnsw recall@1",
                    "flat build s",
                    "hnsw build s",
                    "hnsw faster",
                ],
                [
                    [
                        f"{r['vectors']:,}",
                        f"{r['flat']['us_p50']:.0f}",
                        f"{r['hnsw']['us_p50']:.0f}",
                        f"{r['flat']['us_p99']:.0f}",
                        f"{r['hnsw']['us_p99']:.0f}",
                        f"{r['hnsw_recall_at_1']:.3f}",
                        f"{r['flat']['build_s']:.2f}",
                        f"{r['hnsw']['build_s']:.2f}",
                        "yes" if r["hnsw_faster"] else "no",
                    ]
                    for r in results["kinds"]
                ],
            )
        )
        print(f"{results['kinds_crossover']}; HNSW_MIN_VECTORS = {results['hnsw_min_vectors']:,}")
    print(f"\ntotal {results['total_s']:.0f}s")


if __name__ == "__main__":
    raise SystemExit(main())
