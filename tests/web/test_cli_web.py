"""`sentiment users ...` and `sentiment web` (a real waitress server in a subprocess)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sentiment import store
from sentiment.web import users


def add(run_cli: Any, name: str, audience: str = "cs", password: str = "s3cret-pass", *extra: str) -> Any:
    return run_cli("users", "add", name, "--audience", audience, "--password-stdin", *extra, input=password + "\n")


def test_users_add_list_disable_enable(run_cli: Any, db_path: Path) -> None:
    result = add(run_cli, "张三", "pr", "s3cret-pass", "--email", "zhangsan@example.com")
    assert result.exit_code == 0 and result.stdout == "added 张三 (pr, zhangsan@example.com)\n"
    assert add(run_cli, "ops", "admin").exit_code == 0
    listed = json.loads(run_cli("users", "list", "--json").stdout)
    assert [(u["name"], u["audience"], u["active"]) for u in listed] == [("ops", "admin", True), ("张三", "pr", True)]
    assert run_cli("users", "disable", "张三").exit_code == 0
    db = store.open_db(db_path)
    assert users.get_user(db, "张三").disabled_at is not None
    with pytest.raises(users.SignInError):
        users.authenticate(db, "张三", "s3cret-pass", "127.0.0.1")
    assert run_cli("users", "enable", "张三").exit_code == 0
    assert users.authenticate(db, "张三", "s3cret-pass", "127.0.0.1").name == "张三"
    assert "2 users" in run_cli("users", "list").stdout


@pytest.mark.parametrize("args, password, message", [
    (("bad name", "cs"), "s3cret-pass", "Error: invalid user name 'bad name'"),
    (("system", "cs"), "s3cret-pass", "Error: 'system' is the incident engine's name"),
    (("ok", "cs"), "short", "Error: the password must have 8 to 1024 characters"),
    (("ok", "cs", "--email", "not-an-address"), "s3cret-pass", "Error: invalid e-mail address"),
])
def test_users_add_refuses_bad_input(run_cli: Any, args: tuple[str, ...], password: str, message: str) -> None:
    result = add(run_cli, args[0], args[1], password, *args[2:])
    assert result.exit_code == 1 and result.stderr.startswith(message)


def test_a_taken_name_and_an_unknown_audience(run_cli: Any) -> None:
    add(run_cli, "lisi")
    again = add(run_cli, "lisi")
    assert again.exit_code == 1 and "Error: user 'lisi' exists" in again.stderr
    assert add(run_cli, "wang", "boss").exit_code == 2


def test_the_password_prompt_asks_twice(run_cli: Any, db_path: Path) -> None:
    result = run_cli("users", "add", "prompted", "--audience", "cs", input="long enough\nlong enough\n")
    assert result.exit_code == 0
    assert users.authenticate(store.open_db(db_path), "prompted", "long enough", "127.0.0.1").name == "prompted"


def test_users_token_prints_the_token_alone(run_cli: Any, db_path: Path) -> None:
    add(run_cli, "bot", "admin")
    result = run_cli("users", "token", "bot")
    token = result.stdout
    assert result.exit_code == 0 and token.endswith("\n") and token.count("\n") == 1
    assert token.startswith(users.TOKEN_PREFIX) and len(token.strip()) > 40
    assert users.token_user(store.open_db(db_path), token.strip()).name == "bot"
    missing = run_cli("users", "token", "nobody")
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: no user 'nobody'")
    run_cli("users", "disable", "bot")
    assert run_cli("users", "token", "bot").exit_code == 1


def test_users_passwd(run_cli: Any, db_path: Path) -> None:
    add(run_cli, "cs1")
    assert run_cli("users", "passwd", "cs1", "--password-stdin", input="brand new pass\n").exit_code == 0
    db = store.open_db(db_path)
    assert users.authenticate(db, "cs1", "brand new pass", "127.0.0.1").name == "cs1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_sentiment_web_serves_on_waitress(tmp_path: Path, stop: signal.Signals) -> None:
    db = tmp_path / "served.db"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    proc = subprocess.Popen([sys.executable, "-m", "sentiment", "--db", str(db), "web", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.read() == b"ok\n"
                    assert response.headers["Server"] == "sentiment"  # waitress, not a development server
                    break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
                time.sleep(0.1)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/triage", timeout=5)
        assert refused.value.code == 401
    finally:
        proc.send_signal(stop)  # Ctrl-C or systemd's stop: a clean exit 0
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"serving the console on http://127.0.0.1:{port}/" in err


def test_sentiment_web_says_when_the_port_is_taken(run_cli: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        result = run_cli("web", "--port", str(sock.getsockname()[1]))
    assert result.exit_code == 1 and result.stderr.startswith("Error: cannot listen on 127.0.0.1:")
