"""Relational storage: the schema (SQLAlchemy 2), engines, migrations and the read/write paths.

Pure Python: the pipeline and the API both import this package; it never imports Dagster.
"""
