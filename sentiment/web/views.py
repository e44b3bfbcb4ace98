"""The console's pages: the incident queue, an incident, the reply backlog, search, the dashboard;
and the one form handler every triage action posts to."""
from __future__ import annotations

import os
import tempfile
from datetime import date, datetime, timedelta
from typing import Any, Mapping
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for

from sentiment.reports.export import KINDS, LABELS, ExportError, RowFormat, export, rule_names
from sentiment.signals import triage
from sentiment.times import STORED_TZ, day_start
from sentiment.web import dashboard as dash
from sentiment.web import incident as incident_page
from sentiment.reports import search as find
from sentiment.web.actions import ActionError, perform
from sentiment.web.auth import safe_next
from sentiment.web.context import get_db, settings
from sentiment.web.queue import QueryError, QueueQuery
from sentiment.web.text import ACTION_NAMES, translate
from sentiment.web.users import list_users

bp = Blueprint("views", __name__)

QUEUE_PARAMS = ("state", "owner", "assignee", "severity", "item", "category", "overdue", "limit")
SHOWN = 200  # rows a queue page shows unless asked for more (`limit`): a page refreshes every minute
SEARCH_PARAMS = ("q", "since", "until", "item", "label", "category", "kind", "rating")
PAGE_SIZE = 50


def _now() -> datetime:
    return datetime.now(STORED_TZ)


def _base_url() -> str:
    return settings().web.base_url or request.url_root.rstrip("/")


def _assignees() -> list[Any]:
    return list_users(get_db(), active_only=True)


@bp.get("/")
def index() -> Any:
    return redirect(url_for("views.queue"))


# --- the queue -------------------------------------------------------------------------------------

def _queue_args(args: Mapping[str, str]) -> dict[str, str]:
    """The queue's filters from the request; a cs or pr user sees their audience's incidents unless
    they chose otherwise (an empty `owner=` means every owner)."""
    chosen = {k: args.get(k, "") for k in QUEUE_PARAMS if k in args}
    if "owner" not in args and g.user.audience in ("cs", "pr"):
        chosen["owner"] = g.user.audience
    chosen.setdefault("limit", str(SHOWN))
    return chosen


def _all_url() -> str:
    """This page without the row limit."""
    args = {k: v for k, v in request.args.items() if k != "limit"}
    return request.path + "?" + urlencode({**args, "limit": "1000000"})


@bp.get("/queue")
def queue() -> Any:
    chosen = _queue_args(request.args)
    try:
        query = QueueQuery.from_args(chosen)
    except QueryError as exc:
        flash(f"筛选条件无效：{exc}", "error")
        chosen, query = {}, QueueQuery()
    items, total = query.run(get_db(), settings())
    return render_template("queue.html", items=items, total=total, f=chosen, query=query, all_url=_all_url(),
                           assignees=_assignees(), states=triage.STATES, severities=triage.SEVERITY_ORDER,
                           back=request.full_path, refresh=True)


@bp.get("/unanswered")
def unanswered() -> Any:
    chosen = {k: request.args.get(k, "") for k in ("state", "assignee", "item", "limit") if request.args.get(k)}
    chosen.setdefault("limit", str(SHOWN))
    try:
        query = QueueQuery.from_args({**chosen, "unanswered": "1"})
    except QueryError as exc:
        flash(f"筛选条件无效：{exc}", "error")
        chosen, query = {}, QueueQuery(unanswered=True)
    items, total = query.run(get_db(), settings())
    now = _now()
    views = [incident_page.document_view(row, [], now) for row in incident_page.with_orders(get_db(), items)]
    return render_template("unanswered.html", items=list(zip(items, views)), total=total, f=chosen,
                           all_url=_all_url(),
                           assignees=_assignees(), states=triage.STATES, back=request.full_path,
                           hours=settings().digest.unanswered_hours, refresh=True)


# --- one incident --------------------------------------------------------------------------------

@bp.get("/incidents/<ident>")
def incident(ident: str) -> Any:
    page = request.args.get("page", "1")
    try:
        item = incident_page.load(get_db(), ident, _now(), int(page) if page.isdigit() else 1)
    except triage.TriageError:
        abort(404)
    allowed = [a for a, (states, _) in triage.TRANSITIONS.items() if item["state"] in states]
    return render_template("incident.html", it=item, allowed=allowed, assignees=_assignees(),
                           back=url_for("views.incident", ident=item["id"]))


# --- actions -------------------------------------------------------------------------------------

@bp.post("/actions")
def act() -> Any:
    """Every triage form posts here: ids (one or several), action, assignee, note, back."""
    back = safe_next(request.form.get("back"))
    ids = [i for i in request.form.getlist("ids") if i.strip()]
    action = request.form.get("action", "")
    if not ids:
        flash("请先勾选要处理的项目。", "error")
        return redirect(back)
    try:
        entries = perform(get_db(), settings(), ids, action, by=g.user, assignee=request.form.get("assignee"),
                          note=request.form.get("note"), base_url=_base_url())
    except (triage.TriageError, ActionError) as exc:
        flash(f"操作未执行：{translate(str(exc))}", "error")
        return redirect(back)
    name = ACTION_NAMES.get(action, action)
    mailed = sum(1 for e in entries if e.get("mail"))
    flash(f"已{name} {len(entries)} 项（操作人 {g.user.name}）" + (f"，已邮件通知 {request.form.get('assignee')}"
                                                             if mailed else "") + "。", "ok")
    return redirect(back)


# --- search ----------------------------------------------------------------------------------------

def _day(value: str | None, name: str, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{name}：日期格式应为 YYYY-MM-DD") from None
    return day_start(day + timedelta(days=1) if end else day, settings().tz)


def search_filter(args: Mapping[str, str]) -> find.SearchFilter:
    """The search form as a filter; QueryError (in Chinese) for a value out of range."""
    values = {k: (args.get(k) or "").strip() or None for k in SEARCH_PARAMS}
    for key, allowed in (("label", LABELS), ("kind", KINDS), ("rating", find.RATINGS)):
        if values[key] is not None and values[key] not in allowed:
            raise QueryError(f"{key}：取值应为 {'、'.join(allowed)}")
    return find.SearchFilter(text=tuple(find.terms_of(values["q"])), since=_day(values["since"], "开始日期"),
                             until=_day(values["until"], "结束日期", end=True), item=values["item"],
                             label=values["label"], category=values["category"], kind=values["kind"],
                             rating=values["rating"])


def _results(chosen: Mapping[str, str], page: int) -> dict[str, Any]:
    """One page of the search: documents, count, whether the count or the dates were capped."""
    out: dict[str, Any] = {"docs": [], "total": 0, "capped": False, "bounded": False, "error": None}
    if not chosen:
        return out
    db, now = get_db(), _now()
    try:
        flt, out["bounded"] = find.bounded(find.prepare(db, search_filter(chosen)), now)
    except QueryError as exc:
        return {**out, "error": str(exc)}
    terms = [[t] for t in flt.text]
    rows = find.search(db, flt, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    out["docs"] = [incident_page.document_view(r, terms, now) for r in rows]
    out["total"], out["capped"] = find.count(db, flt)
    return out


@bp.get("/search")
def search() -> Any:
    chosen = {k: request.args.get(k, "") for k in SEARCH_PARAMS if request.args.get(k)}
    page = max(1, int(request.args["page"])) if request.args.get("page", "").isdigit() else 1
    found = _results(chosen, page)
    html = render_template("search.html", f=chosen, page=page, pages=max(1, -(-found["total"] // PAGE_SIZE)),
                           short_days=find.SHORT_TERM_DAYS, qs=urlencode(chosen), labels=LABELS, kinds=KINDS,
                           ratings=find.RATINGS, **found)
    return html, 400 if found["error"] else 200


@bp.get("/search/export.<fmt>")
def search_export(fmt: str) -> Any:
    if fmt not in ("csv", "xlsx"):
        abort(404)
    chosen = {k: request.args.get(k, "") for k in SEARCH_PARAMS if request.args.get(k)}
    db = get_db()
    try:
        flt, _ = find.bounded(find.prepare(db, search_filter(chosen)), _now())
    except QueryError as exc:
        abort(400, description=str(exc))
    handle, path = tempfile.mkstemp(suffix=f".{fmt}")
    os.close(handle)
    try:
        export(db, path, flt, RowFormat(tz=settings().tz, names=rule_names(settings().rules_paths)))
        stream = open(path, "rb")
    except ExportError as exc:
        abort(500, description=str(exc))
    finally:
        os.unlink(path)  # the open file stays readable until it is sent
    name = f"documents-{_now().strftime('%Y%m%d-%H%M')}.{fmt}"
    mime = "text/csv" if fmt == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return send_file(stream, mimetype=mime, as_attachment=True, download_name=name)


# --- dashboard -----------------------------------------------------------------------------------

@bp.get("/dashboard")
def dashboard() -> Any:
    data = dash.dashboard(get_db(), settings().tz, _now())
    return render_template("dashboard.html", d=data)
