"""Embedders: turn texts into unit vectors.

- ``HashingEmbedder``: offline, no model, no network. Character 1- to 3-grams of the normalised text
  (Korean syllables and Latin words alike), hashed into a fixed dimension with a sign bit, log-scaled
  counts, L2-normalised. It is *lexical*, not semantic: texts that share words and word pieces come
  close; paraphrases with different words do not.
- ``OpenAIEmbedder``: the embeddings API through the ``openai`` SDK (OpenAI, or any compatible
  server such as vLLM or Ollama by base URL and model name). Batches of at most 2048 inputs within the
  per-request token budget; inputs over 8191 tokens are split and their vectors averaged by tokens;
  429 and 5xx are retried with backoff by the SDK.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

MAX_INPUTS_PER_REQUEST = 2048
MAX_TOKENS_PER_INPUT = 8191
# OpenAI's documented cap on the total tokens of one embeddings request.
MAX_TOKENS_PER_REQUEST = 300_000
# USD per 1M input tokens (OpenAI price list); unknown models are costed at 0 and say so.
PRICE_PER_MILLION_TOKENS = {
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
}


@dataclass
class EmbeddingBatch:
    vectors: np.ndarray  # (n, dimension), float32, unit rows
    tokens: int = 0
    requests: int = 0
    cost_usd: float = 0.0
    notes: list[str] = field(default_factory=list)


class Embedder(Protocol):
    model: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> EmbeddingBatch: ...


def collection_name(model: str, dimension: int, prefix: str = "documents") -> str:
    """One Milvus collection per model and dimension; the name says which."""
    slug = re.sub(r"[^0-9a-zA-Z]+", "_", model).strip("_").lower()
    return f"{prefix}__{slug}__{dimension}"


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32)


_SPACES = re.compile(r"\s+")


class HashingEmbedder:
    """Lexical character n-gram embedder (see the module docstring). Deterministic across processes."""

    def __init__(self, dimension: int = 512, ngrams: tuple[int, ...] = (1, 2, 3)) -> None:
        self.dimension = dimension
        self.ngrams = ngrams
        self.model = f"hashing-char{''.join(map(str, ngrams))}gram-v1"

    def _features(self, text: str) -> Counter[str]:
        text = _SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()
        grams: Counter[str] = Counter()
        for token in text.split(" "):
            padded = f" {token} "
            for n in self.ngrams:
                if n == 1:
                    grams.update(token)
                else:
                    grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
        return grams

    def embed(self, texts: Sequence[str]) -> EmbeddingBatch:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for gram, count in self._features(text).items():
                digest = hashlib.blake2b(gram.encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                index = value % self.dimension
                sign = 1.0 if (value >> 63) & 1 else -1.0
                out[row, index] += sign * (1.0 + math.log(count))
        return EmbeddingBatch(vectors=_normalise(out))


class OpenAIEmbedder:
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        model: str = "text-embedding-3-small",
        dimension: int = 1536,
        max_retries: int = 5,
        timeout: float = 60.0,
        max_inputs: int = MAX_INPUTS_PER_REQUEST,
        max_tokens_per_request: int = MAX_TOKENS_PER_REQUEST,
    ) -> None:
        from openai import OpenAI

        self.model = model
        self.dimension = dimension
        self.max_inputs = max_inputs
        self.max_tokens_per_request = max_tokens_per_request
        # The SDK retries 408/409/429/5xx and connection errors with exponential backoff.
        self._client = OpenAI(api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout)

    def _batches(self, pieces: list[tuple[str, int]]) -> list[list[int]]:
        batches: list[list[int]] = [[]]
        tokens = 0
        for index, (_, n) in enumerate(pieces):
            if batches[-1] and (len(batches[-1]) >= self.max_inputs or tokens + n > self.max_tokens_per_request):
                batches.append([])
                tokens = 0
            batches[-1].append(index)
            tokens += n
        return [b for b in batches if b]

    def embed(self, texts: Sequence[str]) -> EmbeddingBatch:
        from openai import omit

        from stock_insights.embeddings.tokens import chunk_by_tokens

        pieces: list[tuple[str, int]] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            # An empty string is refused by the API; one space embeds as "nothing said".
            for piece in chunk_by_tokens(text or " ", MAX_TOKENS_PER_INPUT):
                pieces.append(piece)
                owner.append(i)
        vectors = np.zeros((len(pieces), self.dimension), dtype=np.float32)
        batch = EmbeddingBatch(vectors=np.zeros((len(texts), self.dimension), dtype=np.float32))
        for indices in self._batches(pieces):
            response = self._client.embeddings.create(
                model=self.model,
                input=[pieces[i][0] for i in indices],
                encoding_format="float",
                dimensions=self.dimension if self.model.startswith("text-embedding-3") else omit,
            )
            batch.requests += 1
            batch.tokens += response.usage.prompt_tokens if response.usage else sum(pieces[i][1] for i in indices)
            for item in response.data:
                vector = np.asarray(item.embedding, dtype=np.float32)
                if vector.shape != (self.dimension,):
                    raise ValueError(f"{self.model} answered {vector.shape[0]} dimensions, expected {self.dimension}")
                vectors[indices[item.index]] = vector
        # Chunks of one long text: average weighted by their tokens, then back to unit length.
        for piece_index, text_index in enumerate(owner):
            batch.vectors[text_index] += vectors[piece_index] * pieces[piece_index][1]
        batch.vectors = _normalise(batch.vectors)
        price = PRICE_PER_MILLION_TOKENS.get(self.model)
        if price is None:
            batch.notes.append(f"no price known for {self.model}: cost counted as 0")
        batch.cost_usd = batch.tokens / 1_000_000 * (price or 0.0)
        return batch
