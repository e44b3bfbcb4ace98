"""Rule-matching throughput with the default pack (not part of the test run).

    python benchmarks/bench_rules.py [--docs 20000] [--seed 7]

Builds realistic synthetic reviews (mostly clean, some risky, some negated or
hypothetical, some 问大家 questions), segments them once, then times
(a) normalize + segment per document, (b) `RuleSet.match` with the stored
tokens, and prints the match/segment ratio and the match-only (rescan) rate.
Times are process CPU time (time.process_time), best of 5 for matching, so
that other processes on a shared machine disturb them less.
When `sentiment.analyze` is available, the full analyze() time is timed too.
"""
from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

from sentiment.rules.loader import load_rules

from sentiment.rules.records import MatchInput

from sentiment.rules.ruleset import RuleSet
from sentiment.lang.segment import Segmenter, get_segmenter
from sentiment.lang.text import normalize

OPEN = ["收到了", "第二次购买了", "帮朋友买的", "双十一囤的货", "用了一周", "刚拆开", "给宝宝买的", "老客户了",
        "618活动买的", "看直播下单的", ""]
PRAISE = ["质量很好", "物流很快,第二天就到了", "包装很精美,送人很有面子", "性价比高", "和描述一致", "客服态度很好",
          "味道不错,家人都喜欢", "做工精细", "尺码标准", "颜色很正", "会回购的", "非常满意👍", "手感很舒服",
          "面料柔软透气", "味道很香,甜度刚好", "发货速度快", "保质期很新鲜", "效果挺明显的", "用起来很顺手",
          "宝宝很喜欢", "比超市便宜", "一如既往的好", "值得购买", "大小合适", "没有色差"]
RISKY = ["质量太差了,用了两天就坏了", "物流太慢了,等了一个星期", "客服不理人,态度很差", "和图片完全不一样",
         "收到就发霉了,吃了拉肚子", "怀疑是假货,防伪码查不到", "外包装破损,漏了一半", "孩子用了过敏,起了红疹",
         "要求退货退款一直不处理", "再不处理就打12315投诉", "好评返现是骗人的", "味道很怪,像过期了",
         "充电的时候冒烟了", "吃出一根头发", "商家打电话让我改好评", "我要发小红书让大家避雷", "虚假宣传,智商税"]
SAFE_NEG = ["没有发霉,很新鲜", "一点都不过敏", "完全没有异味", "本来担心是假货,验了是正品", "不是假货,放心买",
            "还以为会过敏,结果还好", "充电不发烫也没有冒烟", "没有色差也没有起球", "吃了也没有拉肚子"]
REAL = Path(__file__).resolve().parents[2] / "shared/data/external/online_shopping_10_cats/dev.csv"
DETAIL = ["用了{n}天{m}", "第{n}次回购了{m}", "{n}块钱买的{m}", "等了{n}个小时就到了", "买了{n}盒囤着{m}",
          "给{n}岁的孩子买的", "{m}", "折后{n}元{m}"]
MOODS = ["", "😊", "👍", "!", "~", "哈哈", "推荐", "还会再来", "赞"]
QUESTIONS = ["会不会过敏?", "是正品吗?", "宝宝能吃吗", "有没有异味?", "尺码偏大还是偏小?", "保质期多久?"]


def make_docs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        r = rng.random()
        if r < 0.06:
            docs.append(("question", rng.choice(QUESTIONS)))
            continue
        parts = [rng.choice(OPEN)] + rng.sample(PRAISE, rng.randint(2, 4))
        parts.append(rng.choice(DETAIL).format(n=rng.randint(2, 99), m=rng.choice(MOODS)))
        if r < 0.18:
            parts.insert(rng.randint(1, len(parts)), rng.choice(RISKY))
        elif r < 0.26:
            parts.insert(rng.randint(1, len(parts)), rng.choice(SAFE_NEG))
        docs.append(("review", rng.choice([",", "。", "!", " "]).join(p for p in parts if p)))
    return docs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--real", type=Path, default=REAL,
                    help="also time real review texts from this CSV (text column) when it exists")
    args = ap.parse_args()

    t0 = time.process_time()
    rules = load_rules()
    t_load = time.process_time() - t0
    seg = get_segmenter(rules.terms())
    seg.tokenize("预热")  # jieba init outside the timings
    run("synthetic", make_docs(args.docs, args.seed), rules, seg, t_load)
    if args.real.is_file():
        with args.real.open(encoding="utf-8") as fh:
            real = [("review", row["text"]) for row in csv.DictReader(fh) if row.get("text")]
        run(f"real ({args.real.parent.name}/{args.real.name})", real[: args.docs], rules, seg, t_load)
    else:
        print(f"real reviews: {args.real} not found, skipped")


def run(label: str, docs: list[tuple[str, str]], rules: RuleSet, seg: Segmenter, t_load: float) -> None:
    print(f"== {label}")
    chars = sum(len(t) for _, t in docs) / len(docs)

    t0 = time.process_time()
    prepared = []
    for kind, raw in docs:
        text = normalize(raw)
        prepared.append(MatchInput(text=text, tokens=seg.tokenize(text), kind=kind))
    t_seg = (time.process_time() - t0) / len(docs)

    best = float("inf")
    hits = 0
    for _ in range(5):
        t0 = time.process_time()
        hits = sum(len(rules.match(d)) for d in prepared)
        best = min(best, time.process_time() - t0)
    t_match = best / len(docs)

    clean = [d for d in prepared if not rules.match(d)]
    t0 = time.process_time()
    for d in clean:
        rules.match(d)
    t_clean = (time.process_time() - t0) / max(len(clean), 1)

    print(f"rules: {len(rules.rules)} ({len(rules.terms())} dictionary terms), compiled in {t_load * 1000:.0f} ms")
    print(f"docs: {len(docs)}, {chars:.1f} chars avg, {hits} hits, {len(clean)} docs without hits")
    print(f"(a) normalize+segment: {t_seg * 1e6:8.1f} us/doc")
    print(f"(b) match (tokens given): {t_match * 1e6:8.1f} us/doc  (docs without hits: {t_clean * 1e6:.1f} us/doc)")
    print(f"ratio match/segment: {t_match / t_seg:.1%}")
    print(f"match-only rescan: {1 / t_match:,.0f} docs/s")
    _analyze_ratio(docs[:2000], t_match)


def _analyze_ratio(docs: list[tuple[str, str]], t_match: float) -> None:
    try:
        from sentiment import analyze  # type: ignore[attr-defined]

        analyze(docs[0][1])
    except Exception as exc:  # the pipeline is another module; skip cleanly when it is not usable
        print(f"analyze(): not timed ({type(exc).__name__}: {exc})")
        return
    t0 = time.process_time()
    for _, raw in docs:
        analyze(raw)
    t_an = (time.process_time() - t0) / len(docs)
    print(f"analyze(): {t_an * 1e6:8.1f} us/doc; match share of analyze: {t_match / t_an:.1%}")


if __name__ == "__main__":
    main()
