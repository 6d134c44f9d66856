"""``embeddings/documents``: every news article, disclosure and report in Milvus once."""

from datetime import date, datetime, time

import dagster as dg

from stock_insights import calendar
from stock_insights.calendar import KST
from stock_insights.defs.metadata import definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, trading_days
from stock_insights.defs.resources import DatabaseResource, EmbeddingsResource
from stock_insights.embeddings.documents import (
    documents_seen_between,
    register,
    registered_hashes,
)
from stock_insights.embeddings.store import VectorRecord, vector_id
from stock_insights.storage.db import session_scope

# Documents are filed under the trading day on or before the KST date we first saw them: a partition
# covers its session day and the days up to the next session (Friday's holds the weekend).
BATCH = 512
TEXT_ASSETS = [
    dg.AssetKey(k)
    for k in (["news", "naver"], ["news", "hankyung"], ["news", "maeil"], ["news", "reddit"], ["dart", "disclosures"])
]


def window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=KST)
    end = datetime.combine(calendar.next_session(day), time(0), tzinfo=KST)
    return start, end


@dg.asset(
    key=["embeddings", "documents"],
    group_name="embeddings",
    kinds={"python", "milvus"},
    description="Vectors of every news article, disclosure and report in Milvus (one collection per embedding "
    "model and dimension), filed by the trading day on or before the KST day they were first seen. Only documents "
    "that are new or whose content hash changed are embedded (hash registry in SQL): a re-materialization makes no "
    "embedding call. Runs as soon as new documents land.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=TEXT_ASSETS,
    pool="embeddings",
    metadata=definition_metadata(vector_store="Milvus (MILVUS_URI)"),
    automation_condition=dg.AutomationCondition.eager(),
)
def documents(
    context: dg.AssetExecutionContext, database: DatabaseResource, embeddings: EmbeddingsResource
) -> dg.MaterializeResult:
    days = partition_days(context)
    start, end = window(min(days))[0], window(max(days))[1]
    embedder = embeddings.embedder()
    store = embeddings.store(embedder)
    with session_scope(database.engine) as session:
        docs = documents_seen_between(session, start, end)
        known = registered_hashes(session, store.collection, docs)
    todo = [d for d in docs if known.get((d.doc_type, d.doc_id)) != d.content_hash]
    tokens = requests = 0
    cost = 0.0
    for offset in range(0, len(todo), BATCH):
        batch = todo[offset : offset + BATCH]
        result = embedder.embed([d.text for d in batch])
        tokens, requests, cost = tokens + result.tokens, requests + result.requests, cost + result.cost_usd
        records = [
            VectorRecord(
                id=vector_id(d.doc_type, d.doc_id),
                vector=v,
                doc_type=d.doc_type,
                stock_codes=d.stock_codes,
                source=d.source,
                published_at=d.published_at,
                first_seen_at=d.first_seen_at,
                content_hash=d.content_hash,
                sql_id=d.doc_id,
            )
            for d, v in zip(batch, result.vectors, strict=True)
        ]
        # Milvus first, then the registry: a crash in between re-embeds the batch, never skips it.
        store.upsert(records)
        per_doc = result.tokens // max(1, len(batch))
        with session_scope(database.engine) as session:
            register(session, store.collection, [(d, r.id, per_doc) for d, r in zip(batch, records, strict=True)])
    store.close()
    by_type: dict[str, int] = {}
    for d in todo:
        by_type[d.doc_type] = by_type.get(d.doc_type, 0) + 1
    preview = [
        {"type": d.doc_type, "id": d.doc_id, "codes": ",".join(d.stock_codes), "text": d.text[:60]} for d in todo[:10]
    ]
    context.log.info(f"{len(todo)} embedded, {len(docs) - len(todo)} unchanged, model {embedder.model}")
    return dg.MaterializeResult(
        metadata=run_metadata(
            len(todo),
            preview,
            embedded=len(todo),
            skipped_unchanged=len(docs) - len(todo),
            by_type=dg.MetadataValue.json(by_type),
            embedding_requests=requests,
            tokens=tokens,
            cost_usd=dg.MetadataValue.float(round(cost, 6)),
            model=embedder.model,
            collection=store.collection,
            window=f"{start.isoformat()} .. {end.isoformat()}",
        )
    )
