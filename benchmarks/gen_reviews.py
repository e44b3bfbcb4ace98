"""Synthetic Tmall plugin exports for benchmarks: realistic shapes, deterministic content."""
from __future__ import annotations

import csv
import random
from pathlib import Path

OPENERS = ["收到了", "第二次购买", "帮朋友买的", "双十一囤货", "用了一周", "刚拆开", "给宝宝买的", "老客户了"]
PRAISE = ["质量很好", "物流很快，第二天就到了", "包装很精美", "性价比高", "和描述一致", "客服态度很好",
          "味道不错，家人都喜欢", "做工精细", "尺码标准", "颜色很正", "会回购的", "非常满意👍"]
COMPLAINTS = ["质量太差了，用了两天就坏了", "物流太慢了，等了一个星期", "客服不理人，态度很差",
              "和图片完全不一样", "收到就发霉了，吃了拉肚子", "怀疑是假货，没有防伪码", "包装破损，漏了一半",
              "孩子用了过敏，起了红疹", "要求退货退款一直不处理", "再不处理就打12315投诉",
              "好评返现是骗人的", "味道很怪，像过期了", "尺码偏小，穿不上", "一般般吧，不值这个价"]
SKUS = ["颜色分类:红色;尺码:XL", "颜色分类:黑色;尺码:M", "口味:原味;规格:500g", "净含量:1kg"]
HEADER = ["评论ID", "商品ID", "商品名称", "评论内容", "追加评论", "评分", "评价时间", "SKU", "用户昵称", "商家回复", "订单号"]


def review(rng: random.Random, i: int) -> list[str]:
    negative = rng.random() < 0.3
    parts = [rng.choice(OPENERS)] + rng.sample(COMPLAINTS if negative else PRAISE, rng.randint(1, 3))
    stars = rng.randint(1, 2) if negative else rng.randint(4, 5)
    follow = "" if rng.random() > 0.15 else rng.choice(["用了一个月，还可以", "追评：又坏了，差评", "回购了"])
    return [str(1_000_000_000_000 + i), str(600_000_000_000 + i % 200), f"某品牌旗舰店商品{i % 200}",
            "，".join(parts) + f"（第{i}单）", follow, str(stars),
            f"2026-{1 + i % 11:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}",
            rng.choice(SKUS), f"{chr(0x4e00 + i % 2000)}**", "" if rng.random() > 0.2 else "亲，感谢您的支持",
            str(4_502_224_694_062_011_129 + i)]


def write_csv(path: Path, rows: int, seed: int = 20261125) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(review(rng, i))
    return path


def texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [review(rng, i)[3] for i in range(count)]
