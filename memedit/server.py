"""An OpenAI-compatible HTTP API over an :class:`~memedit.model.EditableModel`, with live edits.

``create_app(editable, admin_key=..., max_queue=...)`` returns a FastAPI app:
``/v1/chat/completions`` and ``/v1/completions`` in OpenAI's shapes (``stream``
as server-sent events), each response with a ``memedit`` object saying whether
the query was routed and to which edits; ``/v1/edits`` to list, add, remove and
export edits while the server runs (only with an admin key). ``memedit serve``
runs it with uvicorn; FastAPI and uvicorn come with ``pip install 'memedit[serve]'``.

A torch model generates one request at a time, so generation runs on one
worker thread, off the event loop; at most ``max_queue`` requests wait for it
and the next one gets 503 with Retry-After. Every query routes against the
store as it is when the query starts, so an edit added through the API is
seen by the next query.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

from memedit.edits import EditDraft
from memedit.errors import EditNotFoundError, MemeditError, StoreLockedError
from memedit.model import DEFAULT_MAX_NEW_TOKENS, EditableModel
from memedit.router import RoutedEdit

log = logging.getLogger("memedit.server")

MAX_STOP_SEQUENCES = 4  # as OpenAI


# -- request bodies ------------------------------------------------------------------------------


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def as_dict(self) -> dict[str, str]:
        """The message as EditableModel.chat() takes it ("developer" is OpenAI's new "system")."""
        content = (
            self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        )
        return {"role": "system" if self.role == "developer" else self.role, "content": content}


class GenerationRequest(BaseModel):
    """Fields shared by both endpoints. Unknown OpenAI fields are accepted and ignored."""

    # null means "the default", as with OpenAI
    model: str | None = None  # any name is accepted and echoed: this server serves one model
    max_tokens: int | None = Field(None, ge=1)
    # memedit defaults to greedy decoding (OpenAI: 1.0) so that answers are reproducible
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    n: int | None = None
    stream: bool | None = False

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int | None) -> int | None:
        if n not in (None, 1):
            raise ValueError("only n=1 is supported; send one request per completion")
        return n

    @field_validator("stop")
    @classmethod
    def _stops(cls, stop: str | list[str] | None) -> list[str]:
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if len(stops) > MAX_STOP_SEQUENCES or any(not s for s in stops):
            raise ValueError(f"give at most {MAX_STOP_SEQUENCES} non-empty stop sequences")
        return stops

    def stops(self) -> list[str]:
        return list(self.stop or [])


class ChatRequest(GenerationRequest):
    messages: list[ChatMessage]
    max_completion_tokens: int | None = Field(None, ge=1)  # newer name of max_tokens

    @field_validator("messages")
    @classmethod
    def _has_question(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if not any(m.role == "user" for m in messages):
            empty = "" if messages else "the list is empty; "
            raise ValueError(f"{empty}give at least one message with role 'user'")
        return messages


class CompletionRequest(GenerationRequest):
    prompt: str | list[str]

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, prompt: str | list[str]) -> str | list[str]:
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if len(prompts) != 1:
            raise ValueError("give one prompt per request (a string)")
        if not prompts[0].strip():
            raise ValueError("the prompt is empty")
        return prompts[0]


class EditRequest(BaseModel):
    """A new edit: ``text``, or structured fields, as ``memedit add`` takes them."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not a silent no-op

    text: str | None = None
    subject: str | None = None
    prompt: str | None = None
    target: str | None = None
    relation: str | None = None
    source: str | None = None
    tags: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)  # other names of the subject


# -- response bodies -----------------------------------------------------------------------------


class EditRef(BaseModel):
    id: str
    text: str
    score: float


class MemeditInfo(BaseModel):
    """Whether the query was in scope of an edit, and the edits its answer used."""

    routed: bool
    edits: list[EditRef]

    @classmethod
    def of(cls, edits: Sequence[RoutedEdit]) -> MemeditInfo:
        refs = [EditRef(id=e.id, text=e.text, score=round(e.score, 6)) for e in edits]
        return cls(routed=bool(refs), edits=refs)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    memedit: MemeditInfo


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    memedit: MemeditInfo | None = None


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    logprobs: None = None
    finish_reason: str | None = None


class Completion(BaseModel):
    """A text completion, or (with ``stream``) one chunk of it, as OpenAI sends both."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    memedit: MemeditInfo | None = None


# -- errors --------------------------------------------------------------------------------------


class APIError(Exception):
    """An error answered in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        kind: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.kind = status, message, param, kind
        self.headers = dict(headers) if headers else None

    def response(self) -> JSONResponse:
        error = {"message": self.message, "type": self.kind, "param": self.param, "code": None}
        return JSONResponse({"error": error}, status_code=self.status, headers=self.headers)


def _validation_message(errors: Sequence[Any]) -> tuple[str, str | None]:
    """One readable line from pydantic's errors, and the first field they name."""
    lines: list[str] = []
    params: list[str] = []
    for error in errors[:3]:
        kind = error.get("type")
        where = (
            ""
            if kind == "json_invalid"
            else ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        )
        if kind == "json_invalid":
            detail = (error.get("ctx") or {}).get("error", "")
            lines.append(f"The request body is not valid JSON ({detail}); send a JSON object.")
        elif not where:
            lines.append("The request body must be a JSON object.")
        elif kind == "missing":
            lines.append(f"{where} is required.")
        elif kind == "extra_forbidden":
            lines.append(f"{where} is not a known field.")
        else:
            lines.append(f"{where}: {str(error.get('msg', '')).removeprefix('Value error, ')}.")
        if where:
            params.append(where)
    return " ".join(lines), (params[0] if params else None)


# -- generation on the worker thread ------------------------------------------------------------


class _Halt(StoppingCriteria):
    """Stops generate() between tokens once the event is set (client gone, stop string seen)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        stop = self.event.is_set()
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class _Streamer(TextStreamer):
    """Decodes generated tokens and passes on only text that no stop string can take back.

    The text is cut at the earliest stop string; text that could be the start
    of one is held back until it cannot. With ``strip`` (chat, as
    EditableModel.chat() does) leading and trailing whitespace is dropped, so a
    stream adds up to exactly the non-streamed answer.
    """

    def __init__(
        self,
        tokenizer: Any,
        stops: Sequence[str],
        *,
        strip: bool,
        halt: threading.Event,
        on_text: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.stops = [s for s in stops if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.strip, self.halt, self.on_text = strip, halt, on_text
        self.raw = ""
        self.text = ""  # what has been passed on
        self.tokens = 0
        self.last_token: int | None = None
        self.stopped = False

    def put(self, value: torch.Tensor) -> None:
        if not (self.skip_prompt and self.next_tokens_are_prompt):
            self.tokens += int(value.numel())
            self.last_token = int(value.reshape(-1)[-1])
        super().put(value)

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if self.stopped:
            return
        self.raw += text
        found = [i for i in (self.raw.find(s) for s in self.stops) if i >= 0]
        if found:
            self.stopped = True
            self.halt.set()
            visible = self.raw[: min(found)]
        else:
            visible = self.raw if stream_end else self.raw[: max(0, len(self.raw) - self.hold)]
        if self.strip:
            visible = visible.strip()
        new, self.text = visible[len(self.text) :], visible
        if new and self.on_text is not None:
            self.on_text(new)

    def finish_reason(self, max_tokens: int, eos: Any) -> str:
        eos_ids = set(eos) if isinstance(eos, list | tuple) else {eos}
        hit_limit = self.tokens >= max_tokens and self.last_token not in eos_ids
        return "length" if hit_limit and not self.stopped else "stop"


@dataclass(frozen=True)
class Sampling:
    """Validated generation settings of one request."""

    max_tokens: int
    temperature: float
    top_p: float
    stops: list[str]

    def generate_kwargs(self) -> dict[str, Any]:
        if self.temperature == 0:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p}


@dataclass
class Result:
    text: str
    info: MemeditInfo
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str

    def usage(self) -> Usage:
        total = self.prompt_tokens + self.completion_tokens
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=total,
        )


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


@dataclass
class Job:
    """One request's generation: its events flow from the worker thread to the event loop."""

    loop: asyncio.AbstractEventLoop
    stream: bool
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    halt: threading.Event = field(default_factory=threading.Event)
    future: Future[None] | None = None

    def emit(self, kind: str, value: Any) -> None:
        """Called on the worker thread: "meta", "text", "done" or "error"."""
        _call_soon(self.loop, self.events.put_nowait, (kind, value))

    def text(self, piece: str) -> None:
        self.emit("text", piece)

    def criteria(self) -> StoppingCriteriaList:
        return StoppingCriteriaList([_Halt(self.halt)])

    async def next(self, request: Request) -> tuple[str, Any]:
        """The next event; stops the job when the client has gone away meanwhile."""
        while True:
            try:
                return await asyncio.wait_for(self.events.get(), timeout=0.5)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    self.cancel()
                    raise ClientGone from None

    def cancel(self) -> None:
        """Stop generating (or never start): frees the worker for the next request."""
        self.halt.set()
        if self.future is not None:
            self.future.cancel()  # only succeeds while it still waits in the queue


def _call_soon(loop: asyncio.AbstractEventLoop, func: Callable[..., None], *args: Any) -> None:
    """Run ``func`` on the event loop, from any thread (not at all once the server has stopped)."""
    with contextlib.suppress(RuntimeError):  # the loop is closed
        loop.call_soon_threadsafe(func, *args)


class Worker:
    """One generation at a time on a dedicated thread; at most ``max_queue`` waiting."""

    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self.active = 0  # running + waiting; only touched on the event loop
        self.seconds_per_job = 1.0  # a running average, for Retry-After
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memedit-generate")

    @property
    def waiting(self) -> int:
        return max(0, self.active - 1)

    def submit(self, job: Job, work: Callable[[Job], Result]) -> None:
        if self.active > self.max_queue:
            retry = max(1, math.ceil(self.seconds_per_job * self.active))
            raise APIError(
                503,
                f"The server is busy ({self.max_queue} requests are waiting); retry in {retry} s.",
                kind="server_busy",
                headers={"Retry-After": str(retry)},
            )
        self.active += 1
        job.future = self._executor.submit(self._run, job, work)
        job.future.add_done_callback(lambda future: self._dropped(job, future))

    def _run(self, job: Job, work: Callable[[Job], Result]) -> None:
        outcome: tuple[str, Any] | None = None
        started = time.perf_counter()
        try:
            if not job.halt.is_set():  # else its client left while it waited
                outcome = ("done", work(job))
        except Exception as exc:
            outcome = ("error", exc)
        finally:
            self.seconds_per_job = 0.8 * self.seconds_per_job + 0.2 * (
                time.perf_counter() - started
            )
            # Free the slot before the answer goes out: a client holding its answer
            # never finds the server still busy with it.
            _call_soon(job.loop, self._release)
        if outcome is not None:
            job.emit(*outcome)

    def _dropped(self, job: Job, future: Future[None]) -> None:
        if future.cancelled():  # cancelled while waiting: _run never ran
            _call_soon(job.loop, self._release)

    def _release(self) -> None:
        self.active -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _context_size(model: Any) -> int | None:
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def chat_work(
    editable: EditableModel, messages: list[dict[str, str]], sampling: Sampling
) -> Callable[[Job], Result]:
    """Answer a conversation through EditableModel.chat() (or, in counterfactual mode, in scope,
    answer() with the counterfactual model)."""
    question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    counterfactual = editable.mode == "counterfactual"

    def work(job: Job) -> Result:
        # Routed once, here: the first chunk of a stream names the edits before generation
        # starts, and the counterfactual decision needs the route; chat() and answer() take it.
        route = editable.route_conversation(messages)
        chosen = editable.select_edits(route)
        if job.stream:
            job.emit("meta", MemeditInfo.of(chosen))
        use_counterfactual = counterfactual and bool(chosen)
        tokenizer = editable.counterfactual_tokenizer if use_counterfactual else editable.tokenizer
        template = editable.counterfactual_template if use_counterfactual else editable.template
        streamer = _Streamer(
            tokenizer,
            [*template.stop, *sampling.stops],
            strip=True,
            halt=job.halt,
            on_text=job.text if job.stream else None,
        )
        options = {
            "max_new_tokens": sampling.max_tokens,
            "streamer": streamer,
            "stopping_criteria": job.criteria(),
            **sampling.generate_kwargs(),
        }
        if use_counterfactual:
            answer = editable.answer(question, route=route, **options)
        else:
            answer = editable.chat(messages, route=route, **options)
        prompt = tokenizer(answer.prompt, add_special_tokens=not template.uses_chat(tokenizer))
        return Result(
            streamer.text,
            MemeditInfo.of(answer.edits),
            len(prompt["input_ids"]),
            streamer.tokens,
            streamer.finish_reason(sampling.max_tokens, tokenizer.eos_token_id),
        )

    return work


def completion_work(
    editable: EditableModel, prompt: str, sampling: Sampling
) -> Callable[[Job], Result]:
    """Continue ``prompt``, as EditableModel.generate() does: in scope, the edit context goes
    before the prompt; out of scope, the base model gets the prompt exactly as given.

    The prompt is routed once, here, so that the ``memedit`` object names exactly the edits
    the continuation used (generate() would route again and cannot report its edits).
    """

    def work(job: Job) -> Result:
        chosen = editable.select_edits(editable.route(prompt))
        tokenizer, model = editable.tokenizer, editable.model
        ids = list(tokenizer(prompt)["input_ids"])
        if chosen:
            ids = editable._with_context(ids, chosen)
        context = _context_size(model)
        if context is not None and len(ids) + sampling.max_tokens > context:
            with_edits = " with the edit context" if chosen else ""
            raise MemeditError(
                f"The prompt ({len(ids)} tokens{with_edits}) plus max_tokens ({sampling.max_tokens}) "
                f"exceeds the model's context of {context} tokens; shorten the prompt or lower max_tokens."
            )
        info = MemeditInfo.of(chosen)
        if job.stream:
            job.emit("meta", info)
        streamer = _Streamer(
            tokenizer,
            sampling.stops,
            strip=False,
            halt=job.halt,
            on_text=job.text if job.stream else None,
        )
        pad = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        input_ids = torch.tensor([ids], device=model.device)
        with torch.no_grad():
            model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=sampling.max_tokens,
                pad_token_id=pad,
                streamer=streamer,
                stopping_criteria=job.criteria(),
                **sampling.generate_kwargs(),
            )
        eos = model.generation_config.eos_token_id
        return Result(
            streamer.text,
            info,
            len(ids),
            streamer.tokens,
            streamer.finish_reason(sampling.max_tokens, eos),
        )

    return work


# -- the app ---------------------------------------------------------------------------------------


ChunkMaker = Callable[[str | None, Result | None, MemeditInfo | None], BaseModel]


def _sse(payload: BaseModel | str) -> str:
    data = payload if isinstance(payload, str) else payload.model_dump_json(exclude_none=True)
    return f"data: {data}\n\n"


def create_app(
    editable: EditableModel,
    *,
    admin_key: str | None,
    max_queue: int = 16,
    max_tokens: int = 1024,
    default_max_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    model_name: str | None = None,
) -> FastAPI:
    """The FastAPI app serving ``editable``.

    ``admin_key`` enables the ``/v1/edits`` routes (bearer auth); without one they do
    not exist. ``max_queue`` is how many requests may wait for the model before the next
    gets 503; ``max_tokens`` caps what a request may ask for.
    """
    if max_queue < 0 or max_tokens < 1 or not 1 <= default_max_tokens <= max_tokens:
        raise MemeditError(
            "max_queue must be >= 0, and 1 <= default_max_tokens <= max_tokens; "
            f"got {max_queue}, {default_max_tokens}, {max_tokens}."
        )
    if admin_key is not None and not admin_key.strip():
        raise MemeditError("The admin key is empty; give a non-empty key or none.")
    name = model_name or editable.base_model_id or "memedit"
    worker = Worker(max_queue)
    store = editable.store
    started = int(time.time())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        worker.shutdown()

    app = FastAPI(
        title="memedit", summary="OpenAI-compatible API with live edits", lifespan=lifespan
    )

    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc.errors())
        return APIError(400, message, param=param).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found" if exc.status_code == 404 else "invalid_request_error"
        return APIError(exc.status_code, str(exc.detail), kind=kind, headers=exc.headers).response()

    @app.exception_handler(ClientGone)
    async def client_gone(_: Request, __: ClientGone) -> Response:
        return Response(status_code=499)  # nobody reads it; nginx's code for "client closed"

    @app.exception_handler(MemeditError)
    async def memedit_error(_: Request, exc: MemeditError) -> JSONResponse:
        return _library_error(exc).response()

    def sampling_of(body: GenerationRequest, requested: int | None) -> Sampling:
        wanted = requested or default_max_tokens
        if wanted > max_tokens:
            raise APIError(
                400,
                f"max_tokens may be at most {max_tokens} on this server; got {wanted}.",
                param="max_tokens",
            )
        temperature = 0.0 if body.temperature is None else body.temperature
        top_p = 1.0 if body.top_p is None else body.top_p
        return Sampling(wanted, temperature, top_p, body.stops())

    def start(stream: bool, work: Callable[[Job], Result]) -> Job:
        job = Job(asyncio.get_running_loop(), stream)
        worker.submit(job, work)  # 503 when the queue is full
        return job

    async def outcome(request: Request, job: Job) -> Result:
        """Wait for a non-streamed job's result."""
        try:
            while True:
                kind, value = await job.next(request)
                if kind == "done":
                    return value
                if kind == "error":
                    raise _job_error(value)
        finally:
            job.cancel()  # a no-op once done; stops the work if the handler is cancelled

    async def stream_response(request: Request, job: Job, chunk: ChunkMaker) -> StreamingResponse:
        """Server-sent events: a first chunk with the ``memedit`` object, one per piece of
        text, a last one with finish_reason, usage and the edits used, then ``[DONE]``.

        The first event is awaited before the response starts, so that an error found
        before generation (a prompt too long, say) still gets its proper status.
        """
        try:
            first = await job.next(request)
        except BaseException:
            job.cancel()
            raise
        if first[0] == "error":
            job.cancel()
            raise _job_error(first[1])

        async def events() -> AsyncIterator[str]:
            try:
                kind, value = first
                while True:
                    if kind == "meta":
                        yield _sse(chunk(None, None, value))
                    elif kind == "text":
                        yield _sse(chunk(value, None, None))
                    elif kind == "done":
                        yield _sse(chunk(None, value, value.info))
                        break
                    else:
                        error = _job_error(value)
                        yield _sse(
                            json.dumps({"error": {"message": error.message, "type": error.kind}})
                        )
                        break
                    kind, value = await job.next(request)
                yield _sse("[DONE]")
            except ClientGone:
                return
            finally:
                job.cancel()  # all was sent, or the client left (the generator is cancelled)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    # -- status ----------------------------------------------------------------------------------

    @app.get("/health")
    async def health() -> dict[str, Any]:
        edits = await run_in_threadpool(len, store)
        return {
            "status": "ok",
            "model": name,
            "mode": editable.mode,
            "edits": edits,
            "queue": {
                "running": min(1, worker.active),
                "waiting": worker.waiting,
                "max_waiting": max_queue,
            },
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        model = {"id": name, "object": "model", "created": started, "owned_by": "memedit"}
        return {"object": "list", "data": [model]}

    # -- generation --------------------------------------------------------------------------------

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(
        body: ChatRequest, request: Request
    ) -> ChatCompletion | StreamingResponse:
        sampling = sampling_of(body, body.max_completion_tokens or body.max_tokens)
        messages = [m.as_dict() for m in body.messages]
        job = start(bool(body.stream), chat_work(editable, messages, sampling))
        reply_id, created, model = (
            f"chatcmpl-{uuid.uuid4().hex}",
            int(time.time()),
            body.model or name,
        )
        if not body.stream:
            result = await outcome(request, job)
            choice = ChatChoice(
                message=AssistantMessage(content=result.text), finish_reason=result.finish_reason
            )
            return ChatCompletion(
                id=reply_id,
                created=created,
                model=model,
                choices=[choice],
                usage=result.usage(),
                memedit=result.info,
            )

        def chunk(text: str | None, result: Result | None, info: MemeditInfo | None) -> BaseModel:
            if result is not None:  # the last chunk: why it ended, usage, the edits used
                choice = ChunkChoice(delta=Delta(), finish_reason=result.finish_reason)
                return ChatCompletionChunk(
                    id=reply_id,
                    created=created,
                    model=model,
                    choices=[choice],
                    usage=result.usage(),
                    memedit=info,
                )
            delta = Delta(content=text) if text is not None else Delta(role="assistant", content="")
            return ChatCompletionChunk(
                id=reply_id,
                created=created,
                model=model,
                choices=[ChunkChoice(delta=delta)],
                memedit=info,
            )

        return await stream_response(request, job, chunk)

    @app.post("/v1/completions", response_model=None)
    async def completions(
        body: CompletionRequest, request: Request
    ) -> Completion | StreamingResponse:
        sampling = sampling_of(body, body.max_tokens)
        assert isinstance(body.prompt, str)  # the validator leaves one string
        job = start(bool(body.stream), completion_work(editable, body.prompt, sampling))
        reply_id, created, model = f"cmpl-{uuid.uuid4().hex}", int(time.time()), body.model or name
        if not body.stream:
            result = await outcome(request, job)
            choice = CompletionChoice(text=result.text, finish_reason=result.finish_reason)
            return Completion(
                id=reply_id,
                created=created,
                model=model,
                choices=[choice],
                usage=result.usage(),
                memedit=result.info,
            )

        def chunk(text: str | None, result: Result | None, info: MemeditInfo | None) -> BaseModel:
            choice = CompletionChoice(
                text=text or "", finish_reason=result.finish_reason if result else None
            )
            usage = result.usage() if result is not None else None
            return Completion(
                id=reply_id,
                created=created,
                model=model,
                choices=[choice],
                usage=usage,
                memedit=info,
            )

        return await stream_response(request, job, chunk)

    if admin_key is not None:
        app.include_router(_admin_routes(editable, admin_key))
    return app


def _admin_routes(editable: EditableModel, admin_key: str) -> APIRouter:
    """``/v1/edits``: list, add, remove and export edits while the server runs."""
    store = editable.store
    expected = admin_key.strip().encode("utf-8")

    def require_admin(request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": "Bearer"}
        if scheme.lower() != "bearer" or not token.strip():
            raise APIError(
                401,
                "This endpoint needs the admin key: send 'Authorization: Bearer <key>'.",
                kind="authentication_error",
                headers=challenge,
            )
        if not hmac.compare_digest(token.strip().encode("utf-8"), expected):
            raise APIError(
                401, "The admin key is wrong.", kind="authentication_error", headers=challenge
            )

    router = APIRouter(prefix="/v1/edits", dependencies=[Depends(require_admin)])

    @router.get("")
    async def list_edits(include_superseded: bool = False) -> dict[str, Any]:
        edits = await run_in_threadpool(store.edits, include_superseded=include_superseded)
        return {"object": "list", "data": [e.to_dict() for e in edits]}

    @router.post("", status_code=201)
    async def add_edit(body: EditRequest) -> JSONResponse:
        draft = EditDraft(
            text=body.text,
            subject=body.subject,
            prompt=body.prompt,
            target=body.target,
            relation=body.relation,
            source=body.source,
            tags=tuple(body.tags),
            aliases=tuple(body.aliases),
        )
        result = await run_in_threadpool(store.add_many, [draft])  # embedding is CPU work
        added = bool(result.added)
        edit = (result.added or result.duplicates)[0]
        superseded = [{"id": old, "superseded_by": new} for old, new in result.superseded]
        return JSONResponse(
            {"edit": edit.to_dict(), "added": added, "superseded": superseded},
            status_code=201 if added else 200,
        )

    @router.get("/export")
    async def export() -> Response:
        def bundle() -> bytes:
            with tempfile.TemporaryDirectory(prefix="memedit-export-") as scratch:
                return store.export(Path(scratch) / "edits.memedit").read_bytes()

        data = await run_in_threadpool(bundle)
        disposition = 'attachment; filename="edits.memedit"'
        return Response(
            data, media_type="application/zip", headers={"Content-Disposition": disposition}
        )

    @router.delete("/{edit_id}")
    async def delete_edit(edit_id: str) -> dict[str, Any]:
        def remove() -> str:
            wanted = edit_id.strip().upper()
            try:
                found = store.get(wanted).id == wanted  # a path names one edit: no id prefixes
            except EditNotFoundError:
                found = False
            if not found:
                raise EditNotFoundError(f"No edit with id {edit_id!r}; GET /v1/edits lists them.")
            return store.remove([wanted])[0].id

        removed = await run_in_threadpool(remove)
        return {"id": removed, "object": "edit", "deleted": True}

    return router


def _library_error(exc: MemeditError) -> APIError:
    if isinstance(exc, EditNotFoundError):
        return APIError(404, str(exc), kind="not_found")
    if isinstance(exc, StoreLockedError):
        return APIError(503, str(exc), kind="server_busy", headers={"Retry-After": "5"})
    return APIError(400, str(exc))


def _job_error(exc: BaseException) -> APIError:
    if isinstance(exc, MemeditError):
        return _library_error(exc)
    log.error("generation failed", exc_info=exc)
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return APIError(
        500,
        f"Generation failed ({type(exc).__name__}: {reason}); see the server log.",
        kind="server_error",
    )
