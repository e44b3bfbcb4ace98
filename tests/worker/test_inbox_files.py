"""The inbox takes regular files only: a symlink is never followed (a link to /etc/passwd must not
copy its first line into failed/), a FIFO never blocks the poll; both are left where they are,
with one warning each."""
from __future__ import annotations

import errno
import logging
import os
import threading
from pathlib import Path

import pytest

from sentiment import store
from sentiment.config import load_settings
from sentiment.worker.inbox import InboxState, poll_inbox

DATA = Path(__file__).resolve().parent.parent / "data"
PLUGIN = DATA / "tabular" / "评论数据_20240510.csv"
MARKER = "OUTSIDE-SECRET-7f3a"
POLL_TIMEOUT = 20.0

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks")


def _unblock(fifo: Path) -> None:
    """A reader blocked opening `fifo` gets a writer, then EOF (so a regression cannot hang the run)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # ENXIO: nobody is reading it, nothing to unblock
            raise
        return
    os.close(fd)


def _poll(db, settings, state: InboxState, fifos: list[Path]) -> list:  # type: ignore[no-untyped-def]
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["results"] = poll_inbox(db, settings, state, None, settle_seconds=0)
        except BaseException as exc:  # reported below
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(POLL_TIMEOUT)
    blocked = thread.is_alive()
    if blocked:
        for fifo in fifos:
            _unblock(fifo)
        thread.join(5)
    assert not blocked, f"the inbox poll did not return within {POLL_TIMEOUT} s (blocked on a FIFO?)"
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["results"]  # type: ignore[return-value]


def test_poll_ingests_regular_files_only_and_never_reads_links_or_fifos(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "sentiment.toml"
    config.write_text('[store]\ndb = "w.db"\n', encoding="utf-8")
    settings = load_settings(config=config, env={})
    inbox, processed, failed = (settings.paths[k] for k in ("inbox", "processed", "failed"))
    inbox.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    passwd = outside / "passwd"  # unparseable: its first line would end up in an error file
    passwd.write_text(f"root:x:0:0:{MARKER}:/root:/bin/bash\n", encoding="utf-8")
    export = outside / "export.csv"  # parseable: its rows would end up in the store
    export.write_text(f"评论内容,评价时间\n{MARKER}质量很好,2024-05-10 10:00:00\n", encoding="utf-8")
    fifo_outside = outside / "pipe"
    os.mkfifo(fifo_outside)

    good = inbox / PLUGIN.name
    good.write_bytes(PLUGIN.read_bytes())
    (inbox / "passwd.csv").symlink_to(passwd)
    (inbox / "export.csv").symlink_to(export)
    (inbox / "link-to-pipe.csv").symlink_to(fifo_outside)
    (inbox / "dir-link").symlink_to(outside, target_is_directory=True)
    (inbox / "broken-link.csv").symlink_to(outside / "missing.csv")
    os.mkfifo(inbox / "pipe.csv")
    (inbox / "folder.csv").mkdir()
    odd = ["broken-link.csv", "dir-link", "export.csv", "folder.csv", "link-to-pipe.csv", "passwd.csv", "pipe.csv"]
    fifos = [inbox / "pipe.csv", fifo_outside]

    db = store.open_db(settings.db)
    state = InboxState()
    with caplog.at_level(logging.WARNING, logger="sentiment.worker.inbox"):
        results = _poll(db, settings, state, fifos)
    assert [(r.error, r.new > 0) for r in results] == [(None, True)]
    assert (processed / PLUGIN.name).exists() and not good.exists()

    # left where they were, untouched, and never read
    assert sorted(p.name for p in inbox.iterdir()) == odd
    assert (inbox / "passwd.csv").is_symlink() and passwd.read_text(encoding="utf-8").startswith("root:")
    assert not failed.exists() or all(MARKER not in p.read_text(encoding="utf-8", errors="replace")
                                      for p in failed.rglob("*") if p.is_file())
    assert MARKER not in "\n".join(db.conn.iterdump())
    assert not list(processed.glob("*passwd*")) and len(list(processed.iterdir())) == 1

    # one warning each, naming the entry and why
    warned = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    for name in odd:
        assert any(name in message for message in warned), (name, warned)
    assert any("passwd.csv" in m and "symbolic link" in m for m in warned)
    assert any("pipe.csv" in m and "FIFO" in m and "link" not in m for m in warned)
    assert any("folder.csv" in m and "directory" in m for m in warned)
    assert len(warned) == len(odd)

    # the next poll ingests nothing, does not block, and does not warn again
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sentiment.worker.inbox"):
        assert _poll(db, settings, state, fifos) == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
