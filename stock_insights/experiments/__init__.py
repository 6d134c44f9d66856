"""A/B experiments between prediction models: pure Python, shared by the API and the pipeline."""
