"""Analysis processes end with their parent: a `kill -9` of `sentiment ingest --jobs N` (or of the
worker) must not leave them running, each holding its model and dictionary (~130 MB).

Linux only (reads /proc). The parents are real `python -m sentiment` / pool processes, killed
with SIGKILL; every process they started is looked up in /proc before the kill.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")

GONE_WITHIN = 5.0  # seconds after the parent's death


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time) of a process, None if there is none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return fields[0], int(fields[19])


def _alive(pid: int, started: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] == started and stat[0] not in ("Z", "X")  # a zombie is dead


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _assert_all_gone(procs: dict[int, int]) -> None:
    """Every (pid -> start time) ends within GONE_WITHIN; leftovers are killed, then the test fails."""
    deadline = time.monotonic() + GONE_WITHIN
    while time.monotonic() < deadline and any(_alive(p, s) for p, s in procs.items()):
        time.sleep(0.05)
    left = {p: _cmdline(p) for p, s in procs.items() if _alive(p, s)}
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)  # ours: started by the parent this test started
        except ProcessLookupError:
            pass
    assert not left, f"still running {GONE_WITHIN} s after their parent was killed: {left}"


def _big_csv(path: Path, rows: int) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from gen_reviews import write_csv

    return write_csv(path, rows)


def test_ingest_analysis_processes_exit_when_ingest_is_killed(tmp_path: Path) -> None:
    big = _big_csv(tmp_path / "big.csv", 20_000)  # ~4 MB: about 6 s of ingest with 2 processes
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    with (tmp_path / "stderr.txt").open("wb") as err:
        parent = subprocess.Popen([sys.executable, "-m", "sentiment", "--db", str(tmp_path / "t.db"), "ingest",
                                   "--jobs", "2", str(big)], cwd=tmp_path, env=env,
                                  stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and parent.poll() is None:
            workers = [c for c in _children(parent.pid) if "spawn_main" in _cmdline(c)]
            if len(workers) >= 2:
                break
            time.sleep(0.05)
        assert len(workers) >= 2, f"no analysis processes seen: {(tmp_path / 'stderr.txt').read_text()}"
        time.sleep(1.5)  # loaded and analyzing chunks
        assert parent.poll() is None, "ingest finished before it could be killed: make the input larger"
        procs = {p: s[1] for p in _children(parent.pid) if (s := _stat(p))}  # workers and resource tracker
        assert set(workers) <= set(procs)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        _assert_all_gone(procs)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


_POOL_PARENT = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from sentiment.config import load_settings
    from sentiment.pipeline.pool import AnalysisPool

    settings = load_settings(config=Path(sys.argv[1]), env={})
    pool = AnalysisPool(settings, 2)
    pool._executor.submit(len, "x")  # a second task: the executor starts its second process
    print(" ".join(str(p) for p in pool._executor._processes))
    kids = [c for t in Path("/proc/self/task").iterdir() for c in (t / "children").read_text().split()]
    print(" ".join(kids), flush=True)  # the processes and multiprocessing's resource tracker
    os.kill(os.getpid(), signal.SIGKILL)  # dies while the processes are still starting up
""")


def test_pool_processes_exit_when_the_parent_dies_while_they_start(tmp_path: Path) -> None:
    """Killed before the processes have even loaded: no death signal is armed yet then, the
    processes still notice and end."""
    config = tmp_path / "sentiment.toml"
    config.write_text('[store]\ndb = "w.db"\n', encoding="utf-8")
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("wb") as out_fh, err.open("wb") as err_fh:  # files: orphans would hold pipes open
        parent = subprocess.Popen([sys.executable, "-c", _POOL_PARENT, str(config)], cwd=tmp_path,
                                  stdout=out_fh, stderr=err_fh)
    try:
        returncode = parent.wait(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert returncode == -signal.SIGKILL, err.read_text()
    workers, started = ([int(p) for p in line.split()] for line in out.read_text().splitlines())
    assert len(workers) == 2 and set(workers) <= set(started)
    _assert_all_gone({p: s[1] for p in started if (s := _stat(p))})
