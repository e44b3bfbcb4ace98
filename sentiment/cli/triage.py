"""`sentiment triage ...`: the queue of negative clusters (PR) and unanswered negatives (CS)."""
from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from sentiment.signals import triage as lib
from sentiment.cli.base import Env, cli, emit_json, json_option, pass_env

F = TypeVar("F", bound=Callable[..., Any])
STATE_CHOICES = [*lib.STATES, "open", "closed", "all"]


def default_actor() -> str:
    """The login name, or "unknown" where there is none (containers, services)."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # getpass raises OSError/KeyError when no user can be found
        return "unknown"


def by_option(func: F) -> F:
    return click.option("--by", default=None, metavar="NAME",
                        help="Who acts (default: the login name).")(func)


def _states(state: str | None) -> tuple[str, ...] | None:
    if state in (None, "open"):
        return lib.OPEN_STATES
    if state == "closed":
        return lib.CLOSED_STATES
    return None if state == "all" else (state,)


@cli.group()
def triage() -> None:
    """Track who handles which negative cluster or review, and in what state.

    States: new -> acknowledged -> in_progress -> resolved | ignored; reopen goes
    back to acknowledged. IDs are cluster or document ids, or unique prefixes
    of at least 6 characters (write cluster:ID or document:ID if both match).

    Example: sentiment triage list --owner pr && sentiment triage assign 3fa2c1 张三
    """


@triage.command("list")
@click.option("--state", type=click.Choice(STATE_CHOICES), default=None,
              help="Only this state; open (default), closed or all.")
@click.option("--owner", metavar="AUDIENCE", help="Only items owned by this audience (cs, pr).")
@click.option("--assignee", metavar="PERSON", help="Only items assigned to this person.")
@click.option("--kind", type=click.Choice(lib.KINDS), help="Only clusters or only documents.")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many items.")
@json_option
@pass_env
def list_cmd(env: Env, state: str | None, owner: str | None, assignee: str | None, kind: str | None,
             limit: int | None, as_json: bool) -> None:
    """List triage items: clusters first, then negative reviews and Q&A.

    Resolved clusters that got new documents are reopened first.

    Example: sentiment triage list --state in_progress --assignee 张三 --json
    """
    db = env.open_db(create=False)
    lib.reopen_on_new_members(db)
    items = lib.list_items(db, states=_states(state), owner=owner, assignee=assignee, kind=kind)
    total = len(items)
    items = items[:limit] if limit else items
    if as_json:
        emit_json(items)
        return
    for item in items:
        click.echo("  ".join([item["id"][:12], item["kind"][0].upper(), f"{item['state']:<12}",
                              f"{item['owner']:<5}", f"{item['assignee'] or '-':<8}",
                              f"{item['category'] or '-':<14}", _oneline(item["title"])]))
    shown = f"{len(items)} of {total}" if len(items) < total else str(total)
    click.echo(f"{shown} item{'s' if total != 1 else ''} ({state or 'open'})" if total else
               f"no {state or 'open'} items")


def _oneline(text: str | None) -> str:
    return " ".join((text or "").split())


@triage.command()
@click.argument("item_id")
@json_option
@pass_env
def show(env: Env, item_id: str, as_json: bool) -> None:
    """Show one item with its history.

    Example: sentiment triage show 3fa2c1
    """
    db = env.open_db(create=False)
    lib.reopen_on_new_members(db)
    item = lib.get_item(db, item_id)
    if as_json:
        emit_json(item)
        return
    n = item.get("member_count", 0)
    size = f", {n} document{'s' if n != 1 else ''}" if item["kind"] == "cluster" else ""
    click.echo(f"{item['kind']} {item['id']} ({item['subkind'] or '-'}{size})")
    click.echo(f"  title:    {_oneline(item['title'])}")
    if item["kind"] == "document":
        click.echo(f"  text:     {_oneline(item['text'])}")
        click.echo(f"  answered: {'yes' if item['answered'] else 'no'}")
    click.echo(f"  state:    {item['state']}   owner: {item['owner']}   assignee: {item['assignee'] or '-'}")
    click.echo(f"  category: {item['category'] or '-'}   item: {item['item_title'] or item['item_id'] or '-'}")
    if item["note"]:
        click.echo(f"  note:     {item['note']}")
    click.echo("history:" if item["history"] else "history: none (new)")
    for h in item["history"]:
        note = f"  {h['note']}" if h["note"] else ""
        click.echo(f"  {h['at']}  {h['by']}  {h['action']}  {h['from_state']} -> {h['to_state']}{note}")
    for m in item.get("members", [])[:5]:
        click.echo(f"  member {m['id'][:12]}  {m['created_at'] or '-'}  {_oneline(m['text'])[:60]}")


def _act(env: Env, item_id: str, action: str, by: str | None, as_json: bool, **kw: Any) -> None:
    db = env.open_db(create=False)
    entry = lib.apply(db, item_id, action, by=default_actor() if by is None else by, **kw)
    if as_json:
        emit_json(entry)
        return
    change = (f"{entry['from_state']} -> {entry['to_state']}" if entry["from_state"] != entry["to_state"]
              else entry["to_state"])
    detail = f": {entry['note']}" if entry["note"] else ""
    click.echo(f"{entry['item_key']} {action} ({change}) by {entry['by']}{detail}")


def _action(name: str, doc: str, *, note: str | None = None, person: bool = False, text: bool = False) -> None:
    """Register `sentiment triage NAME ID ...` calling lib.apply(..., NAME)."""

    def command(env: Env, item_id: str, by: str | None, as_json: bool, **kw: Any) -> None:
        _act(env, item_id, name, by, as_json, **kw)

    command.__doc__ = doc
    command = json_option(by_option(pass_env(command)))
    if note == "optional":
        command = click.option("--note", help="Why, or what was done.")(command)
    elif note == "required":
        command = click.option("--note", required=True, help="Why it needs no action (required).")(command)
    if text:
        command = click.argument("note")(command)
    if person:
        command = click.argument("assignee", metavar="PERSON")(command)
    command = click.argument("item_id", metavar="ID")(command)
    triage.command(name)(command)


_action("ack", "Acknowledge a new item (new -> acknowledged).\n\nExample: sentiment triage ack 3fa2c1")
_action("assign", "Assign an open item to PERSON (a new item becomes acknowledged).\n\n"
        "Example: sentiment triage assign 3fa2c1 张三 --by 李四", person=True)
_action("start", "Start working on an item (new/acknowledged -> in_progress).\n\n"
        "Example: sentiment triage start 3fa2c1")
_action("resolve", "Resolve an open item.\n\nExample: sentiment triage resolve 3fa2c1 --note 已退款并致歉",
        note="optional")
_action("ignore", "Close an open item that needs no action; --note says why.\n\n"
        "Example: sentiment triage ignore 3fa2c1 --note 竞品刷差评", note="required")
_action("reopen", "Reopen a resolved or ignored item (-> acknowledged).\n\n"
        "Example: sentiment triage reopen 3fa2c1")
_action("note", "Add a note to an item in any state.\n\nExample: sentiment triage note 3fa2c1 '已联系买家'",
        text=True)


@triage.command("export")
@click.argument("path", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--state", type=click.Choice(STATE_CHOICES), default="all", show_default=True,
              help="Only this state; open, closed or all.")
@click.option("--owner", metavar="AUDIENCE", help="Only items owned by this audience (cs, pr).")
@click.option("--headers", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Column headers in Chinese or English.")
@json_option
@pass_env
def export(env: Env, path: Path, state: str, owner: str | None, headers: str, as_json: bool) -> None:
    """Export triage items to CSV for Excel (UTF-8 with BOM, formulas neutralized).

    Times are local (the configured zone) without offset.

    Example: sentiment triage export triage.csv --state open
    """
    db = env.open_db(create=False)
    lib.reopen_on_new_members(db)
    count = lib.export_csv(lib.list_items(db, states=_states(state), owner=owner), path, headers=headers,
                           tz=env.settings.tz)
    if as_json:
        emit_json({"path": str(path), "rows": count})
    else:
        click.echo(f"wrote {count} item{'s' if count != 1 else ''} to {path}")
