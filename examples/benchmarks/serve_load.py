"""Load-test `memedit serve`: requests per second and latency over HTTP, against in-process calls.

A store gets the first ``--edits`` (1,000) CounterFact records of ``--data``
(default ``../shared/data/counterfact/train.json``, relative to the repository
root) through ``EditStore.add_file``. The same questions — alternately a
record's ``rephrase_prompt`` (in scope of its edit) and its
``locality_prompt`` (another subject: usually out of scope) — are then asked

- in-process, one after another: ``EditableModel.answer(question)``;
- over HTTP, ``POST /v1/completions`` with the prompt ``answer()`` builds
  (``Question: ...\\nAnswer:``), so that the model does the same work, by 1, 4 and
  16 concurrent clients (``--clients``); and ``POST /v1/chat/completions`` by 4.

The server is ``memedit serve`` in a subprocess (``--max-queue`` large enough
that nothing is refused); the clients are asyncio tasks with ``httpx`` in this
process, so on a small machine they share its cores with the server. Every
request asks for ``--max-tokens`` (8) tokens, greedy. The model is memedit's
toy model, trained first (about 15 s), or ``--model ID_OR_PATH``. Torch gets
``--threads`` threads here and in the server (default: as ``memedit serve``,
all cores but one).

Run from the repository root (about 2 minutes on 2 CPU cores)::

    python examples/benchmarks/serve_load.py
    python examples/benchmarks/serve_load.py --requests 100 --clients 1,8 --out /tmp/load.json

It prints a table and writes JSON to ``examples/benchmarks/results/serve_load.json``
(``--out`` to change).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import torch
from benchlib import REPO_ROOT, environment, log, pct, render_table, write_results

from memedit import EditStore
from memedit.cli.serve import default_threads
from memedit.formats import load_records
from memedit.model import EditableModel

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "counterfact" / "train.json"
DEFAULT_OUT = REPO_ROOT / "examples" / "benchmarks" / "results" / "serve_load.json"


def questions(records: Sequence[dict[str, Any]], n: int) -> list[str]:
    """Alternately a rephrasing of an edit (in scope) and a neighbour's prompt (out of scope)."""
    asked = []
    for i in range(n):
        record = records[(i // 2) % len(records)]
        asked.append(record["rephrase_prompt"] if i % 2 == 0 else record["locality_prompt"])
    return asked


def summary(
    path: str, clients: int, latencies: list[float], seconds: float, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "path": path,
        "clients": clients,
        "requests": len(latencies),
        "requests_per_s": len(latencies) / seconds,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
        **extra,
    }


def in_process(editable: EditableModel, asked: list[str], max_tokens: int) -> dict[str, Any]:
    editable.answer(asked[0], max_new_tokens=max_tokens)  # warm up
    latencies, routed = [], 0
    started = time.perf_counter()
    for question in asked:
        start = time.perf_counter()
        answer = editable.answer(question, max_new_tokens=max_tokens)
        latencies.append(time.perf_counter() - start)
        routed += answer.routed
    seconds = time.perf_counter() - started
    return summary(
        "in-process answer()",
        1,
        latencies,
        seconds,
        {"routed": routed / len(asked), "errors": 0},
    )


async def over_http(
    base_url: str, endpoint: str, bodies: list[dict[str, Any]], clients: int
) -> dict[str, Any]:
    """``clients`` tasks send the bodies in turn, each waiting for its answer before the next."""
    latencies: list[float] = []
    routed = completion_tokens = errors = 0
    pending = iter(bodies)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=300, limits=limits) as session:
        await session.post(endpoint, json=bodies[0])  # warm up

        async def client() -> None:
            nonlocal routed, completion_tokens, errors
            for body in pending:
                start = time.perf_counter()
                response = await session.post(endpoint, json=body)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    errors += 1
                    continue
                data = response.json()
                routed += data["memedit"]["routed"]
                completion_tokens += data["usage"]["completion_tokens"]

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        seconds = time.perf_counter() - started
    ok = max(1, len(bodies) - errors)
    extra = {
        "routed": routed / ok,
        "completion_tokens_mean": completion_tokens / ok,
        "errors": errors,
    }
    return summary(f"HTTP {endpoint}", clients, latencies, seconds, extra)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    model: str, store: Path, port: int, max_queue: int, threads: int, log_file: Path
) -> Any:
    command = [
        sys.executable,
        "-m",
        "memedit",
        "serve",
        "--model",
        model,
        "--store",
        str(store),
        "--port",
        str(port),
        "--max-queue",
        str(max_queue),
        "--threads",
        str(threads),
    ]
    server = subprocess.Popen(command, stdout=log_file.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"memedit serve exited:\n{log_file.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("memedit serve did not start in 10 minutes")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CounterFact JSON")
    parser.add_argument("--edits", type=int, default=1000, help="first N records become edits")
    parser.add_argument("--model", help="hub id or folder (default: memedit's toy model)")
    parser.add_argument("--requests", type=int, default=200, help="requests per row")
    parser.add_argument("--clients", default="1,4,16", help="concurrent clients, comma-separated")
    parser.add_argument("--chat-clients", type=int, default=4, help="0 to skip the chat row")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, help="torch threads, here and in the server (default: as serve)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",") if c.strip()]
    if args.edits < 1 or args.requests < 2 or not levels or min(levels) < 1:
        parser.error("need --edits >= 1, --requests >= 2 and --clients >= 1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    threads = args.threads or default_threads()
    torch.set_num_threads(threads)  # the in-process calls get what the server gets

    records = [dict(r) for r in load_records(args.data)[: args.edits]]
    asked = questions(records, args.requests)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="memedit-serve-load-") as tmp:
        edits_file = Path(tmp) / "edits.json"
        edits_file.write_text(json.dumps(records))
        store_path = Path(tmp) / "store"
        with EditStore(store_path) as store:
            log(f"adding {len(records):,} CounterFact edits")
            store.add_file(edits_file, "counterfact", progress=False)
            live = len(store)
            model = args.model
            if model is None:
                from memedit.toymodel import train_toy_model

                log("training the toy model")
                toy = train_toy_model()
                model = str(Path(tmp) / "toy")
                toy.model.save_pretrained(model)
                toy.tokenizer.save_pretrained(model)
            editable = EditableModel.from_pretrained(model, store=store)
            template = editable.template
            log(f"in-process: {len(asked)} answer() calls")
            rows.append(in_process(editable, asked, args.max_tokens))
            del editable

        log("starting memedit serve")
        port = free_port()
        queue = max([*levels, args.chat_clients]) + 1
        server = start_server(model, store_path, port, queue, threads, Path(tmp) / "server.log")
        try:
            base_url = f"http://127.0.0.1:{port}"
            completions = [
                {"prompt": template.plain(q), "max_tokens": args.max_tokens, "temperature": 0}
                for q in asked
            ]
            for clients in levels:
                log(f"HTTP /v1/completions, {clients} clients")
                rows.append(
                    asyncio.run(over_http(base_url, "/v1/completions", completions, clients))
                )
            if args.chat_clients:
                chats = [
                    {
                        "messages": [{"role": "user", "content": q}],
                        "max_tokens": args.max_tokens,
                        "temperature": 0,
                    }
                    for q in asked
                ]
                log(f"HTTP /v1/chat/completions, {args.chat_clients} clients")
                rows.append(
                    asyncio.run(
                        over_http(base_url, "/v1/chat/completions", chats, args.chat_clients)
                    )
                )
        finally:
            server.terminate()
            server.wait(timeout=30)

    table = render_table(
        ["path", "clients", "requests", "req/s", "p50 ms", "p99 ms", "routed", "errors"],
        [
            [
                r["path"],
                r["clients"],
                r["requests"],
                f"{r['requests_per_s']:.1f}",
                f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{r['routed']:.2f}",
                r["errors"],
            ]
            for r in rows
        ],
    )
    print(
        f"\n{live:,} live edits; model {args.model or 'toy'}; max_tokens {args.max_tokens}; "
        f"{threads} torch threads\n"
    )
    print(table)
    write_results(
        args.out,
        {
            "benchmark": "serve_load",
            "environment": environment(),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "live_edits": live,
            "rows": rows,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
