"""`sentiment triage ...`: the incident queue (CS and PR) and CS's reply backlog."""
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
    """Work the incident queue: who handles which incident, in what state.

    States: new -> acknowledged -> in_progress -> resolved | ignored; reopen goes back to
    acknowledged. Incidents without new evidence for [incidents] quiet_days resolve by
    themselves and reopen when evidence comes. IDs are incident or document ids, or unique
    prefixes of at least 6 characters; actions take several ids at once.

    Example: sentiment triage list --owner pr && sentiment triage ack inc-3fa2c1 inc-77b0e2
    """


SEVERITY_NAMES = {"critical": "紧急", "high": "高", "medium": "中", "low": "低"}


@triage.command("list")
@click.option("--state", type=click.Choice(STATE_CHOICES), default=None,
              help="Only this state; open (default), closed or all.")
@click.option("--owner", metavar="AUDIENCE", help="Only items owned by this audience (cs, pr).")
@click.option("--assignee", metavar="PERSON", help="Only items assigned to this person.")
@click.option("--severity", type=click.Choice(lib.SEVERITY_ORDER), help="Only this severity.")
@click.option("--item", metavar="ITEM", help="Only this item (its id or title).")
@click.option("--category", metavar="CATEGORY", help="Only this category (e.g. food_safety).")
@click.option("--overdue", is_flag=True, help="Only incidents past their response time.")
@click.option("--unanswered", is_flag=True,
              help="CS's reply backlog instead: negative reviews without a seller reply, oldest first.")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many items.")
@json_option
@pass_env
def list_cmd(env: Env, state: str | None, owner: str | None, assignee: str | None, severity: str | None,
             item: str | None, category: str | None, overdue: bool, unanswered: bool, limit: int | None,
             as_json: bool) -> None:
    """List the incident queue: severity first, then overdue, then size.

    Columns: id, severity, state, category, item, size, age (hours since its evidence began),
    due (local time; ! when overdue), assignee, title.

    Example: sentiment triage list --severity critical --overdue --json
    Example: sentiment triage list --unanswered
    """
    db = env.open_db(create=False)
    if unanswered:
        if severity or category or overdue or owner:
            raise click.UsageError("--unanswered takes --state, --assignee, --item and --limit only")
        options = env.settings.digest
        items = lib.unanswered(db, hours=options.unanswered_hours, days=options.unanswered_days,
                               states=_states(state), assignee=assignee, item=item)
    else:
        items = lib.list_incidents(db, states=_states(state), owner=owner, assignee=assignee, severity=severity,
                                   item=item, category=category, overdue=overdue)
    total = len(items)
    items = items[:limit] if limit else items
    if as_json:
        emit_json(items)
        return
    tz = env.settings.tz
    for it in items:
        if unanswered:
            click.echo("  ".join([it["id"][:14], f"{it['state']:<12}", f"{_hours(it['age_hours']):>6}",
                                  f"{_short(it['item_title'] or it['item_id'] or '-', 16):<16}",
                                  f"{it['assignee'] or '-':<8}", _short(_oneline(it["text"]), 60)]))
            continue
        due = _local(it["due_at"], tz) + ("!" if it["overdue"] else " ")
        click.echo("  ".join([it["id"], f"{SEVERITY_NAMES.get(it['severity'], '-'):<2}", f"{it['state']:<12}",
                              f"{_short(it['category'] or '-', 18):<18}",
                              f"{_short(it['item_title'] or it['item_id'] or '-', 16):<16}",
                              f"{it['size'] or 0:>5}", f"{_hours(it['age_hours']):>6}", due,
                              f"{it['assignee'] or '-':<8}", _short(_oneline(it["title"]), 40)]))
    what = ("unanswered review" if unanswered else "incident") + ("" if total == 1 else "s")
    shown = f"{len(items)} of {total}" if len(items) < total else str(total)
    click.echo(f"{shown} {what} ({state or 'open'})" if total else f"no {state or 'open'} {what}")


def _oneline(text: str | None) -> str:
    return " ".join((text or "").split())


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _hours(hours: float | None) -> str:
    if hours is None:
        return "-"
    return f"{hours:.0f}h" if hours < 48 else f"{hours / 24:.0f}d"


def _local(value: str | None, tz: Any) -> str:
    from datetime import datetime

    if not value:
        return "-".ljust(11)
    return datetime.fromisoformat(value).astimezone(tz).strftime("%m-%d %H:%M")


@triage.command()
@click.argument("item_id")
@json_option
@pass_env
def show(env: Env, item_id: str, as_json: bool) -> None:
    """Show one incident (its newest documents and history) or document.

    Example: sentiment triage show inc-3fa2c1
    """
    db = env.open_db(create=False)
    item = lib.get_item(db, item_id)
    if as_json:
        emit_json(item)
        return
    tz = env.settings.tz
    if item["type"] == "incident":
        click.echo(f"incident {item['id']} ({item['kind']}, {item['size']} documents)")
        click.echo(f"  severity: {item['severity']}   category: {item['category']}   "
                   f"item: {item['item_title'] or item['item_id'] or '-'}")
        click.echo(f"  seen:     {_local(item['first_seen'], tz)} .. {_local(item['last_seen'], tz)}   "
                   f"due: {_local(item['due_at'], tz)}{' (overdue)' if item['overdue'] else ''}")
        if item["title"]:
            click.echo(f"  title:    {_oneline(item['title'])}")
    else:
        click.echo(f"document {item['id']} ({item['kind']})")
        click.echo(f"  text:     {_oneline(item['text'])}")
        click.echo(f"  answered: {'yes' if item['answered'] else 'no'}   incidents: {', '.join(item['incidents']) or '-'}")
    click.echo(f"  state:    {item['state']}   owner: {item['owner']}   assignee: {item['assignee'] or '-'}")
    if item["note"]:
        click.echo(f"  note:     {item['note']}")
    click.echo("history:" if item["history"] else "history: none (new)")
    for h in item["history"]:
        note = f"  {h['note']}" if h["note"] else ""
        click.echo(f"  {h['at']}  {h['by']}  {h['action']}  {h['from_state']} -> {h['to_state']}{note}")
    for m in item.get("members", [])[:10]:
        click.echo(f"  document {m['id'][:14]}  {_local(m['created_at'], tz)}  {m['author'] or '-'}  "
                   f"{_short(_oneline(m['text']), 60)}")


def _act(env: Env, item_ids: tuple[str, ...], action: str, by: str | None, as_json: bool, **kw: Any) -> None:
    db = env.open_db(create=False)
    entries = lib.apply_many(db, list(item_ids), action, by=default_actor() if by is None else by, **kw)
    if as_json:
        emit_json(entries[0] if len(item_ids) == 1 else entries)
        return
    for entry in entries:
        change = (f"{entry['from_state']} -> {entry['to_state']}" if entry["from_state"] != entry["to_state"]
                  else entry["to_state"])
        detail = f": {entry['note']}" if entry["note"] else ""
        click.echo(f"{entry['item_key']} {action} ({change}) by {entry['by']}{detail}")


def _action(name: str, doc: str, *, note: str | None = None, person: bool = False, text: bool = False) -> None:
    """Register `sentiment triage NAME ID... [PERSON | TEXT]` calling lib.apply_many(..., NAME)."""

    def command(env: Env, item_ids: tuple[str, ...], by: str | None, as_json: bool, **kw: Any) -> None:
        _act(env, item_ids, name, by, as_json, **kw)

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
    command = click.argument("item_ids", metavar="ID...", nargs=-1, required=True)(command)
    triage.command(name)(command)


_action("ack", "Acknowledge a new item (new -> acknowledged).\n\nExample: sentiment triage ack inc-3fa2c1 inc-77b0e2")
_action("assign", "Assign an open item to PERSON (a new item becomes acknowledged).\n\n"
        "Example: sentiment triage assign inc-3fa2c1 张三 --by 李四", person=True)
_action("start", "Start working on an item (new/acknowledged -> in_progress).\n\n"
        "Example: sentiment triage start inc-3fa2c1")
_action("resolve", "Resolve an open item.\n\nExample: sentiment triage resolve inc-3fa2c1 --note 已退款并致歉",
        note="optional")
_action("ignore", "Close an open item that needs no action; --note says why.\n\n"
        "Example: sentiment triage ignore inc-3fa2c1 --note 竞品刷差评", note="required")
_action("reopen", "Reopen a resolved or ignored item (-> acknowledged).\n\n"
        "Example: sentiment triage reopen inc-3fa2c1")
_action("note", "Add a note to an item in any state.\n\nExample: sentiment triage note inc-3fa2c1 '已联系买家'",
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
    """Export incidents to CSV for Excel (UTF-8 with BOM, formulas neutralized).

    Times are local (the configured zone) without offset.

    Example: sentiment triage export triage.csv --state open
    """
    db = env.open_db(create=False)
    count = lib.export_csv(lib.list_incidents(db, states=_states(state), owner=owner), path, headers=headers,
                           tz=env.settings.tz)
    if as_json:
        emit_json({"path": str(path), "rows": count})
    else:
        click.echo(f"wrote {count} item{'s' if count != 1 else ''} to {path}")
