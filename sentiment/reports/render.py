"""Display helpers shared by digests and alerts: Chinese names, item links, excerpts with
highlighted terms, header-safe subjects, the Jinja environment and the size-fitting render loop.

Nothing here reads the store; `sentiment.reports.digest` and `sentiment.reports.alerts` build the data and
call these to turn it into a `RenderedMessage`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import css_inline
import jinja2

from sentiment.resources import templates_dir
from sentiment.times import parse_moment

CATEGORY_NAMES = {
    "food_safety": "食品安全", "health_safety": "健康安全", "counterfeit": "假货质疑",
    "quality": "质量问题", "logistics": "物流问题", "service": "服务问题",
    "misleading": "描述不符", "escalation": "投诉升级", "review_manipulation": "刷评/控评风险",
}
SPIKE_NAME, TOPIC_NAME = "差评激增", "新话题"  # incident categories `spike` and `topic:<keywords>`
SEVERITY_NAMES = {"critical": "紧急", "high": "高", "medium": "中", "low": "低"}
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
KIND_NAMES = {"review": "评价", "followup": "追评", "question": "问大家·提问", "answer": "问大家·回答"}
AUDIENCE_NAMES = {"cs": "客服", "pr": "公关"}
CLUSTER_KIND_NAMES = {"rule": "规则", "spike": "差评激增", "topic": "新话题", "duplicate": "重复文本"}
STATE_NAMES = {"new": "新", "acknowledged": "已确认", "in_progress": "处理中", "resolved": "已解决",
               "ignored": "已忽略"}
ITEM_URL = "https://detail.tmall.com/item.htm?id={}"
EXCERPT_CHARS = 140
# Mail clients clip at ~100 KB; base64 grows bodies by 4/3, so keep text + html under this.
BODY_BUDGET = 70_000


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


def category_name(category: str | None) -> str:
    """A rule category's Chinese name; incidents' `spike` is 差评激增, `topic:<keywords>` 新话题：keywords."""
    if category == "spike":
        return SPIKE_NAME
    if category and category.startswith("topic:"):
        words = category[len("topic:"):].strip()
        return f"{TOPIC_NAME}：{words}" if words else TOPIC_NAME
    return CATEGORY_NAMES.get(category or "", category or "未分类")


def audience_name(audience: str) -> str:
    return AUDIENCE_NAMES.get(audience, audience)


def state_name(state: str | None) -> str:
    return STATE_NAMES.get(state or "new", state or "新")


def item_link(item_id: str | None) -> str | None:
    return ITEM_URL.format(item_id) if item_id and str(item_id).isdigit() else None


def header_text(value: str, limit: int = 120) -> str:
    """One header line: control characters (CR, LF, TAB...) become spaces, length is capped."""
    clean = " ".join("".join(c if c.isprintable() else " " for c in str(value)).split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _spans(text: str, terms: Iterable[Sequence[Any]]) -> list[tuple[int, int]]:
    spans = []
    for entry in terms:
        term, start, end = str(entry[0]), entry[1], entry[2]
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text) \
                and text[start:end] == term:
            spans.append((start, end))
        elif term and term in text:  # the text was re-normalized since: find the term again
            at = text.find(term)
            spans.append((at, at + len(term)))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str | None, terms: Iterable[Sequence[Any]] = (), width: int = EXCERPT_CHARS) -> list[dict]:
    """An excerpt of `text` as parts [{"t": str, "hit": bool}], cut around the first matched term."""
    text = " ".join((text or "").split())
    spans = _spans(text, terms)
    lo, hi = 0, len(text)
    if len(text) > width:
        lo = max(0, min(spans[0][0] - width // 4 if spans else 0, len(text) - width))
        hi = lo + width
    parts: list[dict] = [{"t": "…", "hit": False}] if lo > 0 else []
    at = lo
    for start, end in spans:
        start, end = max(start, lo), min(end, hi)
        if start >= end:
            continue
        if start > at:
            parts.append({"t": text[at:start], "hit": False})
        parts.append({"t": text[start:end], "hit": True})
        at = end
    if at < hi:
        parts.append({"t": text[at:hi], "hit": False})
    if hi < len(text):
        parts.append({"t": "…", "hit": False})
    return parts


def short(text: str | None, limit: int = 40) -> str:
    """One line of at most `limit` characters (whitespace collapsed, "…" when cut)."""
    clean = " ".join((text or "").split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def doc_view(row: Mapping[str, Any], terms: list[list[Any]]) -> dict[str, Any]:
    """A document as the templates show it: kind, local minute, rating and highlighted excerpt."""
    return {"id": row["id"], "kind": row["kind"], "kind_name": KIND_NAMES.get(row["kind"], row["kind"]),
            "created_at": (row["created_at"] or "")[:16].replace("T", " "), "rating": row["rating"],
            "parts": highlight(row["text"], terms)}


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def pp(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{'+' if value >= 0 else '−'}{abs(value) * 100:.1f} 个百分点"


def cluster_title(c: Mapping[str, Any]) -> str:
    """Rule clusters: category and their top terms; others keep the title clustering gave them."""
    if c["kind"] != "rule" or not c["category"]:
        return c["title"] or CLUSTER_KIND_NAMES.get(c["kind"], c["kind"])
    try:
        terms = [str(t) for t in json.loads(c["meta"] or "{}").get("terms", [])][:3]
    except (ValueError, AttributeError):
        terms = []
    return category_name(c["category"]) + (f"：{'、'.join(terms)}" if terms else "")


def digest_subject(data: Mapping[str, Any]) -> str:
    """`【舆情日报】<day> <audience>：N 个新事件，M 个逾期，K 个待处理` (incidents of the audience);
    【更正】 in front of a corrected copy; the no-data and quiet forms; a digest configured without
    the incidents section counts negatives instead."""
    head = ("【更正】" if data.get("correction") else "") + f"【舆情日报】{data['day']} {data['audience_name']}"
    if not data["freshness"]["covered"]:
        return header_text(f"{head}：尚无当日数据，无法判断")
    if data["quiet"]:
        return header_text(f"{head}：平稳，无需处理")
    incidents = data.get("incidents")
    if incidents:
        n = incidents["counts"]
        return header_text(f"{head}：{n['new']} 个新事件，{n['overdue']} 个逾期，{n['open']} 个待处理")
    h = data["headline"]
    return header_text(f"{head}：差评 {h['negatives']} 条（{pct(h['share'])}）")


def make_env() -> jinja2.Environment:
    """A fresh Jinja environment over the bundled templates (HTML autoescaped, strict undefined)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm"), default=False),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters.update(pct=pct, pp=pp, category=category_name,
                       severity=lambda s: SEVERITY_NAMES.get(s or "", s or "—"))
    return env


def render_pair(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """Render `name`.txt and `name`.html; the HTML gets its CSS inlined."""
    text = env.get_template(f"{name}.txt").render(**context)
    html = env.get_template(f"{name}.html").render(**context)
    return text, css_inline.inline(html)


def fit(render: Any, data: dict, lists: Sequence[str]) -> RenderedMessage:
    """Render; while over BODY_BUDGET, shorten the lists (their `more` counts grow).

    A list is named by its key in `data`, or by a dotted path to a nested one (`incidents.new`)."""
    for keep in (None, 8, 4, 2, 1, 0):
        trimmed = dict(data)
        for path in lists:
            *parents, key = path.split(".")
            holder = trimmed
            for name in parents:  # copy the way down: `data` itself is never changed
                if not isinstance(holder.get(name), Mapping):
                    holder = None
                    break
                holder[name] = dict(holder[name])
                holder = holder[name]
            section = holder.get(key) if holder is not None else None
            if keep is not None and section and len(section["items"]) > keep:
                dropped = len(section["items"]) - keep
                holder[key] = {**section, "items": section["items"][:keep], "more": section["more"] + dropped}
        message = render(trimmed)
        if len(message.text.encode()) + len(message.html.encode()) <= BODY_BUDGET:
            return message
    return message


# --- incident alerts ------------------------------------------------------------------------
# (appended for sentiment.reports.alerts; the functions above are shared with the digest)

INCIDENT_KIND_NAMES = {"rule": "规则", "spike": "差评激增", "topic": "新话题", "manipulation": "刷评/控评风险"}
RATING_LABELS = {"positive": "好评", "neutral": "中评", "negative": "差评"}
# where a source keeps the link to the review itself (none of the bundled readers has one yet)
REVIEW_URL_KEYS = ("review_url", "rate_url", "url", "link")


def incident_category_name(category: str | None) -> str:
    """`spike` and `topic:<keywords>` incidents get their kind's name; rule categories their own."""
    if category == "spike":
        return INCIDENT_KIND_NAMES["spike"]
    if (category or "").startswith("topic:"):
        return INCIDENT_KIND_NAMES["topic"]
    return category_name(category)


def local_minute(value: str | None, tz: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored ISO time as `YYYY-MM-DD HH:MM` (or `fmt`) in `tz` (naive values are UTC; unparsable
    ones are cut)."""
    moment = parse_moment(value)
    return moment.astimezone(tz).strftime(fmt) if moment else str(value or "")[:16].replace("T", " ")


def review_link(meta: Any) -> str | None:
    """The http(s) link to the review in a document's meta (JSON text or dict), if the source gave one."""
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            return None
    if not isinstance(meta, Mapping):
        return None
    for key in REVIEW_URL_KEYS:
        value = meta.get(key)
        if isinstance(value, str):
            url = value.strip()
            if url.startswith("//"):
                url = "https:" + url
            if url.lower().startswith(("https://", "http://")) and not any(c.isspace() for c in url):
                return url
    return None


def alert_doc_view(row: Mapping[str, Any], terms: list[list[Any]], tz: Any) -> dict[str, Any]:
    """`doc_view` plus what someone calling the buyer needs: order id, nickname, local date, links."""
    view = doc_view(row, terms)
    order = row.get("order_id")
    view.update(created_at=local_minute(row["created_at"], tz),
                order_id=None if order in (None, "") else str(order),
                author=short(row.get("author"), 40) or None,
                rating_name=RATING_LABELS.get(row.get("rating") or ""),
                review_link=review_link(row.get("meta")))
    return view


MAIL_BUDGET = 90_000  # the whole .eml of an alert stays under 100 KB (headers take ~1 KB)


def encoded_size(message: RenderedMessage) -> int:
    """A safe estimate of the encoded size of the text and HTML parts: the larger of base64 and
    quoted-printable for each (the mail library picks either, judging by the first lines only)."""

    def part(body: str) -> int:
        data = body.encode("utf-8")
        b64 = -(-len(data) // 3) * 4
        b64 += 2 * -(-b64 // 76)
        qp = sum(1 if 32 <= b < 127 and b != 61 else 2 if b == 10 else 3 for b in data)
        qp += 3 * (qp // 73)
        return max(b64, qp)

    return part(message.text) + part(message.html)
