"""Ingestion: read exports (containers), map source shapes to records, normalize, store."""
