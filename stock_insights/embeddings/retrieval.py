"""Retrieval for predictions: top-k documents about a stock, only those first seen before a cutoff."""

from __future__ import annotations

from datetime import datetime

from stock_insights.embeddings.embedders import Embedder
from stock_insights.embeddings.store import Hit, VectorStore


def retrieve(
    store: VectorStore, embedder: Embedder, *, code: str, query: str, before: datetime, limit: int = 8
) -> list[Hit]:
    """The cutoff and the stock filter run inside Milvus, so nothing later than ``before`` is ever returned."""
    if before.tzinfo is None:
        raise ValueError("the cutoff must be timezone-aware")
    vector = embedder.embed([query]).vectors[0]
    return store.search(vector, limit=limit, codes=[code], before=before)
