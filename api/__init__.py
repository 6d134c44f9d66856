"""The read API for the frontend (FastAPI). It imports the storage layer, never Dagster."""
