"""Which embedder the settings ask for."""

from __future__ import annotations

from stock_insights.embeddings.embedders import Embedder, HashingEmbedder, OpenAIEmbedder
from stock_insights.settings import Settings


def build_embedder(settings: Settings) -> Embedder:
    key = settings.OPENAI_API_KEY.get_secret_value()
    choice = settings.EMBEDDER
    if choice == "auto":
        choice = "openai" if key else "hashing"
    if choice == "hashing":
        return HashingEmbedder()
    if not key:
        raise ValueError("EMBEDDER=openai needs OPENAI_API_KEY (any OpenAI-compatible server's key)")
    return OpenAIEmbedder(
        api_key=key,
        base_url=settings.OPENAI_BASE_URL,
        model=settings.EMBEDDING_MODEL,
        dimension=settings.EMBEDDING_DIMENSIONS,
    )
