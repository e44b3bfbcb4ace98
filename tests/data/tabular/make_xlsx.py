"""Regenerate isv_export.xlsx: a TOP-based ISV (好评返现) review export.

Run from anywhere: python tests/data/tabular/make_xlsx.py
The workbook carries the Excel traps of FORMATS.md §6.7: a real datetime cell,
a date typed as text, an integer order id cell, a float order id cell, a
19-digit order id stored as text (a number would be rounded), a blank row,
and a row without review text.
"""
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent

ROWS = [
    ["买家昵称", "评价内容", "评价时间", "订单号", "评价结果", "商品ID"],
    ["王**", "好评返现收到了，宝贝质量不错，物流很快", datetime(2024, 6, 1, 10, 30, 0),
     "4502224694062011129", "好评", 752102501302],
    ["w**", "昨晚找客服预约的上门安装，师傅很专业，保修三年", "2024-06-02 16:24:04",
     3309081924709001, "好评", 752102501302],
    ["李**", "烘干模式要手动，三条内裤没有完全干透", datetime(2024, 6, 3, 21, 5, 0),
     3309081924709002.0, "中评", 752102501302],
    [None, None, None, None, None, None],
    ["赵**", "洗了一次就坏了，客服推来推去，再不处理就去12315投诉&hellip;", datetime(2024, 6, 4, 8, 0, 0),
     "4502224694062011130", "差评", 752102501302],
    ["t**3", "该用户觉得商品非常好，给出5星好评", datetime(2024, 6, 16, 0, 0, 1),
     "4502224694062011131", "好评", 752102501302],
    ["钱**", None, datetime(2024, 6, 5, 9, 0, 0), "4502224694062011132", "差评", 752102501302],
]


def main() -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "评价列表"
    for row in ROWS:
        sheet.append(row)
    sheet["D2"].number_format = "@"   # the 19-digit id is a text cell
    target = HERE / "isv_export.xlsx"
    book.save(target)
    return target


if __name__ == "__main__":
    print(main())
