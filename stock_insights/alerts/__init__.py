"""Alerts: events from the pipeline's facts, per-user notifications, Slack-compatible webhooks.

``rules`` turns facts (filings, prices, forecasts, news sightings) into events with stable keys;
``webhook`` delivers a notification as Slack-compatible JSON with bounded retries; ``pipeline`` reads
the facts, stores the notifications and sends the new ones. No Dagster here.
"""
