"""Pure text processing for news and disclosures (no HTTP, no database, no Dagster).

``clean``            HTML tags and entities out of source text.
``urls``             canonical article URLs (tracking parameters removed, host and path normalised).
``hashing``          the content hash of a story (normalised title and body).
``items``            the typed news row every news client returns, and its batch report.
``dedupe``           one article per story across sources, pages and runs.
``linking``          stock links by code, name and alias, with their evidence.
``point_in_time``    the ``first_seen_at`` rule for live and backfilled items.
"""
