"""Jinja templates for digests and alerts (installed as sentiment.resources.templates)."""
