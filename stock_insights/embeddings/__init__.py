"""Embeddings (pure Python): embedders, token counting, and the Milvus vector store."""
