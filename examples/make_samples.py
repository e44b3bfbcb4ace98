"""Regenerate the bundled sample exports (deterministic). `make demo` ingests them.

Two weeks of a food-and-beauty shop's reviews (2026-11-10 .. 2026-11-24) as a
plugin CSV export, one item's reviews as an mtop JSONP capture and a 问大家 page.
The last day carries the problems a CS lead must see: a mould/diarrhoea spike
on the nut gift box with a 12315 threat, allergy reports on the face cream,
counterfeit doubts, a logistics failure on the thermos, copy-paste 好评返现 reviews.

    python examples/make_samples.py
"""
from __future__ import annotations

import csv
import json
import random
from datetime import date, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).parent / "exports"
FIRST, LAST = date(2026, 11, 10), date(2026, 11, 24)
ITEMS = {
    "600100200301": "松鼠小铺 每日坚果礼盒1500g 坚果零食大礼包",
    "600100200302": "舒缓保湿面霜50ml 敏感肌修护 补水",
    "600100200303": "儿童保温杯 316不锈钢 带吸管 500ml",
    "600100200304": "新疆长绒棉四件套 1.8m床 纯棉",
}
SKUS = {
    "600100200301": ["规格:1500g礼盒装", "规格:750g家庭装"],
    "600100200302": ["净含量:50ml", "净含量:30ml"],
    "600100200303": ["颜色分类:天空蓝", "颜色分类:樱花粉"],
    "600100200304": ["颜色分类:燕麦色;尺寸:1.8m床", "颜色分类:浅灰;尺寸:1.5m床"],
}
PRAISE = {
    "600100200301": ["坚果很新鲜，颗粒饱满", "口感酥脆，孩子很喜欢吃", "包装很高档，送人很有面子", "分量足，性价比高",
                     "每天一包刚刚好，会回购"],
    "600100200302": ["很滋润，不油腻", "敏感肌用着没有刺激，很温和", "保湿效果不错，上妆不卡粉", "味道淡淡的很好闻"],
    "600100200303": ["保温效果很好，早上装的水中午还是热的", "颜色很可爱，孩子喜欢", "做工不错，没有异味",
                     "吸管设计很方便，不漏水"],
    "600100200304": ["面料很舒服，洗了不起球", "颜色和图片一样，很高级", "纯棉的，睡着很舒服", "做工精细，线头很少"],
}
MEH = ["还行吧，一般般", "物流有点慢，东西还可以", "价格有点贵，质量还行", "和预期差不多"]
EXTRA = ["", "", "", "👍", "赞！", "下次还来", "推荐购买", "客服小姐姐很耐心", "快递小哥服务好", "已经推荐给同事了",
         "活动价很划算", "第三次回购了", "包装完好无损", "发货速度快", "给五星", "比实体店便宜", "家里人都说好"]
PLACEHOLDERS = ["此用户没有填写评价。", "评价方未及时做出评价,系统默认好评!"]
PROBLEMS = [  # (day offset from LAST, item, text, stars, follow-up)
    (0, "600100200301", "打开就有一股哈喇味，好几颗都发霉了！！", 1, ""),
    (0, "600100200301", "坚果发霉长毛了，孩子吃了拉肚子，你们这是食品安全问题", 1, "客服到现在都没回复，再不处理就打12315投诉"),
    (0, "600100200301", "收到的腰果有霉点，吃了一颗味道很怪，已经扔了", 1, ""),
    (0, "600100200301", "这批货是不是过期了？核桃仁全是霉斑", 1, ""),
    (0, "600100200301", "吃完肚子疼了一晚上，怀疑变质了，要求退款", 1, ""),
    (0, "600100200301", "里面的葡萄干发霉了，太恶心了，差评", 1, ""),
    (0, "600100200301", "发霉了还卖？已经截图准备发小红书曝光", 1, ""),
    (1, "600100200301", "有几颗开心果是空的，其他还行", 3, ""),
    (0, "600100200302", "用了两天脸上起红疹，过敏了，又痒又疼", 1, ""),
    (0, "600100200302", "敏感肌慎入！涂完整张脸都红了，去医院开了药", 1, ""),
    (1, "600100200302", "和专柜买的味道完全不一样，怀疑是假货，没有防伪码", 1, ""),
    (0, "600100200302", "瓶子上的批号被刮掉了，是不是假的？", 2, ""),
    (0, "600100200303", "快递太慢了，等了一个星期才到，外箱都破了", 2, ""),
    (0, "600100200303", "物流一直不更新，客服说不清楚，催了三次", 1, ""),
    (1, "600100200303", "收到杯子是凹的，快递暴力运输，申请退货没人理", 1, ""),
    (0, "600100200303", "到货时间比承诺晚了五天，孩子开学都没用上", 2, ""),
    (0, "600100200304", "好评返现五元，客服让我写的，东西一般", 3, ""),
    (3, "600100200302", "本来担心是假货，验了是正品，放心了", 5, ""),
    (2, "600100200301", "没有发霉，很新鲜，比超市的好", 5, ""),
]
COPY_PASTE = "面料柔软舒适，做工精细，颜色漂亮，物流很快，客服态度也很好，非常满意的一次购物，五星好评！"


def _time(rng: random.Random, day: date) -> str:
    moment = datetime(day.year, day.month, day.day, rng.randint(8, 23), rng.randint(0, 59), rng.randint(0, 59))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def plugin_rows(rng: random.Random) -> list[list[str]]:
    rows: list[list[str]] = []
    serial = 7_000_000_000_000
    day = FIRST
    while day <= LAST:
        for item, title in ITEMS.items():
            for _ in range(rng.randint(5, 9)):
                serial += rng.randint(1, 50)
                roll = rng.random()
                text = (rng.choice(PLACEHOLDERS) if roll < 0.08 else rng.choice(MEH) if roll < 0.2
                        else "，".join(rng.sample(PRAISE[item], rng.randint(1, 2)) + [rng.choice(EXTRA)]).strip("，"))
                stars = 3 if text in MEH else 5
                reply = "亲，感谢您的支持，期待再次光临~" if rng.random() < 0.3 else ""
                rows.append([str(serial), item, title, text, "", str(stars), _time(rng, day), rng.choice(SKUS[item]),
                             f"{rng.choice('tm王李张小a')}**{rng.randint(0, 9)}", reply, "天猫"])
        day += timedelta(days=1)
    for offset, item, text, stars, follow in PROBLEMS:
        serial += 7
        rows.append([str(serial), item, ITEMS[item], text, follow, str(stars), _time(rng, LAST - timedelta(days=offset)),
                     rng.choice(SKUS[item]), f"{rng.choice('tm王李张')}**{rng.randint(0, 9)}", "", "天猫"])
    for n in range(4):
        serial += 3
        rows.append([str(serial), "600100200304", ITEMS["600100200304"], COPY_PASTE, "", "5",
                     _time(rng, LAST - timedelta(days=n % 2)), SKUS["600100200304"][0], f"c**{n}", "", "天猫"])
    rows.append(rows[5][:])  # the same row exported twice: counted as a duplicate
    return sorted(rows, key=lambda r: r[6])


def write_plugin_csv(rng: random.Random) -> None:
    header = ["评论ID", "商品ID", "商品名称", "评论内容", "追加评论", "评分", "日期", "SKU", "用户昵称", "商家回复", "平台"]
    with (OUT / "评论数据_松鼠小铺旗舰店_20261124.csv").open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(plugin_rows(rng))


def write_mtop(rng: random.Random) -> None:
    rates = []
    for i, (text, rate_type) in enumerate([
        ("保温杯颜色很正，孩子很喜欢👍", "1"), ("快递员直接扔在门口，杯子摔凹了，物流太差", "-1"),
        ("盖子有点紧，小朋友拧不开", "0"), ("买了两个，一个保温一个不保温，质量不稳定", "-1"),
        ("第二次买了，送给侄子，很满意", "1"),
    ]):
        rates.append({"id": str(1_300_000_000_000 + i), "auctionNumId": "600100200303",
                      "auctionTitle": ITEMS["600100200303"], "feedback": text,
                      "feedbackDate": (LAST - timedelta(days=i % 2)).isoformat(), "rateType": rate_type,
                      "annoy": "1", "userNick": f"t**{i}", "reply": "", "skuValueStr": SKUS["600100200303"][i % 2],
                      "interactInfo": {"likeCount": str(rng.randint(0, 9))}})
    rates[1]["appendedFeed"] = {"appendedFeedback": "联系客服说只能补偿五元，不给换，太失望了", "intervalDay": "2", "reply": ""}
    body = {"api": "mtop.taobao.rate.detaillist.get", "v": "6.0", "ret": ["SUCCESS::调用成功"],
            "data": {"hasNext": "false", "rateList": rates}}
    (OUT / "mtop_rates_600100200303.jsonp").write_text(
        "mtopjsonp4(" + json.dumps(body, ensure_ascii=False) + ")", encoding="utf-8")


def write_wdj() -> None:
    questions = [
        ("这个坚果是今年的新货吗？会不会有哈喇味", "2026-11-23 20:11", [
            ("上周买的，打开就有哈喇味，还有发霉的，别买了", "2026-11-24 09:02"),
            ("我的挺新鲜的，可能看批次吧", "2026-11-24 12:40")]),
        ("小孩吃了会过敏吗？", "2026-11-22 10:05", [
            ("我家孩子吃了嘴边起疹子，可能是坚果过敏，慎重", "2026-11-24 08:15"), ("我家的吃着没问题", "2026-11-23 19:30")]),
        ("礼盒能开发票吗？", "2026-11-20 14:00", [("可以的，找客服开", "2026-11-21 08:00")]),
    ]
    qlist = []
    for qi, (title, asked, answers) in enumerate(questions):
        qlist.append({"questionId": str(5_200_000_000 + qi), "questionTitle": title,
                      "gmtCreate": str(int(datetime.fromisoformat(asked + ":00").timestamp() * 1000)),
                      "userNick": f"买***{qi}", "answerCount": str(len(answers)),
                      "topAnswerList": [{"answerId": str(6_200_000_000 + qi * 10 + ai), "answerTitle": text,
                                         "gmtCreateStr": when, "userNick": f"答**{ai}", "likeCount": str(3 + ai)}
                                        for ai, (text, when) in enumerate(answers)]})
    body = {"api": "mtop.taobao.wdj.list.merge.search", "ret": ["SUCCESS::调用成功"],
            "data": {"itemId": "600100200301", "hasNext": "false", "questionTotal": str(len(qlist)),
                     "questionList": qlist}}
    (OUT / "问大家_600100200301.json").write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rng = random.Random(20261124)
    write_plugin_csv(rng)
    write_mtop(rng)
    write_wdj()


if __name__ == "__main__":
    main()
