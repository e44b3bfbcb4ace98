"""The inbox: files dropped in are ingested once complete, then moved to processed/ or failed/."""
from __future__ import annotations

import errno
import logging
import os
import shutil
import stat as stat_mode
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import sqlite_utils

from sentiment.config import Settings
from sentiment.ingest.reader import EXPORT_SUFFIXES
from sentiment.pipeline.files import Analyzer, FileResult, IngestStopped, ingest_file, ingest_options

log = logging.getLogger(__name__)

DEFAULT_SETTLE_SECONDS = 2.0
SETTLING = "still being written"  # how a file modified within the settle time is reported
_SETTLE_PROBE_SECONDS = 0.1  # how often `settled_files` looks again


@dataclass
class InboxState:
    """(size, mtime) seen at the previous poll: a file unchanged since then is complete."""

    seen: dict[str, tuple[int, float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # entries that are no regular file -> why (warned once)
    left: dict[str, str] = field(default_factory=dict)  # name -> why the last poll left it in the inbox

    def left_lines(self) -> list[str]:
        """What the last poll left in the inbox, one `name (why)` each."""
        return [f"{name} ({why})" for name, why in self.left.items()]


def inbox_dirs(settings: Settings) -> tuple[Path, Path, Path]:
    paths = settings.paths
    return paths["inbox"], paths["processed"], paths["failed"]


def ready_files(inbox: Path, state: InboxState, settle_seconds: float, now: float | None = None) -> list[Path]:
    """Complete files: not hidden, not `.part`, and either unchanged since the last poll or
    last modified more than `settle_seconds` ago (so a file still being written is left alone).

    Regular files only: a symbolic link is never followed (a link to /etc/passwd would copy its
    first line into failed/), a FIFO, socket, device or directory never opened (a FIFO would
    block the poll). Those are left where they are, with one warning each."""
    if not inbox.is_dir():
        state.left = {}
        return []
    now = time.time() if now is None else now
    ready, seen, skipped, left = [], {}, {}, {}
    for path in sorted(inbox.iterdir()):
        ignored = _ignored(path.name)
        if ignored is not None:
            _leave(state.left, left, path.name, ignored)
            continue
        stat, why = _regular_file(path)
        if why is not None:
            skipped[str(path)] = left[path.name] = why
            if state.skipped.get(str(path)) != why:
                log.warning("inbox: %s is %s: skipped and left where it is (the inbox takes regular files only)",
                            path.name, why)
        if stat is None:
            continue
        key = (stat.st_size, stat.st_mtime)
        seen[str(path)] = key
        if state.seen.get(str(path)) == key or now - stat.st_mtime >= settle_seconds:
            ready.append(path)
        else:
            _leave(state.left, left, path.name, f"{SETTLING}: modified {max(now - stat.st_mtime, 0):.1f} s ago")
    state.seen, state.skipped, state.left = seen, skipped, left
    return ready


def _ignored(name: str) -> str | None:
    """Why a name is never taken, or None."""
    if name.startswith("."):
        return "hidden: names starting with '.' are not taken"
    if name.endswith(".part"):
        return "an upload in progress: .part names are never taken"
    if name.endswith(".error.txt"):
        return "an error note: .error.txt files are not taken"
    return None


def _leave(before: dict[str, str], left: dict[str, str], name: str, why: str) -> None:
    """Note why `name` stays in the inbox; logged when that is news since the previous poll."""
    left[name] = why
    if before.get(name, "").split(":")[0] != why.split(":")[0]:
        log.info("inbox: %s left in the inbox: %s", name, why)


def settled_files(inbox: Path, state: InboxState, settle_seconds: float,
                  should_stop: Callable[[], bool] = lambda: False) -> list[Path]:
    """`ready_files` after waiting, at most `settle_seconds`, for files still being written to
    settle: what `run --once` takes, so a file copied in just before is not left behind.

    While waiting only each file's age counts (two quick looks at a file being written slowly
    could see it unchanged); at the end, a file unchanged since the first look is complete too
    (its clock may be off). A file still changing then is left, and `state.left` says so."""
    deadline = time.monotonic() + settle_seconds
    first: dict[str, tuple[int, float]] | None = None
    probe = InboxState(skipped=state.skipped, left=state.left)
    while True:
        remaining = deadline - time.monotonic()
        last_look = remaining <= 0
        probe = InboxState(seen=(first or {}) if last_look else {}, skipped=probe.skipped, left=probe.left)
        ready = ready_files(inbox, probe, settle_seconds)
        first = probe.seen if first is None else first
        if last_look or should_stop() or not any(why.startswith(SETTLING) for why in probe.left.values()):
            state.seen, state.skipped, state.left = probe.seen, probe.skipped, probe.left
            return ready
        time.sleep(min(_SETTLE_PROBE_SECONDS, remaining))


_KINDS = ((stat_mode.S_ISDIR, "a directory"), (stat_mode.S_ISFIFO, "a FIFO (named pipe)"),
          (stat_mode.S_ISSOCK, "a socket"), (stat_mode.S_ISCHR, "a character device"),
          (stat_mode.S_ISBLK, "a block device"))


def _regular_file(path: Path) -> tuple[os.stat_result | None, str | None]:
    """(its stat, None) for a regular file; (None, what it is) for anything else; (None, None)
    when it is gone. Never follows a link, never waits on a FIFO: the entry is lstat'ed, then
    opened with O_NOFOLLOW | O_NONBLOCK and fstat'ed, so one swapped since is caught too."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None, None
    if stat_mode.S_ISLNK(info.st_mode):
        return None, "a symbolic link (not followed)"
    if not stat_mode.S_ISREG(info.st_mode):
        return None, next((what for test, what in _KINDS if test(info.st_mode)), "not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "a symbolic link (not followed)"
        return info, None  # unreadable: ingest reports why and moves it to failed/, as before
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat_mode.S_ISREG(info.st_mode):
        return None, next((what for test, what in _KINDS if test(info.st_mode)), "not a regular file")
    return info, None


def _unique_target(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    if not target.exists():
        return target
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        candidate = directory / f"{Path(name).stem}.{stamp}-{n}{Path(name).suffix}"
        if not candidate.exists():
            return candidate
    raise OSError(f"cannot find a free name for {name} in {directory}")


def move_done(path: Path, result: FileResult, processed: Path, failed: Path) -> Path:
    """Called after the file's transaction committed (or rolled back on a file error)."""
    if result.error:
        target = _unique_target(failed, path.name)
        shutil.move(str(path), target)
        target.with_name(target.name + ".error.txt").write_text(result.error + "\n", encoding="utf-8")
        return target
    target = _unique_target(processed, path.name)
    shutil.move(str(path), target)
    return target


def poll_inbox(db: sqlite_utils.Database, settings: Settings, state: InboxState, analyzer: Analyzer | None,
               *, settle_seconds: float = DEFAULT_SETTLE_SECONDS,
               should_stop: Callable[[], bool] = lambda: False,
               analyzer_for: Callable[[list[Path]], Analyzer] | None = None,
               wait_settling: bool = False) -> list[FileResult]:
    """Ingest every complete inbox file, each in its own transaction, then move it.

    `analyzer_for`, if given, picks the analyzer once the ready files are known
    (the worker starts analysis processes for large drops, as `sentiment ingest` does).
    `wait_settling`: first wait for files still being written (`settled_files`).
    `should_stop` is also asked between chunks of a file: when it says stop, that file's
    transaction is rolled back and the file stays in the inbox, to be ingested whole next time.
    `state.left` then says what was left in the inbox, and why.
    """
    inbox, processed, failed = inbox_dirs(settings)
    results = []
    options = ingest_options(settings)
    ready = (settled_files(inbox, state, settle_seconds, should_stop) if wait_settling
             else ready_files(inbox, state, settle_seconds))
    if ready and analyzer_for is not None:
        analyzer = analyzer_for(ready)
    for index, path in enumerate(ready):
        if should_stop():
            state.left.update({p.name: "not taken: the worker is stopping" for p in ready[index:]})
            break
        if path.suffix.lower() not in EXPORT_SUFFIXES:
            log.warning("inbox: %s has an unusual extension; trying to read it anyway", path.name)
        log.info("inbox: ingesting %s", path.name)
        try:
            result = ingest_file(db, path, options, analyzer=analyzer, should_stop=should_stop)
        except IngestStopped:
            log.info("inbox: stopping: %s rolled back and left in the inbox (the next run ingests it whole)",
                     path.name)
            state.left.update({p.name: "not taken: the worker is stopping" for p in ready[index + 1:]})
            state.left[path.name] = "stopped while ingesting: rolled back, left for the next run"
            break
        moved = move_done(path, result, processed, failed)
        log.info("inbox: %s -> %s (new %d, duplicates %d, quarantined %d)%s", path.name, moved,
                 result.new, result.duplicates, result.quarantined, f" error: {result.error}" if result.error else "")
        results.append(result)
    return results
