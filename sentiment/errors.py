"""Named errors. Library code raises these; only the CLI turns them into messages."""
from __future__ import annotations


class SentimentError(Exception):
    """Base class of every expected failure; its text is shown to the user."""


class ConfigError(SentimentError):
    """A configuration file or value is invalid."""


class StoreError(SentimentError):
    """The SQLite store cannot be opened or migrated."""


class StoreBusy(SentimentError):
    """Another process kept the store's write lock longer than the caller would wait."""


class IngestError(SentimentError):
    """A whole input file cannot be read (binary, empty, truncated, no text column)."""


class RowError(SentimentError):
    """One input row cannot be used; it is quarantined with this message as reason."""


class ModelError(SentimentError):
    """A sentiment model file is missing, corrupt or incompatible."""


class RuleError(SentimentError):
    """A rule file or query is invalid."""
