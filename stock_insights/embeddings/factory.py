"""Which embedder the settings ask for."""

from __future__ import annotations

from stock_insights.embeddings.embedders import Embedder, HashingEmbedder, OpenAIEmbedder
from stock_insights.settings import Settings


def build_embedder(settings: Settings) -> Embedder:
    return make_embedder(
        settings.EMBEDDER,
        api_key=settings.OPENAI_API_KEY.get_secret_value(),
        base_url=settings.OPENAI_BASE_URL,
        model=settings.EMBEDDING_MODEL,
        dimension=settings.EMBEDDING_DIMENSIONS,
    )


def make_embedder(choice: str, *, api_key: str, base_url: str, model: str, dimension: int) -> Embedder:
    """``auto``: the OpenAI-compatible API when ``api_key`` is set, else the offline hashing embedder."""
    if choice == "auto":
        choice = "openai" if api_key else "hashing"
    if choice == "hashing":
        return HashingEmbedder()
    if choice != "openai":
        raise ValueError(f"unknown embedder {choice!r}: auto, openai or hashing")
    if not api_key:
        raise ValueError("EMBEDDER=openai needs OPENAI_API_KEY (any OpenAI-compatible server's key)")
    return OpenAIEmbedder(api_key=api_key, base_url=base_url, model=model, dimension=dimension)
