"""`memedit serve`: a real uvicorn on a free loopback port, driven over HTTP with httpx.

Behaviour uses the trained toy model (it answers from edits in its prompt);
queueing and disconnects use a tiny random model slowed down per forward pass.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
import uvicorn
from click.testing import CliRunner
from transformers import LlamaConfig, LlamaForCausalLM

from memedit import EditStore
from memedit.bundle import read_bundle
from memedit.cli import cli
from memedit.cli.serve import default_threads
from memedit.model import EditableModel
from memedit.prompts import PromptTemplate
from memedit.server import create_app
from memedit.toymodel import (
    CHAT_TEMPLATE,
    ToyModel,
    toy_vocabulary_texts,
    word_tokenizer,
)

EIFFEL = "The Eiffel Tower is located in Rome."
KEY = "s3cret-admin-key"
ADMIN = {"Authorization": f"Bearer {KEY}"}


def question(text: str) -> str:
    """The plain prompt the toy model was trained on, for /v1/completions."""
    return PromptTemplate().plain(text)


@contextmanager
def serving(app: Any) -> Iterator[httpx.Client]:
    """Run ``app`` under uvicorn on a free 127.0.0.1 port in a thread; yield a client for it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
            yield client
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def toy_model(toy: ToyModel, store: EditStore) -> EditableModel:
    return EditableModel(toy.model, toy.tokenizer, store)


@pytest.fixture
def client(toy_model: EditableModel) -> Iterator[httpx.Client]:
    with serving(create_app(toy_model, admin_key=KEY, max_queue=64)) as running:
        yield running


def random_model(tokenizer: Any) -> Any:
    """A tiny random Llama that never stops early (no end-of-sequence token)."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = None
    return model


@pytest.fixture
def slow_model(store: EditStore) -> Iterator[EditableModel]:
    """A random tiny model that takes 20 ms per forward pass."""
    tokenizer = word_tokenizer(toy_vocabulary_texts(), chat_template=CHAT_TEMPLATE)
    model = random_model(tokenizer)
    hook = model.register_forward_pre_hook(lambda module, args: time.sleep(0.02))
    yield EditableModel(model, tokenizer, store)
    hook.remove()


def complete(client: httpx.Client, text: str, **extra: Any) -> dict[str, Any]:
    body = {"model": "toy", "prompt": question(text), "max_tokens": 4, "temperature": 0, **extra}
    response = client.post("/v1/completions", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def chat(client: httpx.Client, text: str) -> dict[str, Any]:
    body = {"model": "toy", "messages": [{"role": "user", "content": text}], "max_tokens": 4}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def sse(client: httpx.Client, path: str, body: dict[str, Any]) -> list[Any]:
    """The events of a streamed response: parsed chunks, then the string "[DONE]"."""
    with client.stream("POST", path, json={**body, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    payloads = [line.removeprefix("data: ") for line in lines]
    return [p if p == "[DONE]" else json.loads(p) for p in payloads]


# -- status and OpenAI shapes --------------------------------------------------------------------


def test_health_and_models(client: httpx.Client) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["edits"] == 0
    assert health["queue"] == {"running": 0, "waiting": 0, "max_waiting": 64}
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["object"] == "model"


def test_completions_and_chat_in_openai_shapes(client: httpx.Client) -> None:
    done = complete(client, "Where is the Big Ben?")
    assert done["object"] == "text_completion" and done["id"].startswith("cmpl-")
    assert done["model"] == "toy" and isinstance(done["created"], int)
    (choice,) = done["choices"]
    assert choice["text"] == "London" and choice["finish_reason"] == "stop"
    usage = done["usage"]
    assert usage["prompt_tokens"] > 5 and usage["completion_tokens"] >= 1
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert done["memedit"] == {"routed": False, "edits": []}

    cut = complete(client, "Where is the Big Ben?", max_tokens=1, stop=["zzz"])
    assert cut["usage"]["completion_tokens"] == 1 and cut["choices"][0]["finish_reason"] == "length"
    stopped = complete(client, "Where is the Big Ben?", stop="London")
    assert stopped["choices"][0]["text"] == "" and stopped["choices"][0]["finish_reason"] == "stop"

    defaults = complete(client, "Where is the Big Ben?", temperature=None, top_p=None, n=None)
    assert defaults["choices"][0]["text"] == "London"  # null means the default: greedy
    sampled = complete(client, "Where is the Big Ben?", temperature=0.7, top_p=0.9, max_tokens=2)
    assert sampled["usage"]["completion_tokens"] >= 1

    replied = chat(client, "Where is the Big Ben?")
    assert replied["object"] == "chat.completion" and replied["id"].startswith("chatcmpl-")
    message = replied["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"]
    assert replied["usage"]["total_tokens"] > 0 and replied["memedit"]["routed"] is False


def test_edits_added_and_removed_while_serving_change_the_next_answer(
    client: httpx.Client,
) -> None:
    assert complete(client, "Where is the Eiffel Tower?")["choices"][0]["text"] == "Paris"

    added = client.post("/v1/edits", json={"text": EIFFEL}, headers=ADMIN)
    assert added.status_code == 201 and added.json()["added"] is True
    edit_id = added.json()["edit"]["id"]

    done = complete(client, "Where is the Eiffel Tower?")
    assert done["choices"][0]["text"] == "Rome"
    assert done["memedit"]["routed"] is True
    (used,) = done["memedit"]["edits"]
    assert used["id"] == edit_id and used["text"] == EIFFEL and used["score"] > 0.66
    replied = chat(client, "In which city is the Eiffel Tower?")
    assert replied["choices"][0]["message"]["content"] == "Rome"
    assert replied["memedit"]["edits"][0]["id"] == edit_id
    # a follow-up question is routed with the user message before it
    follow_up = {
        "model": "toy",
        "max_tokens": 4,
        "messages": [
            {"role": "user", "content": "Tell me about the Eiffel Tower."},
            {"role": "assistant", "content": "It is a tower."},
            {"role": "user", "content": "In which city is it?"},
        ],
    }
    answered = client.post("/v1/chat/completions", json=follow_up).json()
    assert answered["memedit"]["edits"][0]["id"] == edit_id
    streamed = sse(client, "/v1/chat/completions", follow_up)
    assert streamed[0]["memedit"]["edits"][0]["id"] == edit_id
    unrelated = complete(client, "Where is the Big Ben?")
    assert unrelated["choices"][0]["text"] == "London" and not unrelated["memedit"]["routed"]

    again = client.post("/v1/edits", json={"text": EIFFEL}, headers=ADMIN)
    assert again.status_code == 200 and again.json()["added"] is False
    structured = client.post(
        "/v1/edits",
        json={"subject": "Big Ben", "prompt": "The Big Ben is located in", "target": "Oslo"},
        headers=ADMIN,
    )
    assert structured.status_code == 201 and structured.json()["edit"]["target"] == "Oslo"
    listed = client.get("/v1/edits", headers=ADMIN).json()["data"]
    assert {e["id"] for e in listed} == {edit_id, structured.json()["edit"]["id"]}

    deleted = client.delete(f"/v1/edits/{edit_id}", headers=ADMIN)
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    after = complete(client, "Where is the Eiffel Tower?")
    assert after["choices"][0]["text"] == "Paris" and after["memedit"]["routed"] is False
    gone = client.delete(f"/v1/edits/{edit_id}", headers=ADMIN)
    assert gone.status_code == 404 and "No edit with id" in gone.json()["error"]["message"]


def test_streams_end_with_done_and_add_up_to_the_answer(client: httpx.Client) -> None:
    client.post("/v1/edits", json={"text": EIFFEL}, headers=ADMIN).raise_for_status()
    messages = [{"role": "user", "content": "Where is the Eiffel Tower?"}]
    body = {"messages": messages, "max_tokens": 6}
    events = sse(client, "/v1/chat/completions", body)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[0]["memedit"]["routed"] is True
    assert chunks[0]["memedit"]["edits"][0]["text"] == EIFFEL
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    whole = client.post("/v1/chat/completions", json=body).json()
    assert text == whole["choices"][0]["message"]["content"] == "Rome"
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert chunks[-1]["usage"] == whole["usage"] and chunks[-1]["memedit"]["routed"] is True

    body = {"prompt": question("Where is the Big Ben?"), "max_tokens": 4}
    events = sse(client, "/v1/completions", body)
    assert events[-1] == "[DONE]" and all(c["object"] == "text_completion" for c in events[:-1])
    assert events[0]["memedit"] == {"routed": False, "edits": []}
    assert "".join(c["choices"][0]["text"] for c in events[:-1]) == "London"
    assert events[-2]["usage"]["completion_tokens"] >= 1


def test_counterfactual_mode_answers_in_scope_chat_with_the_counterfactual_model(
    toy: ToyModel, store: EditStore
) -> None:
    tokenizer = word_tokenizer(toy_vocabulary_texts())
    editable = EditableModel(
        random_model(tokenizer),  # an untrained base: only the counterfactual model knows
        tokenizer,
        store,
        mode="counterfactual",
        counterfactual_model=toy.model,
        counterfactual_tokenizer=toy.tokenizer,
    )
    store.add(EIFFEL)
    with serving(create_app(editable, admin_key=None, max_queue=4)) as client:
        replied = chat(client, "In which city is the Eiffel Tower?")
        assert replied["choices"][0]["message"]["content"] == "Rome"
        assert replied["memedit"]["edits"][0]["text"] == EIFFEL
        messages = [{"role": "user", "content": "In which city is the Eiffel Tower?"}]
        events = sse(client, "/v1/chat/completions", {"messages": messages, "max_tokens": 4})
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in events[:-1]) == "Rome"
        assert not chat(client, "Where is the Big Ben?")["memedit"]["routed"]


# -- bad requests ----------------------------------------------------------------------------------

USER = [{"role": "user", "content": "Where is the Eiffel Tower?"}]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/completions", {"prompt": "Hi", "max_tokens": 5000}, "max_tokens may be at most 1024"),
        ("/v1/chat/completions", {"messages": USER, "max_tokens": 0}, "max_tokens"),
        ("/v1/completions", {"prompt": "Hi", "temperature": 2.5}, "temperature"),
        ("/v1/chat/completions", {"messages": USER, "top_p": 0}, "top_p"),
        ("/v1/chat/completions", {"messages": USER, "n": 2}, "only n=1 is supported"),
        ("/v1/chat/completions", {"messages": []}, "messages: the list is empty"),
        ("/v1/chat/completions", {"messages": [{"role": "system", "content": "x"}]}, "role 'user'"),
        ("/v1/chat/completions", {"messages": [{"role": "robot", "content": "x"}]}, "role"),
        ("/v1/chat/completions", {}, "messages is required"),
        ("/v1/completions", {"prompt": " "}, "the prompt is empty"),
        ("/v1/completions", {"prompt": ["a", "b"]}, "one prompt per request"),
        ("/v1/completions", {"prompt": "Hi", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        (
            "/v1/completions",
            {"prompt": "Hi " * 300, "max_tokens": 10},
            "exceeds the model's context",
        ),
        ("/v1/completions", "not json {", "not valid JSON"),
        ("/v1/completions", [1, 2], "must be a JSON object"),
    ],
)
def test_bad_requests_get_400_with_a_clear_message(
    client: httpx.Client, path: str, body: Any, message: str
) -> None:
    if isinstance(body, str):
        response = client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        response = client.post(
            path, json={"model": "toy", **body} if isinstance(body, dict) else body
        )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert message in error["message"] and error["type"] == "invalid_request_error"


def test_a_too_long_prompt_is_refused_before_a_stream_starts(client: httpx.Client) -> None:
    body = {"prompt": "Hi " * 300, "max_tokens": 10, "stream": True}
    response = client.post("/v1/completions", json=body)
    assert response.status_code == 400 and "context" in response.json()["error"]["message"]


# -- edit administration ---------------------------------------------------------------------------------


def test_admin_routes_do_not_exist_without_a_key(toy_model: EditableModel) -> None:
    with serving(create_app(toy_model, admin_key=None, max_queue=4)) as client:
        assert client.get("/v1/edits").status_code == 404
        assert client.post("/v1/edits", json={"text": EIFFEL}, headers=ADMIN).status_code == 404
        assert client.delete("/v1/edits/01ABC", headers=ADMIN).status_code == 404
        assert client.get("/v1/edits/export", headers=ADMIN).status_code == 404
        assert complete(client, "Where is the Big Ben?")["choices"][0]["text"] == "London"


def test_admin_routes_need_the_right_key(client: httpx.Client, store: EditStore) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        response = client.post("/v1/edits", json={"text": EIFFEL}, headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert "admin key" in response.json()["error"]["message"]
        assert client.get("/v1/edits/export", headers=headers).status_code == 401
    assert len(store) == 0


def test_invalid_edits_get_the_library_message(client: httpx.Client) -> None:
    empty = client.post("/v1/edits", json={"text": "  "}, headers=ADMIN)
    assert empty.status_code == 400 and "An edit needs text" in empty.json()["error"]["message"]
    typo = client.post("/v1/edits", json={"txt": EIFFEL}, headers=ADMIN)
    assert typo.status_code == 400 and "txt is not a known field" in typo.json()["error"]["message"]
    huge = client.post("/v1/edits", json={"text": "x" * 5000}, headers=ADMIN)
    assert huge.status_code == 400
    nameless = client.post("/v1/edits", json={"text": "hello", "aliases": ["X"]}, headers=ADMIN)
    assert nameless.status_code == 400 and "Aliases are" in nameless.json()["error"]["message"]
    aliased = client.post(
        "/v1/edits", json={"text": EIFFEL, "aliases": ["La Dame de Fer"]}, headers=ADMIN
    )
    assert aliased.status_code == 201 and aliased.json()["edit"]["aliases"] == ["La Dame de Fer"]


def test_export_is_a_valid_bundle(client: httpx.Client, tmp_path: Path) -> None:
    client.post("/v1/edits", json={"text": EIFFEL}, headers=ADMIN).raise_for_status()
    response = client.get("/v1/edits/export", headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    path = tmp_path / "downloaded.memedit"
    path.write_bytes(response.content)
    bundle = read_bundle(path)
    assert [e.text for e in bundle.edits] == [EIFFEL] and bundle.vectors is not None


# -- the queue -------------------------------------------------------------------------------------------


def wait_until(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_full_queue_answers_503_with_retry_after(slow_model: EditableModel) -> None:
    with serving(create_app(slow_model, admin_key=None, max_queue=1)) as client:
        results: list[int] = []

        def slow_request() -> None:
            body = {"prompt": "Where is the Eiffel Tower?", "max_tokens": 100}
            results.append(client.post("/v1/completions", json=body).status_code)

        threads = [threading.Thread(target=slow_request) for _ in range(2)]
        for thread in threads:
            thread.start()
            time.sleep(0.1)
        wait_until(lambda: client.get("/health").json()["queue"]["waiting"] == 1)
        busy = client.post("/v1/completions", json={"prompt": "Hello", "max_tokens": 1})
        assert busy.status_code == 503
        assert int(busy.headers["retry-after"]) >= 1
        assert "busy" in busy.json()["error"]["message"]
        for thread in threads:
            thread.join()
        assert results == [200, 200]
        assert (
            client.post("/v1/completions", json={"prompt": "Hi", "max_tokens": 1}).status_code
            == 200
        )


def answered_soon(client: httpx.Client) -> None:
    """A short request succeeds within seconds: nothing else holds the model."""
    started = time.monotonic()
    while True:
        response = client.post("/v1/completions", json={"prompt": "Hi", "max_tokens": 2})
        if response.status_code == 200:
            break
        assert response.status_code == 503
        assert time.monotonic() - started < 5, "a request whose client left still holds the model"
        time.sleep(0.05)
    assert client.get("/health").json()["queue"] == {"running": 0, "waiting": 0, "max_waiting": 0}


def test_a_client_that_disconnects_frees_its_slot(slow_model: EditableModel) -> None:
    with serving(create_app(slow_model, admin_key=None, max_queue=0)) as client:
        body = {"prompt": "Where is the Eiffel Tower?", "max_tokens": 1000}
        with pytest.raises(httpx.ReadTimeout):  # the client gives up waiting
            client.post("/v1/completions", json=body, timeout=1)
        answered_soon(client)

        body = {"prompt": "Where is the Eiffel Tower?", "max_tokens": 1000, "stream": True}
        with client.stream("POST", "/v1/completions", json=body) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            texts = 0
            while texts < 2:  # the memedit chunk, then some text
                line = next(lines)
                texts += line.startswith("data: ")
        answered_soon(client)  # closed after a few of 1000 tokens (20 s of generation)


def test_forty_queries_and_twenty_adds_at_once(client: httpx.Client, store: EditStore) -> None:
    client.post("/v1/edits", json={"text": EIFFEL}, headers=ADMIN).raise_for_status()
    base_url = str(client.base_url)
    facts = [f"The Test Tower {i} is located in Oslo." for i in range(20)]

    async def run() -> tuple[list[httpx.Response], list[httpx.Response]]:
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as session:
            queries = []
            for i in range(40):
                if i % 2:
                    body = {"prompt": question("Where is the Eiffel Tower?"), "max_tokens": 3}
                    queries.append(session.post("/v1/completions", json=body))
                else:
                    messages = [{"role": "user", "content": "Where is the Big Ben?"}]
                    body = {"messages": messages, "max_tokens": 3}
                    queries.append(session.post("/v1/chat/completions", json=body))
            adds = [session.post("/v1/edits", json={"text": f}, headers=ADMIN) for f in facts]
            answered = await asyncio.gather(*queries, *adds)
            return list(answered[:40]), list(answered[40:])

    queries, adds = asyncio.run(run())
    assert [r.status_code for r in queries] == [200] * 40
    assert [r.status_code for r in adds] == [201] * 20
    eiffel = [r.json() for r in queries[1::2]]
    assert all(q["choices"][0]["text"] == "Rome" and q["memedit"]["routed"] for q in eiffel)
    stored = {e.text for e in store.edits()}
    assert stored == {EIFFEL, *facts}
    listed = client.get("/v1/edits", headers=ADMIN).json()["data"]
    assert len(listed) == 21


# -- the command -------------------------------------------------------------------------------------


@pytest.fixture
def toy_folder(toy: ToyModel, tmp_path: Path) -> Path:
    folder = tmp_path / "toy"
    toy.model.save_pretrained(folder)
    toy.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def torch_threads() -> Iterator[int]:
    """`memedit serve` sets torch's thread count for its process: restore it afterwards."""
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_serve_command(
    toy_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, torch_threads: int
) -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["serve", "--help"])
    assert shown.exit_code == 0 and "--admin-key-file" in shown.output
    assert "[default: 127.0.0.1]" in shown.output

    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    both = runner.invoke(cli, ["serve", "--admin-key", "x", "--admin-key-file", str(key_file)])
    assert both.exit_code == 2 and "not both" in both.output

    started: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append({"app": app, **kw}))
    store = ["--store", str(tmp_path / "s")]
    result = runner.invoke(cli, ["serve", "--model", str(toy_folder), *store])
    assert result.exit_code == 0, result.output
    assert started[-1]["host"] == "127.0.0.1" and started[-1]["port"] == 8000
    assert torch.get_num_threads() == default_threads()
    paths = {getattr(r, "path", "") for r in started[-1]["app"].routes}
    assert "/v1/chat/completions" in paths and "/v1/edits" not in paths  # no key, no admin

    monkeypatch.setenv("MEMEDIT_ADMIN_KEY", "from-the-environment")
    args = ["serve", "--model", str(toy_folder), "--admin-key-file", str(key_file), *store]
    args += ["--host", "0.0.0.0", "--port", "8123", "--threads", "1"]
    result = runner.invoke(cli, args)  # the file wins over the variable
    assert result.exit_code == 0, result.output
    assert KEY not in result.output and "from-the-environment" not in result.output
    assert (started[-1]["host"], started[-1]["port"]) == ("0.0.0.0", 8123)
    assert "Warning: listening on 0.0.0.0" in result.output and torch.get_num_threads() == 1
    with serving(started[-1]["app"]) as client:
        assert client.get("/v1/edits", headers=ADMIN).status_code == 200

    (tmp_path / "empty").write_text("\n")
    empty = runner.invoke(cli, ["serve", "--admin-key-file", str(tmp_path / "empty"), *store])
    assert empty.exit_code == 1 and "is empty" in empty.output


def test_serve_without_the_extra_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = CliRunner().invoke(cli, ["serve", "--model", "x", "--store", str(tmp_path / "s")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: memedit serve needs FastAPI and uvicorn (uvicorn is missing): install memedit[serve]."
    ]
