"""Small helpers shared by test modules."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlite_utils


@contextmanager
def opened(path: Path) -> Iterator[sqlite_utils.Database]:
    """A store opened for reading in a test, closed afterwards."""
    db = sqlite_utils.Database(path)
    try:
        yield db
    finally:
        db.conn.close()
