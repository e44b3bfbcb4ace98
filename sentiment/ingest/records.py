"""What source parsers yield: raw records (one per text unit) and quarantined rows.

A parser maps one source shape onto `RawRecord` fields without cleaning values:
ids, dates and ratings are passed as found (str, int, float, datetime) and
`normalize.py` turns them into a canonical document. Follow-ups of a review
and answers of a question go into `children`; their parent id is set there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Union

KINDS = ("review", "followup", "question", "answer")


@dataclass(slots=True)
class RawRecord:
    kind: str                      # review / followup / question / answer
    text: Any                      # the text as found (HTML, entities and all)
    row: str                       # locator for messages: "12" (line/row) or "rateList[3]"
    raw: Any = None                # the source row (dict/list) kept for quarantine
    source: str = "csv"            # tmall / taobao / qianniu / top / wdj / csv / canonical
    external_id: Any = None        # platform id of this text unit
    item_id: Any = None
    item_title: Any = None
    sku: Any = None                # "k:v;k:v", "k:v  k:v", a dict, or a list
    author: Any = None
    rating: Any = None             # good/bad, 1/0/-1, 11/12/13, stars, 好评/差评 ...
    rating_scale: str = "code"     # "code": 1/0/-1 and 11/12/13 are codes; "stars": 1-5 stars
    created: Any = None            # date/time as found; None when the source has none
    days_after_parent: Any = None  # follow-ups: 收货后5天 / intervalDay / days
    seller_reply: Any = None
    shop: Any = None
    date_required: bool = False    # True: an unparsable/missing `created` quarantines the row
    meta: dict[str, Any] = field(default_factory=dict)   # media, likes, tags, is_ai_answer ...
    children: list["RawRecord"] = field(default_factory=list)


@dataclass(slots=True)
class BadRow:
    """A row the parser could not map at all (too few columns, not an object, ...)."""

    row: str
    reason: str
    raw: Any = None


class UnreadableRow(list):  # type: ignore[type-arg]
    """A table row the reader could not take apart (an unterminated quote, a row over the size limit).

    It travels in a table's row stream as an empty row, so header detection passes over it; the
    row parsers turn it into a quarantined BadRow with `reason` and `raw` (a short excerpt).
    """

    def __init__(self, reason: str, raw: Any = None) -> None:
        super().__init__()
        self.reason = reason
        self.raw = raw


Parsed = Union[RawRecord, BadRow]
ParsedStream = Iterator[Parsed]


@dataclass(frozen=True)
class JsonShape:
    """One JSON source shape.

    `detect(doc)` says whether a parsed document (dict or list; every JSON
    number arrives as a str because files are parsed with parse_int=str and
    parse_float=str) has this shape. `parse(doc, where)` yields RawRecord or
    BadRow objects; `where` prefixes row locators (e.g. "line 3: ").
    """

    name: str
    source: str
    detect: Callable[[Any], bool]
    parse: Callable[[Any, str], ParsedStream]
