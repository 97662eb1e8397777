"""``bench/catalog_search.py``'s catalog (word lists, queries) and its steps in a Django process."""

from __future__ import annotations

import random
import time

# category: (brands, product words, modifiers, specs)
WORDS = {
    "日用百货": (
        "维达 清风 心相印 洁柔 蓝月亮 立白 奥妙 舒肤佳 高露洁 云南白药 得宝 威露士",
        "抽纸 卷纸 纸巾 湿巾 洗衣液 洗衣粉 洗洁精 沐浴露 洗发水 牙膏 垃圾袋 保鲜膜",
        "家庭装 整箱 加厚 原木 无香 柔韧 薰衣草香 深层洁净 母婴适用 强韧",
        "3层100抽 24包 12卷 3kg 500ml 2L 80抽 120g 10包 1kg",
    ),
    "数码电子": (
        "小米 华为 苹果 绿联 倍思 漫步者 罗马仕 公牛 品胜 OPPO vivo 荣耀",
        "手机壳 钢化膜 数据线 充电器 移动电源 蓝牙耳机 手机支架 充电宝 音箱 插线板 键盘 鼠标",
        "防摔 透明 快充 磁吸 无线 降噪 便携 超薄 亲肤 全包",
        "iPhone15 20000mAh 65W 1米 Type-C 10000mAh 2米 22.5W iPhone14 120W",
    ),
    "食品生鲜": (
        "三只松鼠 良品铺子 百草味 伊利 蒙牛 农夫山泉 褚橙 佳沛 盒马 每日鲜 五常 金龙鱼",
        "每日坚果 脐橙 猕猴桃 纯牛奶 酸奶 牛肉干 螺蛳粉 自热火锅 苹果 大米 食用油 蜂蜜",
        "新鲜 当季 有机 进口 原味 低脂 麻辣 香甜 产地直发 非转基因",
        "750g 5斤装 250ml*12盒 10斤 30包 1kg 礼盒装 6个装 5L 500g",
    ),
    "母婴用品": (
        "帮宝适 花王 好奇 贝亲 飞鹤 爱他美 全棉时代 十月结晶 Babycare 美赞臣",
        "纸尿裤 拉拉裤 奶瓶 奶粉 湿巾 婴儿车 爬行垫 隔尿垫 牙胶 辅食机",
        "透气 超薄 一级帮 防胀气 宽口径 轻便 干爽 柔软 加厚 可折叠",
        "L码120片 M码132片 240ml 900g 3段 80抽*10包 XL码 S码",
    ),
    "美妆个护": (
        "欧莱雅 兰蔻 雅诗兰黛 百雀羚 自然堂 珀莱雅 完美日记 花西子 薇诺娜 大宝",
        "面霜 精华液 口红 面膜 防晒霜 洗面奶 眼霜 粉底液 爽肤水 身体乳",
        "补水 保湿 美白 抗皱 控油 持久 哑光 清爽 敏感肌 修护",
        "50ml 30g 10片装 SPF50 120g 3.5g 100ml 200ml",
    ),
    "服饰鞋包": (
        "李宁 安踏 耐克 阿迪达斯 优衣库 太平鸟 波司登 回力 特步 森马",
        "运动鞋 T恤 卫衣 羽绒服 牛仔裤 双肩包 帆布鞋 冲锋衣 衬衫 连衣裙",
        "男款 女款 宽松 加绒 透气 休闲 百搭 纯棉 防水 修身",
        "XL 42码 黑色 白色 M 38码 L 藏青",
    ),
    "家居厨具": (
        "苏泊尔 九阳 美的 双立人 乐扣乐扣 膳魔师 摩飞 小熊 爱仕达 康宁",
        "电饭煲 炒锅 保温杯 空气炸锅 豆浆机 保鲜盒 菜刀 电热水壶 砧板 餐具",
        "不粘 家用 大容量 智能 304不锈钢 多功能 迷你 无涂层 防烫 耐高温",
        "4L 32cm 500ml 5.5L 1.5L 3件套 6件套 2L",
    ),
    "宠物用品": (
        "皇家 伯纳天纯 麦富迪 网易严选 小佩 疯狂小狗 渴望 比瑞吉",
        "猫粮 狗粮 猫砂 冻干 猫抓板 宠物窝 猫罐头 狗零食",
        "成猫 幼犬 除臭 无谷 豆腐 天然 全价 低敏",
        "2kg 10kg 6L 500g 1.5kg 24罐",
    ),
}

QUERIES = [
    "防摔 手机壳",
    "小米 充电宝",
    "维达 抽纸",
    "新鲜 脐橙",
    "有机 纯牛奶",
    "透气 纸尿裤",
    "补水 面霜",
    "加绒 卫衣",
    "不粘 炒锅",
    "成猫 猫粮",
    "蓝月亮 洗衣液",
    "快充 数据线",
    "降噪 蓝牙耳机",
    "三只松鼠 坚果",
    "保湿 面膜",
    "纯棉 T恤",
    "大容量 保温杯",
    "除臭 猫砂",
    "家庭装 卷纸",
    "华为 充电器",
    "防摔手机壳",
    "小米充电宝",
    "维达抽纸",
    "新鲜脐橙",
    "透气纸尿裤",
    "保湿面膜",
    "无线鼠标",
    "空气炸锅 家用",
    "运动鞋 男款",
    "进口 猕猴桃",
]


def title_for(rng: random.Random, words: tuple[str, str, str, str]) -> str:
    brands, nouns, mods, specs = (w.split() for w in words)
    first, second = rng.sample(mods, 2)
    shapes = [
        f"{rng.choice(brands)} {first}{rng.choice(nouns)} {rng.choice(specs)}",
        f"{rng.choice(brands)} {rng.choice(nouns)} {first} {second} {rng.choice(specs)}",
        f"{first} {rng.choice(nouns)} {rng.choice(brands)} {rng.choice(specs)} {second}",
    ]
    return rng.choice(shapes)


def seed(*, count: int) -> dict:
    """``count`` products (one SKU each) of 50 merchants, on sale, with their search vectors
    (the real jieba segmentation and vector expression), loaded with COPY
    (``bench/setup/catalog_load.py``); ``VACUUM ANALYZE``; timings."""
    from django.db import connection, transaction

    from accounts.models import User
    from merchants.models import Merchant
    from products.cache import catalog_changed
    from products.models import Category
    from products.search import index_words

    from .catalog_load import load_products

    rng = random.Random(20240601)
    started = time.monotonic()
    with transaction.atomic():
        applicant = User.objects.create(username="bench-seller", nickname="bench")
        merchants = [
            Merchant.objects.create(
                company_name=f"商家{i}",
                licence_no=f"BENCH{i:06d}",
                contact_phone="0",
                applicant=applicant,
                status=Merchant.Status.APPROVED,
            )
            for i in range(50)
        ]
        categories = {name: Category.objects.create(name=name, sort_order=i) for i, name in enumerate(WORDS)}
    category_words = {}
    for category in categories.values():
        whole, parts = index_words(category.name)  # as product_refresh_search does
        category_words[category.pk] = f"{whole} {parts}".strip()
    names = list(WORDS)

    def rows():
        for i in range(count):
            name = names[i % len(names)]
            price = rng.randrange(500, 50_000, 10)
            title = title_for(rng, WORDS[name])
            sales = int(rng.paretovariate(1.2) * 10)
            yield merchants[i % len(merchants)].pk, categories[name].pk, title, price, sales

    timings = load_products(rows(), category_words=category_words)
    catalog_changed()
    connection.close()
    vacuum_started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE products_product")
        cursor.execute("VACUUM ANALYZE products_sku")
        cursor.execute("VACUUM ANALYZE products_onsalecount")
    return {
        "products": count,
        **timings,
        "vacuum_seconds": round(time.monotonic() - vacuum_started, 1),
        "total_seconds": round(time.monotonic() - started, 1),
    }


def _explain(sql: str, params) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def listing_plans(category_id: int) -> dict[str, str]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of every query of the first page of each listing variant
    (the plain listing as the mini-program asks for it, and a two-word search)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from products.selectors import product_page_on_sale

    variants = {
        "list_home": {},
        "list_by_price": {"ordering": "price_fen"},
        "list_by_price_desc": {"ordering": "-price_fen"},
        "list_category": {"category_id": category_id},
        "list_category_by_price": {"category_id": category_id, "ordering": "price_fen"},
        f"search {QUERIES[0]!r}": {"q": QUERIES[0]},
    }
    plans = {}
    for name, query in variants.items():
        with CaptureQueriesContext(connection) as captured:
            product_page_on_sale(offset=0, limit=20, **query)
        # CaptureQueriesContext records the SQL with its values inlined; re-run it as recorded.
        plans[name] = "\n\n".join(
            f"-- {q['sql']}\n{_explain(q['sql'], None)}" for q in captured.captured_queries
        )
    return plans


def inspect(*, shoppers: int, tokens: str) -> dict:
    """Bearer tokens for ``shoppers`` bench shoppers (written to ``tokens``, one a line); the
    catalog's size, how many products each query matches, the plans of the listing's queries,
    the GIN index's size."""
    from django.db import connection

    from accounts.models import User
    from accounts.services import token_issue
    from products.models import Category, OnSaleCount
    from products.selectors import product_list_on_sale

    users = []
    for i in range(shoppers):
        user, _ = User.objects.get_or_create(
            username=f"bench-shopper-{i}", defaults={"nickname": f"买家{i}", "openid": f"bench-shopper-{i}"}
        )
        users.append(user)
    with open(tokens, "w") as out:
        out.write("\n".join(token_issue(user=user) for user in users) + "\n")
    categories = list(Category.objects.order_by("sort_order", "pk").values_list("pk", flat=True))
    matches = {q: product_list_on_sale(q=q).count() for q in QUERIES}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_relation_size('product_search_gin'))")
        gin = cursor.fetchone()[0]
    return {
        "on_sale": OnSaleCount.objects.filter(category_id=0).values_list("products", flat=True).first(),
        "categories": categories,
        "matches": matches,
        "gin_index_size": gin,
        "plans": listing_plans(categories[0]),
    }
