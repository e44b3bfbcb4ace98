"""`sentiment web` (the console) and `sentiment users ...` (who may sign in to it)."""
from __future__ import annotations

import signal
import sys
import threading

import click

from sentiment.cli.base import Env, cli, emit_json, json_option, pass_env

AUDIENCE_CHOICES = ["cs", "pr", "admin"]


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default: [web] port, 8080).")
@click.option("--threads", type=click.IntRange(1, 64), default=6, show_default=True,
              help="Requests served at once.")
@click.option("--trusted-proxy", metavar="ADDR",
              help="Address of the reverse proxy in front (e.g. 127.0.0.1): take the client address "
                   "and https from its X-Forwarded-* headers.")
@pass_env
def web(env: Env, host: str | None, port: int | None, threads: int, trusted_proxy: str | None) -> None:
    """Serve the web console and JSON API (waitress) over the store.

    Sign-in is required: add users first with `sentiment users add`. Put it behind an HTTPS
    reverse proxy and set [web] base_url for mail links and Secure cookies.

    Example: sentiment web --host 127.0.0.1 --port 8080
    """
    from sentiment.web.server import make_server, run_until

    settings = env.settings
    host = host or settings.web.host
    port = port or settings.web.port
    try:
        server = make_server(settings, host, port, threads=threads, trusted_proxy=trusted_proxy)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    click.echo(f"serving the console on http://{host}:{port}/ (store {settings.db}); Ctrl-C stops", err=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, systemd stop: end between two loop slices
        signal.signal(signum, lambda *_: stop.set())
    run_until(server, stop)


@cli.group()
def users() -> None:
    """Who may sign in to the web console and JSON API.

    Example: sentiment users add 张三 --audience pr --email zhangsan@example.com
    """


def _password(stdin: bool, confirm: bool = True) -> str:
    if stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)


@users.command("add")
@click.argument("name")
@click.option("--audience", type=click.Choice(AUDIENCE_CHOICES), required=True,
              help="cs or pr (their queue by default), or admin.")
@click.option("--email", metavar="ADDRESS", help="Where assignment mails go.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@json_option
@pass_env
def add(env: Env, name: str, audience: str, email: str | None, password_stdin: bool, as_json: bool) -> None:
    """Add a console user (the password is prompted for, or read with --password-stdin).

    Example: printf '%s\\n' "$PW" | sentiment users add 李四 --audience cs --email lisi@example.com --password-stdin
    """
    from sentiment.web.users import add_user

    user = add_user(env.open_db(), name, audience, _password(password_stdin), email=email)
    if as_json:
        emit_json(user.to_json())
    else:
        click.echo(f"added {user.name} ({user.audience}{', ' + user.email if user.email else ''})")


@users.command("list")
@json_option
@pass_env
def list_cmd(env: Env, as_json: bool) -> None:
    """List console users: name, audience, e-mail, active or disabled, tokens, live sessions.

    Example: sentiment users list --json
    """
    from sentiment.web.users import list_users

    found = list_users(env.open_db())
    if as_json:
        emit_json([u.to_json() for u in found])
        return
    for u in found:
        state = "active" if u.active else f"disabled {u.disabled_at}"
        click.echo(f"{u.name:<16} {u.audience:<6} {u.email or '-':<28} {state:<10} tokens {u.tokens}"
                   f"  sessions {u.sessions}")
    click.echo(f"{len(found)} user{'s' if len(found) != 1 else ''}" if found
               else "no users (sentiment users add NAME --audience cs)")


@users.command("disable")
@click.argument("name")
@pass_env
def disable(env: Env, name: str) -> None:
    """Disable a user: their sessions and API tokens stop working at once.

    Example: sentiment users disable 张三
    """
    from sentiment.web.users import disable_user

    disable_user(env.open_db(create=False), name)
    click.echo(f"disabled {name}: signed out everywhere, API tokens revoked")


@users.command("enable")
@click.argument("name")
@pass_env
def enable(env: Env, name: str) -> None:
    """Let a disabled user sign in again (with a new token for the API).

    Example: sentiment users enable 张三
    """
    from sentiment.web.users import enable_user

    enable_user(env.open_db(create=False), name)
    click.echo(f"enabled {name}")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@pass_env
def passwd(env: Env, name: str, password_stdin: bool) -> None:
    """Set a user's password; their sessions end.

    Example: sentiment users passwd 张三
    """
    from sentiment.web.users import require_user, set_password

    db = env.open_db(create=False)
    require_user(db, name)
    set_password(db, name, _password(password_stdin))
    click.echo(f"password of {name} changed; their sessions ended")


@users.command("token")
@click.argument("name")
@click.option("--replace", is_flag=True, help="Revoke the user's other API tokens.")
@pass_env
def token(env: Env, name: str, replace: bool) -> None:
    """Make an API token for NAME and print it alone on stdout (stored hashed: shown only now).

    Use it as `Authorization: Bearer <token>`.

    Example: curl -H "Authorization: Bearer $(sentiment users token 张三)" http://127.0.0.1:8080/api/triage
    """
    from sentiment.web.users import new_token

    click.echo(new_token(env.open_db(create=False), name, replace=replace))
