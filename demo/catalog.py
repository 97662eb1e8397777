"""The demo catalog: real-looking Chinese products across categories."""

CATEGORIES = [
    # name, deposit standard (fen), commission bounds (bps)
    ("日用百货", 200_000, (100, 3_000)),
    ("食品生鲜", 200_000, (100, 3_000)),
    # At most 2,940 bps anywhere: commission + the 60 bps fee within the 30 % share cap.
    ("母婴用品", 500_000, (200, 2_940)),
    ("数码电子", 1_000_000, (100, 2_000)),
]

PRODUCTS = [
    # category, title, description,
    # [(code, spec, price, team price, team size, flash price, stock, commission bps)]
    (
        "日用百货",
        "维达抽纸 3层100抽 纸巾",
        "超韧3层，24包整箱装",
        [
            ("VD-100-24", {"规格": "24包"}, 4_990, 3_990, 3, 3_590, 500, 1_000),
            ("VD-100-12", {"规格": "12包"}, 2_690, 2_190, 2, None, 300, 1_000),
        ],
    ),
    (
        "日用百货",
        "蓝月亮 深层洁净洗衣液 3kg",
        "薰衣草香",
        [
            ("BM-3KG", {"香型": "薰衣草"}, 5_990, 4_990, 3, 4_590, 200, 1_200),
        ],
    ),
    (
        "食品生鲜",
        "赣南脐橙 5斤装 新鲜当季水果",
        "产地直发",
        [
            ("QC-5J", {"规格": "5斤"}, 2_990, 1_990, 5, 1_690, 400, 1_500),
            ("QC-10J", {"规格": "10斤"}, 4_990, 3_690, 5, None, 200, 1_500),
        ],
    ),
    (
        "食品生鲜",
        "三只松鼠 每日坚果 750g 30包",
        "混合坚果",
        [
            ("SZ-750", {"规格": "30包"}, 9_900, 7_900, 2, 6_900, 150, 2_000),
        ],
    ),
    (
        "母婴用品",
        "帮宝适 一级帮纸尿裤 L码 120片",
        "透气干爽",
        [
            ("BBS-L120", {"尺码": "L"}, 19_900, 16_900, 2, 15_900, 100, 800),
            ("BBS-M132", {"尺码": "M"}, 19_900, 16_900, 2, None, 100, 800),
        ],
    ),
    (
        "数码电子",
        "iPhone 15 手机壳 防摔 透明",
        "全包气囊防摔",
        [
            ("IP15-CLR", {"颜色": "透明"}, 3_900, 2_900, 2, 1_990, 1_000, 2_000),
            ("IP15-BLK", {"颜色": "黑色"}, 3_900, 2_900, 2, None, 800, 2_000),
        ],
    ),
    (
        "数码电子",
        "小米 20000mAh 移动电源 快充",
        "22.5W 双向快充",
        [
            ("MI-PB20K", {"颜色": "黑色"}, 12_900, 10_900, 3, 9_900, 300, 600),
        ],
    ),
]

OWNER_OPENID = "demo-owner"
MERCHANT_OPENID = "demo-merchant"
# The merchant console signs people in by WeChat unionid (accounts/web_login.py); in the
# sandbox the sign-in form takes ``sandbox:<unionid>``. The owner is the mini-program's
# demo-merchant user; an operator and a finance clerk show the other roles.
MERCHANT_STAFF_UNIONIDS = {
    "owner": ("demo-merchant", "demo-merchant-owner", "好物优选-店长"),
    "operator": ("demo-merchant-operator", "demo-merchant-operator", "好物优选-运营小李"),
    "finance": ("demo-merchant-finance", "demo-merchant-finance", "好物优选-财务小陈"),
}
MEMBER_OPENIDS = [f"demo-member-{i}" for i in range(1, 6)]
STORE_NAME = "宝妈团购群"
DEMO_ADDRESS = {
    "name": "李四",
    "phone": "13900139000",
    "region": "浙江省 杭州市 西湖区",
    "detail": "文三路 100 号",
}
