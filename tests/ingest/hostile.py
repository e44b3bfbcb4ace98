"""Generators of hostile input files for test_hostile.py: each writes a small file and returns its path.

Nothing large is committed: every file is built at test time. The largest ones stay within a few
MB on disk (a zip member can unpack to more: that is the point of `xlsx_part`).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Iterable

HEADER = ["评价内容", "评价时间", "用户昵称"]


def review_rows(count: int, start: int = 0, tag: str = "") -> list[list[str]]:
    """`count` distinct, ordinary review rows (text, date, masked nick)."""
    return [[f"{tag}第{i}条评价：质量不错，物流很快，会回购", f"2024-05-{1 + i % 28:02d} 10:{i % 60:02d}:00", f"t**{i % 10}"]
            for i in range(start, start + count)]


def _csv_line(cells: Iterable[str]) -> str:
    return ",".join(cells) + "\r\n"


def write_csv(path: Path, rows: Iterable[list[str]], header: list[str] = HEADER,
              encoding: str = "utf-8") -> Path:
    """A plain CSV (cells must not need quoting)."""
    text = _csv_line(header) + "".join(_csv_line(r) for r in rows)
    path.write_bytes(text.encode(encoding))
    return path


def csv_unterminated_quote(path: Path, after: int = 999) -> Path:
    """Row 2 (line 2) opens a quote it never closes; `after` good rows follow it."""
    bad = '"这个评价的引号没有闭合，后面的行都被吞掉,2024-05-01 09:00:00,a**1'
    text = _csv_line(HEADER) + bad + "\r\n" + "".join(_csv_line(r) for r in review_rows(after))
    path.write_text(text, encoding="utf-8")
    return path


def csv_long_cell(path: Path, chars: int, *, quoted: bool = False, before: int = 2, after: int = 2) -> Path:
    """`before` good rows, one row whose text cell is `chars` characters long, `after` good rows."""
    cell = "长" * chars
    if quoted:
        cell = '"' + cell + '"'
    rows = [*review_rows(before), [cell, "2024-05-02 10:00:00", "b**2"], *review_rows(after, start=before)]
    return write_csv(path, rows)


def csv_long_header(path: Path, chars: int) -> Path:
    """A header line whose first cell is `chars` characters long (no text column can be found)."""
    rows = review_rows(3)
    text = _csv_line(["列" * chars, "评价时间"]) + "".join(_csv_line(r[:2]) for r in rows)
    path.write_text(text, encoding="utf-8")
    return path


def csv_space_runs(path: Path, spaces: int = 300_000) -> Path:
    """A SKU cell and a follow-up-days cell holding long runs of spaces (values parsed by regexes)."""
    pad = " " * spaces
    rows = [["质量不错", f"颜色分类:黑色{pad}尺码:L{pad}x", "用了一周，还行", f"1{pad}x"]]
    return write_csv(path, rows, header=["评价内容", "规格", "追评内容", "追评天数"])


def big5_csv(path: Path, text: str = "這個產品品質很好，物流很快") -> Path:
    """A traditional-Chinese export from a HK/TW seller, saved as Big5 (cp950) with traditional headers."""
    rows = [[text, "2024-05-01 10:00:00", "陳**"],
            ["包裝有點破損，但是東西沒問題，客服態度不錯", "2024-05-02 11:30:00", "林**"],
            ["顏色和圖片一樣，尺寸剛好，會再來買", "2024-05-03 12:45:00", "黃**"]]
    return write_csv(path, rows, header=["評價內容", "評論時間", "買家暱稱"], encoding="big5")


def jsonp_padded(path: Path, variant: str, spaces: int = 20_000) -> Path:
    """A `.jsonp` capture whose callback is followed by `spaces` spaces.

    variants: "ok" (a well-formed body after the spaces), "truncated" (no closing parenthesis),
    "garbage" (spaces then junk), "name-gap" (the spaces between the callback name and "("),
    "lines" (two such lines, as in a JSON-lines file of responses).
    """
    body = json.dumps({"rateDetail": {"rateList": [
        {"id": "9001", "rateContent": "凑单买的，还可以", "rateDate": "2024-05-01 10:00:00"}]}}, ensure_ascii=False)
    pad = " " * spaces
    text = {
        "ok": f"jsonp128({pad}{body})",
        "truncated": f"jsonp128({pad}{body[:-10]}",
        "garbage": f"jsonp128({pad}x",
        "name-gap": f"jsonp128{pad}({body});",
        "lines": f"jsonp1({pad}x\njsonp2({pad}x\n",
    }[variant]
    path.write_text(text, encoding="utf-8")
    return path


def deep_json(path: Path, depth: int, kind: str = "list") -> Path:
    """`[[[...]]]` or `{"a":{"a":...}}` nested `depth` levels deep."""
    if kind == "list":
        text = "[" * depth + "]" * depth
    elif kind == "dict":
        text = '{"a":' * depth + "1" + "}" * depth
    elif kind == "in-rate":  # a recognised shape with one field nested deep
        text = ('{"rateDetail":{"rateList":[{"id":"1","rateContent":"好","rateDate":"2024-05-01 10:00:00",'
                '"pics":' + "[" * depth + "]" * depth + "}]}}")
    else:
        raise ValueError(kind)
    path.write_text(text, encoding="utf-8")
    return path


def rate_json(path: Path, texts: list[str]) -> Path:
    """An ordinary list_detail_rate capture with one rate per text."""
    rates = [{"id": str(7000 + i), "rateContent": t, "rateDate": "2024-05-01 10:00:00"} for i, t in enumerate(texts)]
    path.write_text(json.dumps({"rateDetail": {"rateList": rates}}, ensure_ascii=False), encoding="utf-8")
    return path


def xlsx_rows(path: Path, rows: list[list[Any]], header: list[str] = HEADER) -> Path:
    """An XLSX written by openpyxl (a string starting with "=" is stored as a formula, no cached value)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
    '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+'
    'xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType='
    '"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
    '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
    '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet '
    'name="评价" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
    '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    '</Relationships>')
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def xlsx_huge_cell(path: Path, cell_chars: int, rows: int = 3) -> Path:
    """A hand-built XLSX whose shared strings hold one cell of `cell_chars` characters (streamed into
    the zip: the file stays tiny, the part unpacks to `cell_chars` bytes), plus `rows` ordinary rows."""
    good = review_rows(rows)
    strings = ["评价内容", "评价时间", *(r[0] for r in good), *(r[1] for r in good)]
    sheet = [f'<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>']
    for i in range(rows):
        sheet.append(f'<row r="{i + 2}"><c r="A{i + 2}" t="s"><v>{2 + i}</v></c>'
                     f'<c r="B{i + 2}" t="s"><v>{2 + rows + i}</v></c></row>')
    big = len(strings)
    sheet.append(f'<row r="{rows + 2}"><c r="A{rows + 2}" t="s"><v>{big}</v></c></row>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0" encoding="UTF-8"?><worksheet '
                         f'xmlns="{_NS}"><dimension ref="A1:B{rows + 2}"/><sheetData>{"".join(sheet)}</sheetData>'
                         '</worksheet>')
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            part.write(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_NS}">'.encode())
            for s in strings:
                part.write(f"<si><t>{s}</t></si>".encode())
            part.write(b"<si><t>")
            block = b"a" * (1 << 20)
            left = cell_chars
            while left > 0:
                part.write(block[:left])
                left -= len(block)
            part.write(b"</t></si></sst>")
    return path
