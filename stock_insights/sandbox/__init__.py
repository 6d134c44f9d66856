"""Local sandbox: one HTTP service that answers the upstream services' real wire formats.

``market`` simulates a deterministic Korean market (KRX sessions, daily bars, a latent news tone);
``kis`` serves the KIS Open API endpoints from it; ``app.create_app`` wires the routers. Run it with
``python -m stock_insights.sandbox --host 127.0.0.1 --port 8900`` and point the ``*_BASE_URL``
settings at it (``DATA_MODE=simulated``).
"""
