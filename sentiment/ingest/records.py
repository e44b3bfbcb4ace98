"""What source parsers yield: raw records (one per text unit) and quarantined rows.

A parser maps one source shape onto `RawRecord` fields without cleaning values:
ids, dates and ratings are passed as found (str, int, float, datetime) and
`normalize.py` turns them into a canonical document. Follow-ups of a review
and answers of a question go into `children`; their parent id is set there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Union

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


Parsed = Union[RawRecord, BadRow]
ParsedStream = Iterator[Parsed]
