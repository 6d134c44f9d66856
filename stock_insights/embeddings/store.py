"""The Milvus vector store: one collection per embedding model and dimension.

Works against Milvus standalone (the default: the ``milvus`` package's 2.3 server that scripts/run.sh
and the tests start, or any 2.4+ server) and the ``milvus-lite server`` (opt-in) alike, through
``MILVUS_URI``. The index is chosen from the server's version (``index_plan``): HNSW on Milvus, with a
scalar index on ``first_seen_at`` of the kind that version has (INVERTED from 2.4, STL_SORT on 2.3);
FLAT on Milvus Lite (exact, and slow when filtered: seconds at 100,000 vectors).
Point-in-time filters (``first_seen_at`` before a cutoff, stock codes) run inside Milvus.

Reads use Session consistency: a process always sees its own writes (an asset that embeds then
retrieves, a test), and another process's writes within the server's time tick, without the wait a
Strong read costs on every search.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from pymilvus import CollectionSchema, DataType, MilvusClient, MilvusException
from pymilvus.milvus_client import IndexParams

log = logging.getLogger(__name__)

# What pymilvus logs for one call to a server that is not there: an ERROR with the traceback per failed RPC and
# a WARNING with the traceback per failed reconnection, about 150 lines per call. The failure still reaches the
# caller as an exception, and the caller reports it (the API once per outage: ``api.core.state``), so these
# records are dropped; every other pymilvus record passes.
_UNREACHABLE_MARKERS = ("Fail connecting to server", "failed to connect", "Connection recovery failed")


class _DropUnreachableServerNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(marker in message for marker in _UNREACHABLE_MARKERS)


for _name in ("pymilvus.decorators", "pymilvus.client.connection_manager"):
    logging.getLogger(_name).addFilter(_DropUnreachableServerNoise())

MAX_CODES = 16
DOC_TYPES = ("news", "disclosure", "report")
CONSISTENCY = "Session"
# HNSW build and search parameters (COSINE). ef is the search beam; it is at least the result count.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_EF = 64


@dataclass(frozen=True)
class IndexPlan:
    """The indexes and search parameters for one server version."""

    server: str  # the server's version string, as it reports it
    lite: bool  # Milvus Lite (milvus_lite-x.y.z), not a Milvus server
    version: tuple[int, int, int]
    vector_index: str  # "HNSW" or "FLAT"
    vector_params: dict[str, int]
    scalar_indexes: dict[str, str]  # field -> index type

    def search_params(self, limit: int) -> dict[str, object]:
        if self.vector_index == "HNSW":
            return {"metric_type": "COSINE", "params": {"ef": max(HNSW_EF, limit)}}
        return {"metric_type": "COSINE"}


def index_plan(server_version: str) -> IndexPlan:
    """Milvus Lite reports ``milvus_lite-3.2.2``; Milvus ``v2.3.5`` (the ``milvus`` package: ``v2.3.5-lite``,
    a full standalone server despite the suffix), ``v2.4.x``, ``v2.5.x``...

    - Milvus Lite: FLAT (its only vector index) and INVERTED on ``first_seen_at``.
    - Milvus >= 2.4: HNSW and INVERTED on ``first_seen_at``.
    - Milvus 2.3: HNSW and STL_SORT on ``first_seen_at`` (2.3 has no INVERTED index).
    - Older than 2.3: refused (no ARRAY fields for the stock codes).
    """
    text = str(server_version).strip()
    lite = text.lower().startswith(("milvus_lite", "milvus-lite"))
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    if not match:
        raise ValueError(f"cannot read a version from the Milvus server's answer {text!r}")
    version = (int(match[1]), int(match[2]), int(match[3]))
    if lite:
        return IndexPlan(text, True, version, "FLAT", {}, {"first_seen_at": "INVERTED"})
    if version < (2, 3, 0):
        raise ValueError(f"Milvus {text} is too old: the store needs 2.3 or later (ARRAY fields)")
    scalar = "INVERTED" if version >= (2, 4, 0) else "STL_SORT"
    params = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}
    return IndexPlan(text, False, version, "HNSW", params, {"first_seen_at": scalar})


@dataclass(frozen=True)
class VectorRecord:
    id: int
    vector: np.ndarray
    doc_type: str
    stock_codes: list[str]
    source: str
    published_at: datetime
    first_seen_at: datetime
    content_hash: str
    sql_id: str


@dataclass(frozen=True)
class Hit:
    id: int
    score: float
    doc_type: str
    sql_id: str
    stock_codes: list[str]
    source: str
    first_seen_at: int
    published_at: int


def _epoch(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return int(value.timestamp())


class VectorStore:
    def __init__(self, uri: str, collection: str, dimension: int, *, timeout: float = 10.0) -> None:
        self.uri = uri
        self.timeout = timeout
        self.collection = collection
        self.dimension = dimension
        self._client = self._connect(uri, timeout)
        self.plan = index_plan(self._client.get_server_version())
        self.lite = self.plan.lite

    @staticmethod
    def _connect(uri: str, timeout: float, attempts: int = 2) -> MilvusClient:
        # pymilvus pings idle connections every 10 s by default; a gRPC server counts pings without calls as
        # abuse and closes the connection ("GOAWAY too_many_pings", seen with Milvus Lite), and a client
        # created just then fails. No pings without calls, and a retry if a connection was closed anyway.
        for attempt in range(1, attempts + 1):
            try:
                return MilvusClient(
                    uri=uri, timeout=timeout, grpc_options={"grpc.keepalive_permit_without_calls": False}
                )
            except MilvusException as exc:
                # Nothing listening: no point waiting (the callers degrade without Milvus at once).
                if attempt == attempts or "refused" in str(exc.__cause__ or "").lower():
                    raise
                log.warning("Milvus connection failed (code %s), retrying (%d/%d)", exc.code, attempt, attempts)
                time.sleep(0.5)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._client.close()

    def _schema(self) -> CollectionSchema:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dimension)
        schema.add_field("doc_type", DataType.VARCHAR, max_length=16)
        schema.add_field(
            "stock_codes", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=MAX_CODES, max_length=6
        )
        schema.add_field("source", DataType.VARCHAR, max_length=32)
        schema.add_field("published_at", DataType.INT64)
        schema.add_field("first_seen_at", DataType.INT64)
        schema.add_field("content_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("sql_id", DataType.VARCHAR, max_length=64)
        return schema

    def _index_params(self) -> IndexParams:
        params = self._client.prepare_index_params()
        params.add_index(
            field_name="vector",
            index_type=self.plan.vector_index,
            metric_type="COSINE",
            **({"params": self.plan.vector_params} if self.plan.vector_params else {}),
        )
        for field_name, index_type in self.plan.scalar_indexes.items():
            params.add_index(field_name=field_name, index_type=index_type)
        return params

    def describe_index(self) -> dict[str, Any]:
        """The vector index as the server reports it (type, metric, build parameters)."""
        return dict(self._client.describe_index(self.collection, index_name="vector"))

    def index_progress(self) -> tuple[int, int]:
        """(indexed rows, total rows) of the vector index, as the server counts them."""
        info = self.describe_index()
        return int(info.get("indexed_rows", 0)), int(info.get("total_rows", 0))

    def flush_and_wait_indexed(self, timeout: float = 3600.0, poll: float = 1.0) -> float:
        """Seal what was written and wait until the server has indexed it; returns the seconds waited.

        For bulk loads, benchmarks and tests: searches are correct without it (unsealed rows are searched
        exactly), only slower."""
        t0 = time.monotonic()
        self._client.flush(self.collection)
        while True:
            indexed, total = self.index_progress()
            if total and indexed >= total:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"{self.collection}: {indexed:,} of {total:,} rows indexed after {timeout:.0f} s")
            time.sleep(poll)

    def ensure_collection(self) -> None:
        """Create the collection if it is missing. Safe when two processes race to create it."""
        if not self._client.has_collection(self.collection):
            try:
                self._client.create_collection(
                    self.collection,
                    schema=self._schema(),
                    index_params=self._index_params(),
                    consistency_level=CONSISTENCY,
                )
                log.info(
                    "created Milvus collection %s (%s on %s)", self.collection, self.plan.vector_index, self.plan.server
                )
            except MilvusException:
                # Another process won the race (Milvus says "already exists"; Milvus Lite may also fail
                # on its own files). If the collection is there now, it is the same schema: carry on.
                if not self._client.has_collection(self.collection):
                    raise
        if "vector" not in self._client.list_indexes(self.collection, field_name="vector"):
            # A creation interrupted between the collection and its index: finish it.
            try:
                self._client.create_index(self.collection, self._index_params())
            except MilvusException:
                if "vector" not in self._client.list_indexes(self.collection, field_name="vector"):
                    raise
        described = self._client.describe_collection(self.collection)
        dims = [f.get("params", {}).get("dim") for f in described["fields"] if f["name"] == "vector"]
        if dims and int(dims[0]) != self.dimension:
            raise ValueError(f"collection {self.collection} holds {dims[0]}-dimension vectors, not {self.dimension}")
        self._client.load_collection(self.collection)

    def load_state(self) -> str:
        """The collection's state on the server: ``Loaded``, ``Loading``, ``NotLoad`` or ``NotExist``."""
        if not self._client.has_collection(self.collection):
            return "NotExist"
        state = self._client.get_load_state(self.collection)["state"]
        return getattr(state, "name", str(state))

    def ensure_loaded(self) -> None:
        """Load the collection into the server's memory (waits for a load in progress), within the timeout."""
        log.info("Milvus collection %s is not loaded (%s): loading it", self.collection, self.load_state())
        self._client.load_collection(self.collection, timeout=self.timeout)

    def upsert(self, records: Sequence[VectorRecord]) -> int:
        if not records:
            return 0
        rows = [
            {
                "id": r.id,
                "vector": r.vector.astype(np.float32).tolist(),
                "doc_type": r.doc_type,
                "stock_codes": r.stock_codes[:MAX_CODES],
                "source": r.source[:32],
                "published_at": _epoch(r.published_at),
                "first_seen_at": _epoch(r.first_seen_at),
                "content_hash": r.content_hash,
                "sql_id": r.sql_id,
            }
            for r in records
        ]
        for start in range(0, len(rows), 1000):
            self._client.upsert(self.collection, rows[start : start + 1000])
        return len(rows)

    def count(self) -> int:
        result = self._client.query(
            self.collection, filter="", output_fields=["count(*)"], consistency_level=CONSISTENCY
        )
        return int(result[0]["count(*)"])

    def search(
        self,
        vector: np.ndarray,
        *,
        limit: int = 10,
        codes: Sequence[str] | None = None,
        before: datetime | None = None,
        doc_types: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Top ``limit`` by cosine similarity; filters (cutoff, codes, types) are applied by Milvus."""
        clauses = []
        if before is not None:
            clauses.append(f"first_seen_at < {_epoch(before)}")
        if codes:
            quoted = ", ".join(f'"{c}"' for c in codes if c.isdigit() and len(c) == 6)
            clauses.append(f"array_contains_any(stock_codes, [{quoted}])")
        if doc_types:
            quoted = ", ".join(f'"{t}"' for t in doc_types if t in DOC_TYPES)
            clauses.append(f"doc_type in [{quoted}]")
        def run() -> list[Any]:
            return self._client.search(
                self.collection,
                data=[vector.astype(np.float32).tolist()],
                limit=limit,
                filter=" and ".join(clauses),
                output_fields=["doc_type", "sql_id", "stock_codes", "source", "first_seen_at", "published_at"],
                search_params=self.plan.search_params(limit),
                consistency_level=CONSISTENCY,
            )

        try:
            result = run()
        except MilvusException as exc:
            # A restarted server brings collections back unloaded (or still loading): load on demand, once.
            if not _not_loaded(exc):
                raise
            self.ensure_loaded()
            result = run()
        return [
            Hit(
                id=int(h["id"]),
                score=float(h["distance"]),
                doc_type=h["entity"]["doc_type"],
                sql_id=h["entity"]["sql_id"],
                stock_codes=list(h["entity"]["stock_codes"]),
                source=h["entity"]["source"],
                first_seen_at=int(h["entity"]["first_seen_at"]),
                published_at=int(h["entity"]["published_at"]),
            )
            for h in result[0]
        ]


def _not_loaded(exc: MilvusException) -> bool:
    return exc.code == 101 or "not loaded" in str(exc.message).lower()


def vector_id(doc_type: str, sql_id: str) -> int:
    """A stable 63-bit id per document: re-embedding the same document replaces its vector."""
    import hashlib

    digest = hashlib.blake2b(f"{doc_type}:{sql_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF
