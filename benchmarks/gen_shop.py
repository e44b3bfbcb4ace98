"""A realistic generated Tmall shop: reviews, dateless follow-ups (追评), 问大家 and injected incidents.

    python benchmarks/gen_shop.py --out /tmp/shop                      # 90,000 reviews, 90 days, 200 items
    python benchmarks/gen_shop.py --reviews 6000 --days 45 --items 40 --out /tmp/small
    python benchmarks/gen_shop.py --next-day --out /tmp/shop/next      # one more day after --end

Deterministic for the same options (the default --end is yesterday in Asia/Shanghai, so pass
--end to reproduce a shop on another day). Writes, into --out:

- review exports split into periods of `--split-days` days counted back from --end
  (``评价导出_<from>_<to>.csv``; the newest period holds the last days), UTF-8 with BOM, in the
  columns of ``gen_reviews.HEADER`` (评论ID, 商品ID, 商品名称, 评论内容, 追加评论, 评分,
  评价时间, SKU, 用户昵称, 商家回复, 订单号). 追加评论 is a follow-up WITHOUT its own date,
  as in the real export;
- a 问大家 export ``问大家导出_<end>.csv`` (one row per answer, the question repeated);
- ``manifest.json``: the options, the files, and every injected incident (item id and title,
  expected category and severity, how many documents, when, whether it must be open,
  whether it must alert) so benchmarks and tests can check them.

Background: ~4% negative reviews with ordinary complaints (slow logistics, size, colour,
so-so quality, attitude, taste ...), ~5% middling ones, praise with many duplicate texts
(short 好评 texts, templates such as "物流有点慢,东西还可以", platform placeholders),
~20% seller replies, ~12% dateless follow-ups (more on older reviews), and a handful of
sporadic serious texts, all older than three weeks.

Injected (E = --end): (a) mould on a food item, 15 reviews on E-1 and E (peak on E);
(b) allergy on a cosmetics item, 6 reviews on E-2..E, one about a child; (c) a charger that
smokes, 4 reviews on E-1..E; (d) counterfeit claims on one item, 8 reviews over E-3..E;
(e) 12315 threats inside the follow-ups of 4 older orders (reviews 6-20 days before E) of one
item; (f) a logistics failure on one low-volume item, 25 reviews on E-1..E; and an old mould
incident on another food item about 40 days before E (quiet-closed: never in the open queue).

`--next-day` writes only the day after --end (``评价导出_<day>.csv``; times up to now when that
day is today), sized like an average day of the shop (or --day-reviews), with a few new
问大家 rows: the "one more day of data" for the incremental-cost measurement.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
HEADER = ["评论ID", "商品ID", "商品名称", "评论内容", "追加评论", "评分", "评价时间", "SKU", "用户昵称", "商家回复", "订单号"]
QA_HEADER = ["问题ID", "问题", "提问时间", "提问用户", "回答ID", "回答内容", "回答时间", "回答用户", "商品ID", "商品名称"]
REVIEW_ID_BASE = 1_300_000_000_000
ORDER_BASE = 4_100_000_000_000_000_000
QUESTION_ID_BASE = 40_000_000_000
ANSWER_ID_BASE = 50_000_000_000
# the share of 问大家 questions per review that makes the default 90k-review shop ~230k documents
QUESTIONS_PER_REVIEW = 0.35

# ---------------------------------------------------------------------------------------------
# The catalogue: base products by kind, turned into titles with a brand and a variant

BRANDS = {
    "food": ["山野食记", "良品小铺", "果仁时光", "江南味道"],
    "cosmetics": ["肌研社", "水漾", "初白", "花间集"],
    "electronics": ["极电", "声浪", "倍能"],
    "clothing": ["棉语", "衣简", "北纬织造"],
    "home": ["居简", "暖巢", "拾光家居"],
    "baby": ["小熊贝贝", "萌宠日记"],
}
PRODUCTS = {
    "food": ["每日坚果混合果仁 750g/30包 孕妇儿童零食", "手撕牛肉干 内蒙古风干 500g 原味", "黄油曲奇饼干 礼盒装 908g",
             "明前龙井绿茶 罐装 250g", "东北五常大米 稻花香 5kg 真空包装", "柳州螺蛳粉 330g×5袋 广西特产",
             "农家土蜂蜜 500g 玻璃瓶", "夏威夷果 奶油味 500g 带开口器", "芒果干 无添加 500g 袋装",
             "云南小粒咖啡豆 中度烘焙 454g", "全麦面包 低脂早餐 1kg 整箱", "红枣夹核桃 新疆若羌 500g",
             "冻干草莓脆 100g 宝宝零食", "黑芝麻丸 九蒸九晒 252g", "重庆酸辣粉 6桶装", "原味腰果 500g 罐装"],
    "cosmetics": ["玻尿酸补水保湿面膜 30片 男女通用", "烟酰胺精华液 30ml 提亮肤色", "氨基酸洗面奶 温和清洁 120g",
                  "清爽防晒霜 SPF50+ 50ml", "丝绒哑光口红 #316 豆沙色", "儿童润肤霜 宝宝面霜 50g 秋冬保湿",
                  "卸妆水 眼唇可用 500ml", "修护乳液 100ml", "烟酰胺身体乳 400ml 香氛", "控油蓬松洗发水 750ml"],
    "electronics": ["20W PD快充充电器 Type-C插头 适用iPhone15/14", "65W氮化镓充电器 多口快充 笔记本通用",
                    "Type-C数据线 1米 6A快充 编织线", "无线蓝牙耳机 主动降噪 超长续航", "20000毫安充电宝 22.5W快充",
                    "声波电动牙刷 成人款 送刷头×4", "磁吸无线充电器 15W", "智能手环 心率血氧监测 防水",
                    "USB便携小风扇 静音", "机械键盘 青轴 104键 有线"],
    "clothing": ["纯棉短袖T恤 男女同款 宽松", "加绒连帽卫衣 秋冬款 oversize", "高腰直筒牛仔裤 女 显瘦 九分",
                 "冰丝防晒衣 女 UPF50+", "纯棉中筒袜 男 10双装", "羊毛混纺针织开衫 女 秋季", "运动速干裤 男 宽松 束脚",
                 "法式碎花连衣裙 收腰 长款"],
    "home": ["304不锈钢保温杯 500ml 大容量", "纯棉毛巾 加厚吸水 3条装", "冬季棉拖鞋 防滑 情侣款", "桌面收纳盒 抽屉式",
             "电热水壶 1.7L 304不锈钢 自动断电", "天然乳胶枕 护颈", "全棉四件套 1.8m床 简约北欧", "免手洗平板拖把 旋转"],
    "baby": ["婴儿纸尿裤 L码 52片 超薄透气", "成猫全价猫粮 10kg", "儿童保温水杯 带吸管 400ml", "宝宝湿巾 80抽×10包"],
}
VARIANTS = ["", " 旗舰款", " 2件装", " 家庭装", " 礼盒装", " 升级款", " 新品", " 量贩装", " 经典款", " 尝鲜装",
            " 加量装", " 组合装"]
KIND_SHARE = {"food": 0.30, "cosmetics": 0.18, "electronics": 0.16, "clothing": 0.16, "home": 0.12, "baby": 0.08}
SKUS = {
    "food": ["口味:原味;规格:500g", "口味:原味;规格:1kg", "口味:混合装;规格:750g", "规格:礼盒装", "净含量:250g"],
    "cosmetics": ["规格:30ml", "规格:50ml", "规格:100ml", "色号:#316", "规格:正装+小样"],
    "electronics": ["颜色分类:白色", "颜色分类:黑色", "颜色分类:白色;套餐类型:充电头+1米线", "颜色分类:深空灰"],
    "clothing": ["颜色分类:黑色;尺码:M", "颜色分类:白色;尺码:L", "颜色分类:灰色;尺码:XL", "颜色分类:藏青;尺码:S",
                 "颜色分类:卡其色;尺码:XXL"],
    "home": ["颜色分类:白色", "颜色分类:奶油黄", "规格:500ml", "尺寸:1.8m床", "颜色分类:灰色"],
    "baby": ["尺码:L", "尺码:XL", "规格:10kg", "颜色分类:蓝色", "规格:80抽"],
}


NUTS = ("坚果", "果仁", "腰果", "夏威夷果", "核桃")


def _is_nuts(base: str) -> bool:
    return any(n in base for n in NUTS)


@dataclass
class Item:
    item_id: str
    title: str
    kind: str
    base: str
    weight: float
    rank: int = 0

    @property
    def is_charger(self) -> bool:
        return "充电器" in self.base


def catalogue(n_items: int, seed: int) -> list[Item]:
    """n_items distinct items, every kind represented, with Zipf-like popularity (a hero item
    takes ~15% of the reviews, the tail a few a week)."""
    rng = random.Random(f"{seed}:catalogue")
    kinds = list(KIND_SHARE)
    counts = {k: max(1, round(n_items * KIND_SHARE[k])) for k in kinds}
    while sum(counts.values()) > n_items:
        biggest = max(counts, key=lambda k: counts[k])
        counts[biggest] -= 1
    while sum(counts.values()) < n_items:
        counts["food"] += 1
    items: list[Item] = []
    used_ids: set[int] = set()
    for kind in kinds:
        bases = list(PRODUCTS[kind])
        rng.shuffle(bases)
        if kind == "electronics":  # a charger is always in the shop
            bases.sort(key=lambda b: "充电器" not in b)
        if kind == "food":  # and nuts (the mould batches)
            bases.sort(key=lambda b: not _is_nuts(b))
        for i in range(counts[kind]):
            base = bases[i % len(bases)]
            variant = VARIANTS[(i // len(bases)) % len(VARIANTS)]
            if i >= len(bases) * len(VARIANTS):
                variant += f" {i // (len(bases) * len(VARIANTS)) + 1}代"
            brand = BRANDS[kind][(i + len(base)) % len(BRANDS[kind])]
            while True:
                item_id = rng.randrange(520_000_000_000, 790_000_000_000)
                if item_id not in used_ids:
                    used_ids.add(item_id)
                    break
            items.append(Item(str(item_id), f"{brand} {base}{variant}", kind, base, 0.0))
    order = list(range(len(items)))
    rng.shuffle(order)
    for rank, index in enumerate(order):
        items[index].rank = rank
        items[index].weight = 1.0 / (rank + 1.5) ** 0.95
    total = sum(i.weight for i in items)
    for item in items:
        item.weight /= total
    return items


# ---------------------------------------------------------------------------------------------
# Texts

OPENERS = ["", "", "", "收到了，", "第二次买了，", "帮朋友买的，", "双十一囤的，", "用了一周，", "刚拆开，", "老客户了，",
           "给家里人买的，", "回购第三次了，", "朋友推荐的，", "活动价入手，", "试试看买的，"]
PRAISE = {
    "food": ["很好吃", "味道不错", "包装很严实", "日期很新鲜", "孩子很爱吃", "分量很足", "口感酥脆", "一点都不腻",
             "家里人都说好吃", "独立包装很方便", "甜度刚好", "颗粒饱满"],
    "cosmetics": ["很温和", "保湿效果不错", "味道很好闻", "用着很舒服", "吸收很快", "不油腻", "包装精美", "上脸很清爽",
                  "皮肤滑滑的", "质地很细腻"],
    "electronics": ["充电很快", "做工不错", "音质很好", "续航可以", "很小巧方便携带", "和描述一致", "手感很好",
                    "连接很稳定", "做工精致"],
    "clothing": ["面料很舒服", "尺码标准", "版型好看", "颜色很正", "穿着很舒服", "做工精细", "很显瘦", "不起球",
                 "洗了也不变形"],
    "home": ["质量很好", "很实用", "做工精细", "大小合适", "保温效果好", "很柔软", "颜值很高", "很结实"],
    "baby": ["宝宝很喜欢", "很柔软", "吸水性很好", "猫咪爱吃", "不红屁屁", "质量很好"],
}
COMMON_PRAISE = ["物流很快", "快递很给力", "客服态度很好", "包装完好", "值得购买", "会回购的", "性价比很高",
                 "非常满意", "推荐购买", "比超市便宜", "和图片一样", "第二天就到了"]
PRAISE_END = ["", "", "！", "。", "~", "👍", "，五星好评", "，好评", "，下次还来", "，满意"]
SHORT_PRAISE = ["很好", "不错", "好评", "挺好的", "质量很好", "很满意", "好评！", "不错不错", "还可以", "很好用",
                "好吃", "喜欢", "满意", "东西不错"]
TEMPLATES = ["物流有点慢,东西还可以", "宝贝收到了，很满意，好评！", "东西很好，物流很快，五星好评",
             "质量很好，和描述一致，推荐购买", "很好，下次还会再来的", "包装很好，物流很快，东西也不错"]
PLACEHOLDERS = ["此用户没有填写评价。", "该用户觉得商品非常好，给出好评", "评价方未及时做出评价,系统默认好评!",
                "该用户觉得商品很好，给出了5星好评"]
NEUTRAL = {
    "food": ["味道一般般吧", "还行，没有想象中好吃", "有点甜了，一般", "口感一般，凑合吃"],
    "cosmetics": ["效果一般，还在观察", "味道有点香，还行", "一般般，没什么特别的"],
    "electronics": ["还行，凑合用", "音质一般，价格便宜也就这样了", "做工一般，能用"],
    "clothing": ["有点薄，还行", "颜色比图片暗一点，能接受", "版型一般"],
    "home": ["还行吧，一般", "大小比想象的小一点", "中规中矩"],
    "baby": ["一般吧", "还行，再看看", "宝宝不太喜欢"],
}
COMMON_NEUTRAL = ["东西还行就是物流有点慢", "中规中矩吧", "一般般，对得起价格", "和图片有点差别，不过还能接受"]
COMPLAINTS = {
    "logistics": ["物流太慢了，等了{n}天才到", "快递很慢，催了好几次", "发货太慢了，下单{n}天才发", "物流太慢了",
                  "快递员态度很差，直接放门口也不打电话", "外包装破损了，里面还好", "发货很慢，客服一直说在排单"],
    "size": ["尺码偏小，穿不上，得换大一码", "偏大太多了，不合身", "裤长太长了，还得去改", "码数不准，按平时的买小了"],
    "colour": ["颜色和图片不一样，有色差", "实物颜色偏暗，跟图片差太多", "颜色不对，和我选的不一样"],
    "quality": ["质量一般，不值这个价", "做工粗糙，线头很多", "有点薄，手感差", "质量很差，用了几天就坏了",
                "做工很一般，有瑕疵", "质量不好，不耐用"],
    "attitude": ["客服态度很差，问了半天不回复", "客服爱答不理的", "售后很差，退货很麻烦", "客服回复很敷衍"],
    "taste": ["味道一般，太甜了", "有点咸，不太喜欢", "口感不好，很硬", "没有上次买的好吃", "太干了，不好吃"],
    "effect": ["用着没什么效果", "味道太香了，有点冲", "太油了不吸收", "用了半个月没感觉"],
    "device": ["充电有点慢", "音质一般，杂音大", "续航不行，半天就没电了", "接触不良，时好时坏", "按键不灵敏"],
    "home": ["保温效果一般", "掉毛严重", "有股味道，散了好几天", "有点小，不实用"],
    "baby": ["有点小，不合适", "猫咪不爱吃", "味道有点大"],
}
KIND_COMPLAINTS = {"food": ["taste", "taste", "quality"], "cosmetics": ["effect", "effect"],
                   "electronics": ["device", "device", "quality"], "clothing": ["size", "colour", "quality"],
                   "home": ["home", "quality"], "baby": ["baby", "quality"]}
COMPLAINT_END = ["", "", "", "，差评", "，不会再买了", "，失望", "，不推荐", "。", "！", "，一般吧", "，下次不会买了",
                 "，有点后悔", "，差评！"]
FOLLOWUPS_POSITIVE = ["用了一段时间，还不错", "回购了，还是那么好", "用了半个月了，没问题", "追评：一直在用，挺好的",
                      "家里人都说好，已经回购", "用了一个月了，很满意", "第二次买了，品质稳定", "还是很好用，推荐"]
FOLLOWUPS_NEGATIVE = {
    "food": ["这次的味道不如上次", "吃到后面有点受潮了，不脆了", "后面几袋有点碎", "日期没有上次新"],
    "cosmetics": ["用完了没什么效果", "用了一段时间，感觉一般", "后来觉得有点闷", "瓶子有点漏，洗漱包里都是"],
    "electronics": ["用了两周就坏了，质量不行", "没用几次就不太灵了", "充电越来越慢", "用了一个月接触不良"],
    "clothing": ["洗了一次就掉色了", "穿了几次就起球了", "用了一个月，开线了", "洗完缩水了一圈"],
    "home": ["用了两周就坏了，质量不行", "保温没几天就不行了", "洗了几次掉毛严重", "用了一个月，开线了"],
    "baby": ["后来发现有点瑕疵，算了", "猫咪吃了一段时间不爱吃了", "后面几包有点干"],
}
REPLIES_POSITIVE = ["亲，感谢您的支持，期待您再次光临~", "感谢亲的好评，我们会继续努力的！", "谢谢亲的认可，祝您生活愉快~",
                    "亲的满意是我们最大的动力，欢迎再来哦"]
REPLIES_NEGATIVE = ["亲，非常抱歉给您带来不好的体验，请联系在线客服为您处理", "抱歉亲，已经安排客服联系您，请留意消息",
                    "亲，给您添麻烦了，我们会反馈改进"]
NICK_CHARS = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦"
              "付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤abcdefghjkmnpqrstwxyz0123456789")

# Questions and answers by kind
QUESTIONS = {
    "food": ["保质期多久？", "是独立包装吗？", "孩子能吃吗？", "甜不甜？", "日期新鲜吗？", "会不会有哈喇味？", "分量足吗？",
             "好吃吗？值得买吗？", "孕妇能吃吗？", "会不会受潮？"],
    "cosmetics": ["敏感肌可以用吗？", "会不会过敏？", "是正品吗？", "油皮适合吗？", "味道大吗？", "孕妇可以用吗？",
                  "保湿效果怎么样？"],
    "electronics": ["充电会发烫吗？", "支持快充吗？", "苹果15能用吗？", "是正品吗？", "续航怎么样？", "会不会很快坏？",
                    "噪音大吗？"],
    "clothing": ["160斤穿什么码？", "会起球吗？", "掉色吗？", "偏大还是偏小？", "面料透气吗？", "会缩水吗？"],
    "home": ["保温效果怎么样？", "有异味吗？", "质量怎么样？", "容易坏吗？", "好清洗吗？"],
    "baby": ["新生儿能用吗？", "会红屁屁吗？", "猫咪爱吃吗？", "味道大吗？"],
}
ANSWERS = {
    "food": ["日期很新，好吃", "是独立包装的，很方便", "孩子很爱吃", "不甜，刚好", "买了好几次了，没问题", "挺好吃的"],
    "cosmetics": ["我敏感肌用着还可以", "没有过敏，很温和", "正品，可以查防伪", "油皮用着挺清爽", "味道淡淡的，好闻",
                  "保湿还不错"],
    "electronics": ["不会发烫，挺好用", "支持快充，很快", "能用的", "正品，放心买", "续航还可以", "用了半年没坏"],
    "clothing": ["按平时的尺码买就行", "目前没起球", "洗了没掉色", "标准码", "挺透气的", "没怎么缩"],
    "home": ["保温效果很好", "没有异味", "质量挺好", "用了很久了还好", "挺好洗的"],
    "baby": ["可以的", "没有红屁屁", "我家猫挺爱吃", "没什么味道"],
}
COMMON_ANSWERS = ["不知道", "还没用", "挺好的", "还不错", "还行吧", "一般般", "可以的", "我觉得还行", "买了好几次了"]
NEGATIVE_ANSWERS = ["我买的有点小", "一般般吧，不值", "质量一般", "物流有点慢", "不太好用", "感觉一般，没回购"]

# Injected incidents: texts (deliberately varied: several buyers, not one pasted text)
MOULD = ["打开就发霉了，长了一层白毛", "坚果有霉点，一股霉味，不敢给孩子吃", "里面好几颗长毛了，恶心", "发霉了！！！这批货有问题",
         "刚拆开就闻到霉味，仔细看全是霉斑", "有好几袋都长霉了，差点就吃了", "这次买的全发霉了，以前都挺好的",
         "收到就是发霉的，已经拍照了", "果仁上全是绿毛，发霉严重", "拆了三袋两袋发霉", "发霉变质，还是同一批次的",
         "孩子吃了一口才发现长毛了，很生气", "全是霉点，这质量怎么敢卖", "包装里面有霉斑，坚果也发霉了", "霉味很重，根本不能吃"]
ALLERGY = ["用了两天脸上起红疹，过敏了", "给孩子擦了之后，孩子脸上起红疹了，很心疼", "一用就过敏，脸又红又痒",
           "用完脸上起了一片红疹子，过敏了", "过敏了，脸上起红疹，已经停用", "敷完脸刺痛发红，过敏严重"]
CHARGER = ["充电器用了一会儿就冒烟了，吓死人", "充电的时候发烫起火，插座都黑了", "插上就冒烟，还有烧焦味，太危险了",
           "用了三天充电器冒烟了，差点起火"]
FAKE = ["假货，和专柜的完全不一样", "不是正品，防伪码查不到", "包装很粗糙，明显是假货", "和专柜买的对比了，不是正品",
        "假的，味道都不对", "怀疑不是正品，专柜验过说是假的", "收到的是假货，要求退款", "不是正品，做工和专柜差太多"]
ESCALATE = ["用了十天就坏了，联系客服一直推诿，已经打12315投诉了", "退款拖了一周还没处理，我已经向12315投诉",
            "再不给我处理退款，我就去12315投诉你们", "客服一直不解决，已经拨打12315举报"]
LOGISTICS = ["快递丢件了，到现在都没收到", "一直不发货，催了好几次也没用", "物流停滞五天了，一直没动",
             "显示签收了但我根本没收到", "下单一周了还不发货", "物流信息三天没更新了，物流停滞", "快递丢了，客服说在查",
             "物流一直卡在中转站，物流停滞", "一直不发货，问客服也说不清", "快递丢件，重新发也没消息"]
LOGISTICS_END = ["", "，太失望了", "，差评", "，什么时候能到", "！", "，等得着急", "。"]
SPORADIC = {
    "food": "吃了有点拉肚子，不知道是不是这个的问题",
    "cosmetics": "用了有点过敏，脸上有点痒",
    "electronics": "充电的时候发烫严重，有点担心",
    "clothing": "感觉像假货，吊牌都是歪的",
    "home": "怀疑是假货，做工太差了",
    "baby": "宝宝用了屁屁有点红肿",
}


# ---------------------------------------------------------------------------------------------
# Rows


@dataclass
class Review:
    at: datetime
    item: Item
    text: str
    stars: int
    followup: str = ""
    reply: str = ""
    sku: str = ""
    nick: str = ""
    review_id: int = 0
    order_id: str = ""

    def row(self) -> list[str]:
        return [str(self.review_id), self.item.item_id, self.item.title, self.text, self.followup, str(self.stars),
                self.at.strftime("%Y-%m-%d %H:%M:%S"), self.sku, self.nick, self.reply, self.order_id]


@dataclass
class Shop:
    items: list[Item]
    reviews: list[Review] = field(default_factory=list)
    qa_rows: list[list[str]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    sporadic: list[dict[str, Any]] = field(default_factory=list)


HOUR_WEIGHTS = [2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 4, 6, 7, 7, 6, 6, 5, 5, 5, 5, 6, 7, 9, 10, 9, 5]


def _moment(rng: random.Random, day: date, latest: datetime | None = None) -> datetime:
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    at = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), TZ)
    if latest is not None and at > latest:
        start = datetime.combine(day, time(0), TZ)
        span = max(60, int((latest - start).total_seconds()))
        at = start + timedelta(seconds=rng.randrange(span))
    return at


def _nick(rng: random.Random) -> str:
    return f"{rng.choice(NICK_CHARS)}**{rng.choice(NICK_CHARS)}"


def _praise(rng: random.Random, item: Item) -> tuple[str, int]:
    roll = rng.random()
    stars = 5 if rng.random() < 0.8 else 4
    if roll < 0.09:
        return rng.choice(PLACEHOLDERS), 5
    if roll < 0.33:
        return rng.choice(SHORT_PRAISE), stars
    if roll < 0.41:
        text = rng.choice(TEMPLATES)
        return text, 4 if text.startswith("物流有点慢") else stars
    parts = rng.sample(PRAISE[item.kind], rng.randint(1, 2)) + rng.sample(COMMON_PRAISE, rng.randint(0, 2))
    rng.shuffle(parts)
    return rng.choice(OPENERS) + "，".join(parts) + rng.choice(PRAISE_END), stars


def _neutral(rng: random.Random, item: Item) -> str:
    pool = NEUTRAL[item.kind] + COMMON_NEUTRAL
    text = rng.choice(pool)
    if rng.random() < 0.5:
        text = rng.choice(OPENERS) + text
    if rng.random() < 0.4:
        extra = [p for p in PRAISE[item.kind] if p[:2] not in text]
        text += rng.choice(["，不过", "，", "，还好"]) + rng.choice(extra or PRAISE[item.kind])
    return text


def _complaint(rng: random.Random, item: Item) -> str:
    kinds = KIND_COMPLAINTS[item.kind] + ["logistics", "logistics", "attitude"]
    first = rng.choice(kinds)
    parts = [rng.choice(COMPLAINTS[first])]
    if rng.random() < 0.3:
        second = rng.choice([k for k in kinds if k != first])
        parts.append(rng.choice(COMPLAINTS[second]))
    text = rng.choice(OPENERS[:10]) + "，".join(parts) + rng.choice(COMPLAINT_END)
    return text.replace("{n}", str(rng.randint(4, 12)))


def _reply(rng: random.Random, stars: int, age_days: float) -> str:
    if stars <= 2:
        return rng.choice(REPLIES_NEGATIVE) if age_days > 1.5 and rng.random() < 0.45 else ""
    return rng.choice(REPLIES_POSITIVE) if rng.random() < 0.19 else ""


def _followup(rng: random.Random, item: Item, stars: int, age_days: float) -> str:
    chance = 0.16 * min(1.0, age_days / 15.0)
    if rng.random() >= chance:
        return ""
    if stars <= 2 or rng.random() < 0.12:
        return rng.choice(FOLLOWUPS_NEGATIVE[item.kind])
    return rng.choice(FOLLOWUPS_POSITIVE)


def background_review(rng: random.Random, item: Item, at: datetime, end_of_data: datetime) -> Review:
    roll = rng.random()
    if roll < 0.04:
        text, stars = _complaint(rng, item), (1 if rng.random() < 0.6 else 2)
    elif roll < 0.09:
        text, stars = _neutral(rng, item), 3
    else:
        text, stars = _praise(rng, item)
    age = (end_of_data - at).total_seconds() / 86400
    return Review(at, item, text, stars, followup=_followup(rng, item, stars, age), reply=_reply(rng, stars, age),
                  sku=rng.choice(SKUS[item.kind]), nick=_nick(rng))


def _daily_counts(rng: random.Random, total: int, days: int) -> list[int]:
    weights = []
    for d in range(days):
        trend = 0.85 + 0.3 * d / max(1, days - 1)
        weekly = 1.12 if d % 7 in (5, 6) else 1.0
        weights.append(trend * weekly * math.exp(rng.gauss(0, 0.08)))
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    for d in rng.sample(range(days), total - sum(counts)) if total - sum(counts) <= days else range(days):
        counts[d] += 1
    return counts


def _pick(items: list[Item], predicate: Any, avoid: set[str], prefer_rank: float) -> Item:
    """The item of `predicate` whose popularity rank (0 = most popular) is closest to
    prefer_rank x the catalogue size, not already used by another incident."""
    pool = [i for i in items if predicate(i) and i.item_id not in avoid]
    if not pool:
        pool = [i for i in items if i.item_id not in avoid]
    target = prefer_rank * len(items)
    best = min(pool, key=lambda i: (abs(i.rank - target), i.rank))
    avoid.add(best.item_id)
    return best


def _spread(rng: random.Random, texts: list[str], count: int, days: list[date], weights: list[float],
            item: Item, stars: tuple[int, ...], end_of_data: datetime, ends: list[str] | None = None) -> list[Review]:
    out = []
    order = rng.sample(texts, len(texts))
    for k in range(count):
        day = rng.choices(days, weights=weights)[0] if k >= len(days) else days[k]
        text = order[k % len(order)]
        if ends:
            text += rng.choice(ends)
        if k >= len(order) and not ends:
            text = rng.choice(["", "又一次：", "同样的问题，"]) + text
        out.append(Review(_moment(rng, day, end_of_data), item, text, rng.choice(stars),
                          sku=rng.choice(SKUS[item.kind]), nick=_nick(rng)))
    return out


def inject(rng: random.Random, shop: Shop, end: date, days: int, end_of_data: datetime) -> None:
    items = shop.items
    used: set[str] = set()
    E = end

    def d(n: int) -> date:
        return E - timedelta(days=n)

    def add(name: str, item: Item, category: str, severity: str, reviews: list[Review], *, field_: str = "review",
            recent: bool = True, expect_open: bool = True, expect_alert: bool | None = None,
            severity_min: str | None = None, note: str = "") -> None:
        critical = severity == "critical"
        for r in reviews:
            if not r.reply and r.at < end_of_data - timedelta(days=1.5) and rng.random() < 0.3:
                r.reply = rng.choice(REPLIES_NEGATIVE)
        shop.reviews.extend(reviews)
        dates = [r.at for r in reviews]
        shop.incidents.append({
            "name": name, "item_id": item.item_id, "item_title": item.title, "item_kind": item.kind,
            "category": category, "severity": severity, "severity_min": severity_min or severity,
            "documents": len(reviews), "in": field_, "first": min(dates).isoformat(), "last": max(dates).isoformat(),
            "recent": recent, "critical": critical, "expect_open": expect_open,
            "expect_alert": (recent and critical) if expect_alert is None else expect_alert,
            "item_rank": item.rank, "note": note,
        })

    mould_item = _pick(items, lambda i: i.kind == "food" and _is_nuts(i.base), used, 0.06)
    allergy_item = _pick(items, lambda i: i.kind == "cosmetics", used, 0.10)
    charger_item = _pick(items, lambda i: i.is_charger, used, 0.15)
    fake_item = _pick(items, lambda i: i.kind == "cosmetics", used, 0.08)
    escalate_item = _pick(items, lambda i: i.kind in ("home", "electronics", "baby"), used, 0.12)
    logistics_item = _pick(items, lambda i: i.kind in ("clothing", "home"), used, 0.45)
    old_item = _pick(items, lambda i: i.kind == "food" and _is_nuts(i.base), used, 0.12)

    # (a) mould batch, yesterday the peak
    mould = _spread(rng, MOULD, 15, [d(1)] * 5 + [d(0)] * 10, [1, 2], mould_item, (1, 1, 1, 2), end_of_data)
    add("mould", mould_item, "food_safety", "critical", mould, note="15 reviews 发霉/长毛 on E-1 (5) and E (10)")
    # (b) allergy cluster incl. a child
    allergy_days = [d(2), d(1), d(1), d(0), d(0), d(0)]
    allergy = _spread(rng, ALLERGY, 6, allergy_days, [1, 1, 1], allergy_item, (1, 1, 2), end_of_data)
    add("allergy", allergy_item, "health_safety", "critical", allergy, note="6 reviews 过敏/起红疹, one about a child")
    # (c) charger that smokes
    charger = _spread(rng, CHARGER, 4, [d(1), d(1), d(0), d(0)], [1, 1], charger_item, (1,), end_of_data)
    add("charger", charger_item, "health_safety", "critical", charger, note="4 reviews 冒烟/发烫起火")
    # (d) counterfeit claims over four days
    fake_days = [d(3), d(3), d(2), d(2), d(1), d(1), d(0), d(0)]
    fake = _spread(rng, FAKE, 8, fake_days, [1] * 4, fake_item, (1, 1, 2), end_of_data)
    add("counterfeit", fake_item, "counterfeit", "high", fake, expect_alert=False,
        note="8 reviews 假货/不是正品 over E-3..E (immediate high rule: an alert is welcome, not required)")
    # (e) 12315 threats inside dateless follow-ups of older orders
    older = []
    for k, text in enumerate(rng.sample(ESCALATE, 4)):
        day = d(rng.randint(6, min(20, max(6, days - 2))))
        original = rng.choice(["收到了，先用用看", "还行吧，一般般", "质量一般，不值这个价", "用了几天，还可以"])
        stars = 3 if "一般" in original else 4
        older.append(Review(_moment(rng, day), escalate_item, original, stars, followup=text,
                            sku=rng.choice(SKUS[escalate_item.kind]), nick=_nick(rng)))
    add("escalation_12315", escalate_item, "escalation", "critical", older, field_="followup",
        note="12315 threats in 追加评论 (no date of its own: dated when first seen) of 4 reviews 6-20 days old")
    shop.incidents[-1]["first"] = shop.incidents[-1]["last"] = None  # the follow-ups carry no date
    shop.incidents[-1]["review_dates"] = sorted(r.at.isoformat() for r in older)
    # (f) logistics failure on one low-volume item
    logistics = _spread(rng, LOGISTICS, 25, [d(1)] * 10 + [d(0)] * 15, [1, 1], logistics_item, (1, 1, 1, 2),
                        end_of_data, ends=LOGISTICS_END)
    add("logistics", logistics_item, "logistics", "high", logistics, severity_min="medium", expect_alert=False,
        note="25 reviews 快递丢件/一直不发货/物流停滞 on E-1..E against a low baseline (medium rules; 20+ members raise it)")
    # an old mould incident, quiet-closed long ago
    old_day = d(min(40, max(16, days - 4)))
    old = _spread(rng, MOULD, 10, [old_day] * 6 + [old_day + timedelta(days=1)] * 4, [1, 1], old_item,
                  (1, 1, 2), end_of_data)
    add("old_mould", old_item, "food_safety", "critical", old, recent=False, expect_open=False, expect_alert=False,
        note=f"10 reviews 发霉 on {old_day} and the day after: quiet-closed after 14 days, never in the open queue")
    # a handful of sporadic serious texts, all older than three weeks
    if days > 24:
        for k in range(max(2, min(6, days // 18))):
            item = rng.choice([i for i in items if i.item_id not in used])
            at = _moment(rng, d(rng.randint(22, days - 2)))
            shop.reviews.append(Review(at, item, SPORADIC[item.kind], rng.choice((1, 2)),
                                       sku=rng.choice(SKUS[item.kind]), nick=_nick(rng)))
            shop.sporadic.append({"item_id": item.item_id, "text": SPORADIC[item.kind], "at": at.isoformat()})


def questions(rng: random.Random, items: list[Item], n_questions: int, first_day: date, end: date,
              end_of_data: datetime, id_offset: int = 0) -> list[list[str]]:
    weights = [i.weight ** 0.8 for i in items]
    days = (end - first_day).days + 1
    asked = []
    for _ in range(n_questions):
        item = rng.choices(items, weights=weights)[0]
        at = _moment(rng, first_day + timedelta(days=rng.randrange(days)), end_of_data)
        asked.append((at, item))
    asked.sort(key=lambda x: (x[0], x[1].item_id))
    rows = []
    answer_no = 0
    for q_no, (at, item) in enumerate(asked):
        qid = str(QUESTION_ID_BASE + id_offset + q_no)
        question = rng.choice(QUESTIONS[item.kind])
        asker = _nick(rng)
        n_answers = rng.choices(range(7), weights=[4, 12, 16, 18, 16, 12, 8])[0]
        answered = sorted(at + timedelta(minutes=rng.randrange(10, 60 * 24 * 5)) for _ in range(n_answers))
        answered = [a for a in answered if a <= end_of_data]
        if not answered:
            rows.append([qid, question, at.strftime("%Y-%m-%d %H:%M:%S"), asker, "", "", "", "",
                         item.item_id, item.title])
        for a_at in answered:
            roll = rng.random()
            text = (rng.choice(NEGATIVE_ANSWERS) if roll < 0.04 else rng.choice(COMMON_ANSWERS) if roll < 0.4
                    else rng.choice(ANSWERS[item.kind]))
            rows.append([qid, question, at.strftime("%Y-%m-%d %H:%M:%S"), asker,
                         str(ANSWER_ID_BASE + id_offset * 8 + answer_no), text, a_at.strftime("%Y-%m-%d %H:%M:%S"),
                         _nick(rng), item.item_id, item.title])
            answer_no += 1
    return rows


def _assign_ids(reviews: list[Review], base: int, rng: random.Random) -> None:
    reviews.sort(key=lambda r: (r.at, r.item.item_id, r.text))
    for n, r in enumerate(reviews):
        r.review_id = base + n
        r.order_id = str(ORDER_BASE + (base + n) * 37 + rng.randrange(37))


CONFIG = """[store]
db = "{db}"

[paths]
inbox = "inbox"
processed = "processed"
failed = "failed"

[mail]
transport = "file"
outbox_dir = "outbox"
from = "舆情监控 <monitor@example.com>"

[audiences.cs]
to = ["cs-lead@example.com"]

[audiences.pr]
to = {pr}
"""


def write_config(workdir: Path, db: str, pr: Sequence[str] = ("pr-owner@example.com",)) -> None:
    """A sentiment.toml for the generated shop in `workdir` (mail to files in outbox/, a CS and a
    PR audience) and its inbox: what the benchmarks run `sentiment --config` with."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "sentiment.toml").write_text(
        CONFIG.format(db=db.replace("\\", "\\\\"), pr=json.dumps(list(pr))), encoding="utf-8")
    (workdir / "inbox").mkdir(exist_ok=True)


def default_end() -> date:
    return datetime.now(TZ).date() - timedelta(days=1)


def build_shop(reviews: int = 90_000, days: int = 90, items: int = 200, end: date | None = None, seed: int = 20261206,
               n_questions: int | None = None) -> Shop:
    """The whole shop in memory (reviews, Q&A, injected incidents)."""
    end = end or default_end()
    rng = random.Random(f"{seed}:{reviews}:{days}:{items}:{end}")
    catalog = catalogue(items, seed)
    shop = Shop(catalog)
    first = end - timedelta(days=days - 1)
    end_of_data = datetime.combine(end, time(23, 59, 59), TZ)
    cum = []
    total = 0.0
    for item in catalog:
        total += item.weight
        cum.append(total)
    for offset, count in enumerate(_daily_counts(rng, reviews, days)):
        day = first + timedelta(days=offset)
        for item in rng.choices(catalog, cum_weights=cum, k=count):
            shop.reviews.append(background_review(rng, item, _moment(rng, day), end_of_data))
    inject(rng, shop, end, days, end_of_data)
    _assign_ids(shop.reviews, REVIEW_ID_BASE, rng)
    n_q = round(reviews * QUESTIONS_PER_REVIEW) if n_questions is None else n_questions
    shop.qa_rows = questions(rng, catalog, n_q, first, end, end_of_data)
    return shop


def _write(path: Path, header: list[str], rows: Iterable[list[str]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            n += 1
    return n


QA_ROWS_PER_FILE = 1_000_000  # about 140 MB of 问大家 rows


def qa_parts(rows: list[list[str]], size: int = QA_ROWS_PER_FILE) -> Iterator[list[list[str]]]:
    """The 问大家 rows in parts of at most about `size` rows, a question's answers never split."""
    start = 0
    while start < len(rows):
        stop = min(len(rows), start + size)
        while 0 < stop < len(rows) and rows[stop][0] == rows[stop - 1][0]:
            stop += 1
        yield rows[start:stop]
        start = stop


def write_shop(out: Path, reviews: int = 90_000, days: int = 90, items: int = 200, end: date | None = None,
               seed: int = 20261206, n_questions: int | None = None, split_days: int = 30) -> dict[str, Any]:
    """Generate the shop into `out` and return the manifest (also written as manifest.json)."""
    end = end or default_end()
    shop = build_shop(reviews, days, items, end, seed, n_questions)
    out.mkdir(parents=True, exist_ok=True)
    first = end - timedelta(days=days - 1)
    files = []
    period_end = end
    while period_end >= first:
        period_start = max(first, period_end - timedelta(days=split_days - 1))
        rows = [r.row() for r in shop.reviews if period_start <= r.at.date() <= period_end]
        path = out / f"评价导出_{period_start:%Y%m%d}_{period_end:%Y%m%d}.csv"
        files.append({"path": path.name, "rows": _write(path, HEADER, rows), "kind": "reviews"})
        period_end = period_start - timedelta(days=1)
    files.reverse()
    for n, part in enumerate(qa_parts(shop.qa_rows), 1):  # under the ingester's 512 MB a file
        qa_path = out / (f"问大家导出_{end:%Y%m%d}.csv" if len(shop.qa_rows) <= QA_ROWS_PER_FILE
                         else f"问大家导出_{end:%Y%m%d}_{n:02d}.csv")
        files.append({"path": qa_path.name, "rows": _write(qa_path, QA_HEADER, part), "kind": "qa"})
    followups = sum(1 for r in shop.reviews if r.followup)
    questions_n = len({r[0] for r in shop.qa_rows})
    answers = sum(1 for r in shop.qa_rows if r[5])
    manifest = {
        "generator": "benchmarks/gen_shop.py",
        "options": {"reviews": reviews, "days": days, "items": items, "end": end.isoformat(), "seed": seed,
                    "questions": n_questions, "split_days": split_days},
        "timezone": "Asia/Shanghai", "first_day": first.isoformat(), "end": end.isoformat(),
        "counts": {"reviews": len(shop.reviews), "followups": followups, "questions": questions_n, "answers": answers,
                   "documents": len(shop.reviews) + followups + questions_n + answers,
                   "negative_reviews": sum(1 for r in shop.reviews if r.stars <= 2),
                   "seller_replies": sum(1 for r in shop.reviews if r.reply),
                   "items": len(shop.items), "reviews_per_day": round(reviews / days, 1)},
        "files": files,
        "incidents": shop.incidents,
        "sporadic": shop.sporadic,
        "items": [{"item_id": i.item_id, "title": i.title, "kind": i.kind, "rank": i.rank} for i in shop.items],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def write_next_day(out: Path, reviews: int = 90_000, days: int = 90, items: int = 200, end: date | None = None,
                   seed: int = 20261206, day_reviews: int | None = None, now: datetime | None = None) -> dict[str, Any]:
    """One more day of the same shop (the day after `end`): reviews and a few 问大家 rows."""
    end = end or default_end()
    day = end + timedelta(days=1)
    catalog = catalogue(items, seed)
    rng = random.Random(f"{seed}:next:{day}:{items}")
    count = day_reviews if day_reviews is not None else round(reviews / days)
    now = now or datetime.now(TZ)
    latest = min(datetime.combine(day, time(23, 59, 59), TZ), now - timedelta(minutes=1))
    if latest.date() < day:  # the day has not begun: squeeze it into the first minutes
        latest = datetime.combine(day, time(0, 30), TZ)
    cum, total = [], 0.0
    for item in catalog:
        total += item.weight
        cum.append(total)
    rows = [background_review(rng, item, _moment(rng, day, latest), latest)
            for item in rng.choices(catalog, cum_weights=cum, k=count)]
    base = REVIEW_ID_BASE + 500_000_000 + (day - date(2000, 1, 1)).days * 1_000_000
    _assign_ids(rows, base, rng)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"评价导出_{day:%Y%m%d}.csv"
    _write(path, HEADER, [r.row() for r in rows])
    qa = questions(rng, catalog, max(1, round(count * QUESTIONS_PER_REVIEW / 3)), day, day, latest,
                   id_offset=100_000_000 + (day - date(2000, 1, 1)).days * 10_000)
    qa_path = out / f"问大家导出_{day:%Y%m%d}.csv"
    _write(qa_path, QA_HEADER, qa)
    manifest = {"day": day.isoformat(), "files": [path.name, qa_path.name], "reviews": len(rows),
                "followups": sum(1 for r in rows if r.followup), "qa_rows": len(qa),
                "documents": len(rows) + sum(1 for r in rows if r.followup) + len({r[0] for r in qa})
                + sum(1 for r in qa if r[5])}
    (out / "next_day.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=90_000, help="background reviews (default 90,000)")
    parser.add_argument("--days", type=int, default=90, help="days of history ending at --end (default 90)")
    parser.add_argument("--items", type=int, default=200, help="items in the shop (default 200)")
    parser.add_argument("--end", type=date.fromisoformat, default=None,
                        help="last day of data, YYYY-MM-DD (default: yesterday in Asia/Shanghai)")
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--questions", type=int, default=None,
                        help=f"问大家 questions (default {QUESTIONS_PER_REVIEW} per review)")
    parser.add_argument("--split-days", type=int, default=30, help="days per review export file (default 30)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--next-day", action="store_true",
                        help="write only one more day (the day after --end) of the same shop")
    parser.add_argument("--day-reviews", type=int, default=None,
                        help="with --next-day: reviews on that day (default: reviews / days)")
    args = parser.parse_args()
    if args.days < 10:
        parser.error("--days: at least 10")
    if args.items < 12:
        parser.error("--items: at least 12")
    if args.next_day:
        info = write_next_day(args.out, args.reviews, args.days, args.items, args.end, args.seed, args.day_reviews)
        print(f"{info['day']}: {info['reviews']} reviews, {info['qa_rows']} 问大家 rows, "
              f"~{info['documents']} documents -> {args.out}")
        return
    manifest = write_shop(args.out, args.reviews, args.days, args.items, args.end, args.seed, args.questions,
                          args.split_days)
    c = manifest["counts"]
    print(f"{manifest['first_day']} .. {manifest['end']}: {c['reviews']} reviews ({c['negative_reviews']} negative, "
          f"{c['followups']} follow-ups, {c['seller_replies']} replies), {c['questions']} questions, "
          f"{c['answers']} answers: ~{c['documents']} documents, {c['items']} items")
    for f in manifest["files"]:
        print(f"  {f['path']}: {f['rows']} rows")
    for inc in manifest["incidents"]:
        print(f"  injected {inc['name']}: item {inc['item_id']} {inc['item_title']} -> {inc['category']} "
              f"({inc['severity']}), {inc['documents']} {inc['in']}s")


if __name__ == "__main__":
    main()
