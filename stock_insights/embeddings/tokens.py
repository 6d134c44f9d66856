"""Token counting with tiktoken, offline.

tiktoken downloads its BPE files from OpenAI's blob store on first use, which no machine here can
reach. The ``bpe-openai`` package ships the same official ``cl100k_base`` file; we place it in
tiktoken's cache under the name tiktoken looks for, and tiktoken verifies its hash as usual.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

import tiktoken

# text-embedding-3-small and -large, and ada-002, all use cl100k_base.
ENCODING = "cl100k_base"
_BLOB = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "data-gym-cache"


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    cache = _cache_dir()
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache))
    target = cache / hashlib.sha1(_BLOB.encode()).hexdigest()
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        packed = resources.files("bpe_openai.data").joinpath(f"{ENCODING}.tiktoken.gz").read_bytes()
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(gzip.decompress(packed))
        tmp.replace(target)  # atomic: concurrent processes never see half a file
    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


def chunk_by_tokens(text: str, max_tokens: int) -> list[tuple[str, int]]:
    """Split text into pieces of at most ``max_tokens`` tokens; returns (piece, tokens) pairs."""
    enc = encoding()
    ids = enc.encode(text, disallowed_special=())
    if len(ids) <= max_tokens:
        return [(text, len(ids))]
    return [(enc.decode(ids[i : i + max_tokens]), len(ids[i : i + max_tokens])) for i in range(0, len(ids), max_tokens)]
