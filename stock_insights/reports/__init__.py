"""The daily report: facts of a trading day (``facts``), a deterministic Markdown template
(``template``) and an LLM writer guarded against invented numbers and citations (``writer``).

Pure: no Dagster import. The queries that gather the facts are in ``storage/reports.py``; the asset
is ``defs/reports/assets.py``.
"""
