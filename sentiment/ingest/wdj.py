"""问大家 (Ask buyers) payloads (FORMATS.md §1E and §4).

- `wdj-list`: mtop.taobao.wdj.list.merge.search: `data.questionList[]`, each question with
  `topAnswerList` (the first answer only).
- `wdj-detail`: mtop.taobao.social.ugc.post.detail v2.0: `data{refId, id, title, list{list[]}}`;
  each answer row `{id, title, isAiAnswer, firstCommentVO{content}, ...}`. `firstCommentVO`
  is a comment under the answer, not an answer: it stays in the answer's meta.
Both come as full mtop responses (a failed `ret` is refused) or as the `data` object alone.
Answers such as 不知道 / 还没用 get `meta["low_info"] = True`.
"""
from __future__ import annotations

from typing import Any

from sentiment.ingest.jsonutil import (
    check_object, dig, elements, first_present, has_any, id_str, is_low_info, media_urls, mtop_api, put,
    raise_if_mtop_failed, sample_matches, truthy,
)
from sentiment.ingest.records import BadRow, JsonShape, ParsedStream, RawRecord

SOURCE = "wdj"
LIST_APIS = ("mtop.taobao.wdj.",)
DETAIL_APIS = ("mtop.taobao.social.ugc.post.detail", "mtop.taobao.social.feed.aggregate")
QUESTION_TEXT_KEYS = ("questionTitle", "title", "question", "content")
ANSWER_TEXT_KEYS = ("answerTitle", "title", "content", "answer")


def _data(doc: Any) -> Any:
    data = doc.get("data") if isinstance(doc, dict) else None
    if isinstance(data, dict) and ("api" in doc or "ret" in doc or has_any(data, "questionList", "refId")):
        return data
    return doc


def _prefix(doc: Any, data: Any, where: str) -> str:
    return where + ("data." if data is not doc else "")


# ---------------------------------------------------------------- shared: answers

def _answer(obj: dict[str, Any], row: str, item_id: Any) -> RawRecord:
    text = first_present(obj, *ANSWER_TEXT_KEYS)
    meta: dict[str, Any] = {}
    put(meta, "likes", first_present(obj, "likeCount", "interactInfo.likeCount", "praiseCount"))
    put(meta, "is_ai_answer", truthy(first_present(obj, "isAiAnswer", "aiAnswer")))
    put(meta, "purchase_tag", first_present(obj, "buyTag", "purchaseTag", "userTag", "tagText"))
    put(meta, "credit_level", first_present(obj, "creditLevel", "userCreditLevel"))
    put(meta, "first_comment", dig(obj, "firstCommentVO.content"))
    put(meta, "pics", media_urls(obj.get("picList"), obj.get("pics")))
    put(meta, "ip_location", first_present(obj, "ipLocation", "ip_location"))
    if is_low_info(text):
        meta["low_info"] = True
    return RawRecord(
        kind="answer", text=text, row=row, raw=obj, source=SOURCE,
        external_id=first_present(obj, "answerId", "id"), item_id=item_id,
        sku=first_present(obj, "skuText", "sku", "skuInfo"), author=first_present(obj, "userNick", "nick"),
        created=first_present(obj, "gmtCreate", "gmtCreateStr", "answerTime"), meta=meta,
    )


def _answers(rows: Any, locator: str, item_id: Any, question: RawRecord) -> list[BadRow]:
    """Answer rows become children of `question`; unusable ones come back as BadRows."""
    bad_rows: list[BadRow] = []
    for row, obj in elements(rows, locator):
        bad = check_object(obj, row, ANSWER_TEXT_KEYS)
        if bad:
            bad_rows.append(bad)
        else:
            question.children.append(_answer(obj, row, item_id))
    return bad_rows


# ---------------------------------------------------------------- wdj-list

def _is_question(obj: Any) -> bool:
    return has_any(obj, "questionId", "questionTitle", "topAnswerList")


def detect_list(doc: Any) -> bool:
    if mtop_api(doc).startswith(LIST_APIS):
        return True
    data = _data(doc)
    if not isinstance(data, dict) or not isinstance(data.get("questionList"), list):
        return False
    found = sample_matches(data["questionList"], _is_question)
    return has_any(data, "questionTotal", "hasNext") if found is None else found


def parse_list(doc: Any, where: str) -> ParsedStream:
    raise_if_mtop_failed(doc, where)
    data = _data(doc)
    if not isinstance(data, dict):
        return
    list_item = first_present(data, "itemId", "refId")
    for row, obj in elements(data.get("questionList"), _prefix(doc, data, where) + "questionList"):
        bad = check_object(obj, row, QUESTION_TEXT_KEYS)
        if bad:
            yield bad
            continue
        item_id = first_present(obj, "itemId", "refId") or list_item
        meta: dict[str, Any] = {}
        put(meta, "answer_count_reported", first_present(obj, "answerCount", "replyCount"))
        put(meta, "asker_tags", first_present(obj, "userTag", "buyTag", "tags"))
        put(meta, "ip_location", first_present(obj, "ipLocation", "ip_location"))
        put(meta, "cluster_id", obj.get("clusterId"))
        question = RawRecord(
            kind="question", text=first_present(obj, *QUESTION_TEXT_KEYS), row=row, raw=obj, source=SOURCE,
            external_id=first_present(obj, "questionId", "id"), item_id=item_id,
            author=first_present(obj, "userNick", "nick"), created=first_present(obj, "gmtCreate", "gmtCreateStr"),
            meta=meta,
        )
        bad_answers = _answers(obj.get("topAnswerList"), row + ".topAnswerList", item_id, question)
        yield question
        yield from bad_answers


# ---------------------------------------------------------------- wdj-detail

def _detail_answers(data: dict[str, Any]) -> tuple[str, Any]:
    inner = data.get("list")
    if isinstance(inner, dict):
        return "list.list", inner.get("list")
    return "list", inner


def detect_detail(doc: Any) -> bool:
    if mtop_api(doc).startswith(DETAIL_APIS):
        return True
    data = _data(doc)
    if not isinstance(data, dict) or not has_any(data, "title") or not has_any(data, "refId", "questionCount"):
        return False
    inner = data.get("list")
    return isinstance(inner, list) or (isinstance(inner, dict) and "list" in inner)


def parse_detail(doc: Any, where: str) -> ParsedStream:
    raise_if_mtop_failed(doc, where)
    data = _data(doc)
    if not isinstance(data, dict):
        return
    prefix = _prefix(doc, data, where)
    row = where + "data"
    bad = check_object(data, row, ("title",))
    if bad:
        yield bad
        return
    meta: dict[str, Any] = {}
    put(meta, "answer_count_reported", dig(data, "list.totalCount"))
    put(meta, "item_question_count", data.get("questionCount"))
    put(meta, "is_end", dig(data, "list.isEnd"))
    put(meta, "similar_ids", data.get("similarIds"))
    question = RawRecord(
        kind="question", text=data.get("title"), row=row, raw={k: v for k, v in data.items() if k != "list"},
        source=SOURCE, external_id=id_str(data.get("id")), item_id=data.get("refId"),
        author=first_present(data, "userNick", "nick"), created=first_present(data, "gmtCreate", "gmtCreateStr"),
        meta=meta,
    )
    locator, rows = _detail_answers(data)
    bad_answers = _answers(rows, prefix + locator, data.get("refId"), question)
    yield question
    yield from bad_answers


SHAPES = [
    JsonShape("wdj-list", SOURCE, detect_list, parse_list),
    JsonShape("wdj-detail", SOURCE, detect_detail, parse_detail),
]
