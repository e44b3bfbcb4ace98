"""CSV/TSV/XLSX exports with Chinese (or English) headers, mapped through an alias table."""
from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Iterator, Mapping

from sentiment.errors import IngestError
from sentiment.ingest.jsonfile import TooDeep, load_json
from sentiment.ingest.limits import shorten
from sentiment.ingest.records import BadRow, ParsedStream, RawRecord, UnreadableRow
from sentiment.ingest.values import clean_id
from sentiment.lang.text import to_simplified

# canonical field -> header aliases (FORMATS.md §1D and §4), most specific first.
# Extend with [ingest.aliases] in sentiment.toml: field = ["我的列名", ...].
ALIASES: dict[str, tuple[str, ...]] = {
    "text": ("评价内容", "评论内容", "评价正文", "初评内容", "初次评价", "首评内容", "评价文字", "买家评价",
             "评论", "评价", "内容", "rateContent", "rate_content", "feedback", "feedContent", "content",
             "review", "review_text", "comment", "text"),
    "followup": ("追评内容", "追加评论", "追加评价", "追评", "买家追评", "appendContent", "append_content",
                 "followup", "follow_up"),
    "followup_date": ("追评时间", "追加时间", "追评日期", "appendTime", "append_time"),
    "followup_days": ("追评天数", "追评间隔", "appendDays", "intervalDay"),
    "followup_reply": ("追评回复", "追评商家回复", "appendReply"),
    "date": ("评价时间", "评论时间", "评价日期", "评论日期", "留言时间", "初评时间", "发表时间", "时间", "日期",
             "rateDate", "feedbackDate", "feedDate", "date", "created", "created_at", "review_data",
             "review_date", "time"),
    "rating_stars": ("评分", "星级", "评价星级", "评论星级", "星数", "打分", "rate_star", "stars", "score"),
    "rating": ("评价类型", "评价等级", "评价结果", "好中差评", "评价分类", "情感", "rating", "result",
               "rateType", "feedEmotion"),
    "sku": ("SKU", "sku", "规格", "商品规格", "购买规格", "型号", "款式", "颜色分类", "商品属性", "auctionSku",
            "skuValueStr", "product_info"),
    "review_id": ("评价ID", "评价编号", "评论ID", "评论编号", "评价id", "rateId", "rate_id", "feedId",
                  "review_id", "id", "编号", "序号"),
    "item_id": ("商品ID", "商品id", "宝贝ID", "宝贝id", "商品编号", "itemId", "item_id", "num_iid", "auctionNumId",
                "product_id", "商品链接ID"),
    "item_title": ("商品名称", "商品标题", "宝贝名称", "宝贝标题", "商品", "产品名称", "itemTitle", "item_title",
                   "auctionTitle", "title", "product"),
    "author": ("用户昵称", "买家昵称", "买家", "用户名", "昵称", "会员名", "评价人", "userNick", "nick",
               "displayUserNick", "buyerName", "author", "user"),
    "seller_reply": ("商家回复", "卖家回复", "掌柜回复", "店铺回复", "回复内容", "评价解释", "解释", "reply",
                     "seller_reply"),
    "order_id": ("订单号", "订单编号", "订单ID", "子订单号", "orderId", "order_id", "tid", "oid"),
    "shop": ("店铺", "店铺名称", "店铺名", "shop", "shop_name"),
    "pics": ("图片", "有图片", "晒图", "评价图片", "pics"),
    "likes": ("点赞数", "有用数", "useful", "likes"),
    "platform": ("平台", "platform", "cmsSource"),
    # 问大家 exports: one row per answer (question repeated) or per question
    "question_id": ("问题ID", "问题id", "问题编号", "questionId", "question_id"),
    "question": ("问题", "问题内容", "提问", "提问内容", "买家提问", "questionTitle", "question"),
    "question_date": ("提问时间", "问题时间", "question_time", "gmtCreate"),
    "asker": ("提问用户", "提问人", "提问者"),
    "answer_id": ("回答ID", "回答id", "回答编号", "answerId", "answer_id"),
    "answer": ("回答内容", "回答", "答案", "answerTitle", "answer"),
    "answer_date": ("回答时间", "答复时间", "answer_time", "gmtCreateStr"),
    "answerer": ("回答用户", "回答人", "回答者"),
    "answer_likes": ("回答点赞数",),
}
_BRACKETS = re.compile(r"[(（\[【][^)）\]】\n]{0,100}?[)）\]】]")  # bounded: header cells are untrusted
MAX_HEADER_CHARS = 200  # a longer cell is no header name (and is never scanned)
# legacy scraper TSV without a header (FORMATS.md §1D)
LEGACY_TSV = ("review_id", "seller_id", "seller_reply", "buyer_level", "author", "platform", "sku", "date",
              "text", "followup")


def header_key(name: Any) -> str:
    """A header name as looked up in the alias index: NFKC, brackets and separators out, lower
    case, traditional characters simplified (評價內容 is 评价内容: HK/TW exports)."""
    text = str(name)
    if len(text) > MAX_HEADER_CHARS:
        return ""
    text = unicodedata.normalize("NFKC", text).strip().lstrip("\ufeff")
    text = _BRACKETS.sub("", text).strip()
    return to_simplified(re.sub(r"[\s_\-:：]+", "", text).lower())


# header key -> (field, rank): a lower rank is a more specific alias
AliasIndex = Mapping[str, tuple[str, int]]


def build_alias_index(extra: Mapping[str, Any] | None = None) -> dict[str, tuple[str, int]]:
    index: dict[str, tuple[str, int]] = {}
    for field, names in ALIASES.items():
        for rank, name in enumerate(names):
            index.setdefault(header_key(name), (field, rank))
    for field, names in (extra or {}).items():
        if field not in ALIASES:
            raise IngestError(f"[ingest.aliases]: unknown field {field!r} (known: {', '.join(ALIASES)})")
        for name in [names] if isinstance(names, str) else names:
            index[header_key(name)] = (field, -1)  # the user's own names win
    return index


def map_header(header: list[Any], index: AliasIndex) -> dict[str, int]:
    """canonical field -> column index; when two columns fit one field (评价内容 and 评价), the
    more specific alias wins, then the leftmost column."""
    best: dict[str, tuple[int, int]] = {}
    for position, name in enumerate(header):
        found = index.get(header_key(name))
        if found is None:
            continue
        field, rank = found
        if field not in best or rank < best[field][0]:
            best[field] = (rank, position)
    return {field: position for field, (_, position) in best.items()}


def _looks_legacy(cells: list[Any]) -> bool:
    return (len(cells) >= 9 and str(cells[0]).strip().isdigit()
            and re.match(r"\d{4}-\d{2}-\d{2}", str(cells[7]).strip()) is not None)


def table_shape(header: list[Any], index: AliasIndex) -> tuple[str, dict[str, int]]:
    columns = map_header(header, index)
    if "question" in columns:
        return "wdj-table", columns
    if "text" in columns:
        return "review-table", columns
    if _looks_legacy(header):
        return "legacy-tsv", {name: i for i, name in enumerate(LEGACY_TSV)}
    shown = shorten(", ".join(shorten(str(h), 40) for h in header[:12]), 160) or "(none)"
    raise IngestError(f"no recognizable text column (headers: {shown}); "
                      "add an alias under [ingest.aliases] text = [...] in sentiment.toml")


class _Row:
    """One table row by canonical field: strings stripped, empty cells None."""

    __slots__ = ("cells", "values")

    def __init__(self, cells: list[Any], columns: Mapping[str, int]) -> None:
        self.cells = cells
        size = len(cells)
        values: dict[str, Any] = {}
        for field, position in columns.items():
            if position < size:
                value = cells[position]
                if isinstance(value, str):
                    value = value.strip() or None
                if value is not None:
                    values[field] = value
        self.values = values

    def get(self, field: str) -> Any:
        return self.values.get(field)


def _rating(row: _Row) -> tuple[Any, str]:
    if row.get("rating") is not None:
        return row.get("rating"), "code"
    return row.get("rating_stars"), "stars"


def _meta(row: _Row) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    values = row.values
    if not any(f in values for f in META_FIELDS):
        return meta
    order_id = row.get("order_id")
    if order_id is not None:
        exact_id, exact = clean_id(order_id)
        meta["order_id"] = exact_id
        if not exact:
            meta["order_id_inexact"] = True
    for field in ("pics", "likes", "platform"):
        value = row.get(field)
        if value is not None:
            meta[field] = str(value)
    return meta


META_FIELDS = ("order_id", "pics", "likes", "platform")


def review_record(row: _Row, number: int, source: str) -> RawRecord:
    rating, scale = _rating(row)
    get = row.values.get
    rec = RawRecord(
        kind="review", text=get("text"), row=str(number), raw=row.cells, source=source,
        external_id=get("review_id"), item_id=get("item_id"), item_title=get("item_title"),
        sku=get("sku"), author=get("author"), rating=rating, rating_scale=scale,
        created=get("date"), seller_reply=get("seller_reply"), shop=get("shop"), meta=_meta(row),
    )
    cell = get("followup")
    if cell is not None:
        followup = _followup_object(cell)
        if followup.get("content") is not None:
            rec.children.append(RawRecord(
                kind="followup", text=followup["content"], row=str(number), source=source,
                created=get("followup_date") or followup.get("commentTime"),
                days_after_parent=get("followup_days") or followup.get("days"),
                seller_reply=get("followup_reply") or followup.get("reply") or None,
            ))
    return rec


def _followup_object(value: Any) -> dict[str, Any]:
    """The follow-up cell as {content, commentTime, days, reply}: legacy exports keep
    appendComment as a JSON object in the cell, others the plain text."""
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        try:
            parsed = load_json(value)
        except (json.JSONDecodeError, TooDeep):
            return {"content": value}
        if isinstance(parsed, dict):
            return {k: (v if v != "" else None) for k, v in parsed.items()}
    return {"content": value}


def _too_short(cells: list[Any], columns: Mapping[str, int], required: str, width: int) -> bool:
    """Fewer cells than the header (a CSV row cut short), or none where the text belongs.

    XLSX rows come with trailing empty cells trimmed, so they pass width=0.
    """
    return columns[required] >= len(cells) or len(cells) < width


def parse_reviews(rows: Iterator[tuple[int, list[Any]]], columns: dict[str, int], width: int,
                  source: str = "csv") -> ParsedStream:
    for number, cells in rows:
        if not any(str(c).strip() for c in cells):
            if isinstance(cells, UnreadableRow):
                yield BadRow(str(number), cells.reason, cells.raw)
            continue
        if _too_short(cells, columns, "text", width):
            yield BadRow(str(number), f"too few columns: {len(cells)} of {width}", cells)
            continue
        yield review_record(_Row(cells, columns), number, source)


def parse_questions(rows: Iterator[tuple[int, list[Any]]], columns: dict[str, int], width: int,
                    ) -> ParsedStream:
    """问大家 rows: consecutive rows with the same question become one question with answers."""
    current: RawRecord | None = None
    current_key: Any = None
    for number, cells in rows:
        if not any(str(c).strip() for c in cells):
            if isinstance(cells, UnreadableRow):
                yield BadRow(str(number), cells.reason, cells.raw)
            continue
        if _too_short(cells, columns, "question", width):
            yield BadRow(str(number), f"too few columns: {len(cells)} of {width}", cells)
            continue
        row = _Row(cells, columns)
        key = (row.get("question_id"), row.get("item_id"), row.get("question"))
        if current is None or key != current_key:
            if current is not None:
                yield current
            current, current_key = _question(row, number), key
        answer = row.get("answer")
        if answer is not None:
            current.children.append(RawRecord(
                kind="answer", text=answer, row=str(number), raw=cells, source="wdj",
                external_id=row.get("answer_id"), created=row.get("answer_date"), author=row.get("answerer"),
                meta={"likes": str(row.get("answer_likes"))} if row.get("answer_likes") is not None else {},
            ))
    if current is not None:
        yield current


def _question(row: _Row, number: int) -> RawRecord:
    return RawRecord(
        kind="question", text=row.get("question"), row=str(number), raw=row.cells, source="wdj",
        external_id=row.get("question_id"), item_id=row.get("item_id"), item_title=row.get("item_title"),
        created=row.get("question_date"), author=row.get("asker"), shop=row.get("shop"),
    )


HEADER_SCAN_ROWS = 10  # exports often open with a title line or two before the header


def is_header(cells: list[Any], index: AliasIndex) -> bool:
    """A header row: it names a text (or 问大家 question) column."""
    columns = map_header(cells, index)
    return "text" in columns or "question" in columns


def _find_header(first: tuple[int, list[Any]], rows: Iterator[tuple[int, list[Any]]],
                 index: AliasIndex) -> tuple[int, list[Any]] | None:
    """The header within the first rows (title lines before it are not data)."""
    candidate: tuple[int, list[Any]] | None = first
    for _ in range(HEADER_SCAN_ROWS):
        if candidate is None:
            return None
        if is_header(candidate[1], index):
            return candidate
        candidate = next(rows, None)
    return None


def parse_table(rows: Iterator[tuple[int, list[Any]]], index: AliasIndex,
                forced_shape: str | None = None, *, fixed_width: bool = True) -> tuple[str, ParsedStream]:
    """Find the header, pick the table shape and return (shape, record stream)."""
    first = next(rows, None)
    if first is None:
        raise IngestError("empty file")
    header_row = first if _looks_legacy(first[1]) else _find_header(first, rows, index)
    if header_row is None and isinstance(first[1], UnreadableRow):
        raise IngestError(f"line {first[0]}: {first[1].reason}: no header found")
    shape, columns = table_shape((header_row or first)[1], index)
    if forced_shape and forced_shape != shape:
        raise IngestError(f"--format {forced_shape}: the header looks like {shape}")
    header = (header_row or first)[1]
    width = len(header) if fixed_width else 0
    if shape == "legacy-tsv":
        return shape, parse_reviews(_chain(first, rows), columns, min(width, 9), source="tmall")
    if shape == "wdj-table":
        return shape, parse_questions(rows, columns, width)
    return shape, parse_reviews(rows, columns, width)


def _chain(first: tuple[int, list[Any]], rows: Iterator[tuple[int, list[Any]]],
           ) -> Iterator[tuple[int, list[Any]]]:
    yield first
    yield from rows
