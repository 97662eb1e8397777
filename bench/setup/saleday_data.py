"""Data side of ``bench/sale_day.py``: the day's cast before the run, the books after it.

Run by the orchestrator in a Django process on the bench database (``bench.harness.in_django``):
``prepare(out=…, shoppers=…, stores=…, newcomers=…, seed=…)`` and ``check(setup_path=…)``.

``prepare`` (after ``seed_demo``) adds a second merchant and 20 more products of 3 SKUs each
(team prices, large stock), ``--stores`` group stores, ``--shoppers`` shoppers (bulk, with
bearer tokens), most of them already members of one or two stores, a flash offer on the
demo's flash SKU, and "yesterday": a few orders per store made through the services,
paid, shipped, received and completed, so settlement has filled wallets and funded red
envelopes for the day's members to claim. It snapshots every SKU's ``on_hand`` *before*
anything ships, which is what the stock check starts from.

``check`` recomputes, from the rows, what must hold whatever the load did; each finding
is ``{"ok": bool, ...}`` with the offending ids when it fails.
"""

from __future__ import annotations

import json
import random
import secrets
from datetime import timedelta
from pathlib import Path

WORDS = ["抽纸", "洗衣液", "脐橙", "坚果", "纸尿裤", "手机壳", "移动电源", "牛奶", "大米", "面膜"]
ADJ = ["家庭装", "特惠", "新品", "加量", "进口", "整箱"]


def _users(prefix: str, count: int, now):
    from accounts.models import AuthToken, User
    from accounts.services import token_hash

    users = User.objects.bulk_create(
        [
            User(username=f"{prefix}-{i}", nickname=f"{prefix}{i}", openid=f"{prefix}-{i}")
            for i in range(count)
        ]
    )
    raw = [secrets.token_urlsafe(24) for _ in users]
    AuthToken.objects.bulk_create(
        [
            AuthToken(user=u, key_hash=token_hash(r), expires_at=now + timedelta(days=2))
            for u, r in zip(users, raw, strict=True)
        ]
    )
    return users, raw


def _catalog(merchant, rng: random.Random, *, products: int, prefix: str) -> None:
    from products.models import Category, Product, Sku
    from products.services import product_refresh_min_price, product_refresh_search

    categories = list(Category.objects.filter(parent=None).order_by("pk"))
    made = []
    for p in range(products):
        word = WORDS[p % len(WORDS)]
        product = Product.objects.create(
            merchant=merchant,
            category=categories[p % len(categories)],
            title=f"{ADJ[p % len(ADJ)]} {word} {prefix}{p}",
            description=f"{word}，产地直发，团购价更优惠",
            status=Product.Status.ON_SALE,
            images=[f"https://img.example.com/bench/{prefix}{p}.jpg"],
        )
        made.append(product.pk)
        skus = []
        for s in range(3):
            price = rng.randrange(990, 19_900, 10)
            skus.append(
                Sku(
                    product=product,
                    merchant=merchant,
                    code=f"{prefix}-{p}-{s}",
                    spec={"规格": f"{s + 1}件装"},
                    price_fen=price,
                    team_price_fen=price * 8 // 10,
                    team_size=2 + (p + s) % 2,
                    on_hand=5_000,
                    commission_bps=1_000,
                )
            )
        Sku.objects.bulk_create(skus)
        product_refresh_min_price(product_id=product.pk)
    product_refresh_search(product_ids=made)


def _second_merchant(now):
    from demo.seed import _seed_deposit, _seed_sub_mchid
    from merchants.models import Merchant, MerchantStaff
    from products.models import Category

    users, raw = _users("bench-merchant2", 1, now)
    merchant = Merchant.objects.create(
        company_name="鲜果到家商贸有限公司",
        licence_no="91330106MA2BENCH02",
        contact_phone="0571-88880002",
        status=Merchant.Status.APPROVED,
        applicant=users[0],
    )
    merchant.categories.set(Category.objects.filter(parent=None))
    MerchantStaff.objects.create(merchant=merchant, user=users[0], role=MerchantStaff.Role.OWNER)
    _seed_deposit(merchant, users[0], lambda _: None)
    # As seed_demo does for the first: without a secondary merchant id, profit sharing (the
    # default MERCHANT_FUNDS) refuses every basket of this merchant with 409 merchant_not_payable.
    _seed_sub_mchid(merchant, lambda _: None)
    return merchant, raw[0]


def _yesterday(stores, members_of, rng: random.Random, now, per_store: int) -> int:
    """Completed orders (through the services) so wallets and envelopes exist this morning."""
    from demo.catalog import DEMO_ADDRESS
    from demo.seed import sandbox_pay
    from orders.services.checkout import order_create
    from orders.services.lifecycle import order_complete, order_confirm_receipt, order_ship
    from products.models import Sku
    from shop.sweepers import run_all

    skus = list(Sku.objects.filter(code__startswith="BM1-").values_list("pk", "merchant_id"))
    made = 0
    for store in stores:
        for _ in range(per_store):
            buyer = rng.choice(members_of[store.pk])
            sku_id, merchant_id = rng.choice(skus)
            result = order_create(
                buyer=buyer,
                store_id=store.pk,
                items=[{"sku_id": sku_id, "qty": rng.randint(1, 3)}],
                address=DEMO_ADDRESS,
                gateway="sandbox",
            )
            sandbox_pay(result.payment)
            for order in result.orders:
                order_ship(
                    order_id=order.pk,
                    merchant_id=order.merchant_id,
                    carrier="顺丰",
                    tracking_no=f"SF{order.pk:010d}",
                    actor=None,
                    now=now - timedelta(days=9),
                )
                order_confirm_receipt(order_id=order.pk, now=now - timedelta(days=8))
                order_complete(order_id=order.pk, now=now)
                made += 1
    run_all(now=now)  # settlement catch-up: wallets filled, envelopes funded as of now
    return made


def prepare(*, out: str, shoppers: int, stores: int, newcomers: int, seed: int) -> None:
    from django.utils import timezone

    from groupstore.models import Membership, StoreStats
    from groupstore.services import store_create
    from merchants.models import Merchant
    from orders.models import FlashOffer
    from products.models import Sku

    rng = random.Random(seed)
    now = timezone.now()
    merchant1 = Merchant.objects.get(staff__user__openid="demo-merchant")
    from accounts.models import AuthToken, User
    from accounts.services import token_hash

    staff1 = User.objects.get(openid="demo-merchant")
    m1_raw = secrets.token_urlsafe(24)
    AuthToken.objects.create(user=staff1, key_hash=token_hash(m1_raw), expires_at=now + timedelta(days=2))
    merchant2, m2_raw = _second_merchant(now)
    _catalog(merchant1, rng, products=10, prefix="BM1")
    _catalog(merchant2, rng, products=10, prefix="BM2")

    owners, owner_raw = _users("bench-owner", stores, now)
    store_rows = []
    for i, owner in enumerate(owners):
        made = store_create(owner=owner, name=f"团购{i}群", now=now - timedelta(days=40))
        Membership.objects.filter(store=made.store, user=owner).update(joined_at=now - timedelta(days=40))
        store_rows.append((made.store, made.share_token, owner_raw[i]))
    users, raw = _users("bench-shopper", shoppers, now)
    members_of: dict[int, list] = {s.pk: [] for s, _, _ in store_rows}
    memberships = []
    shopper_rows = []
    # Most shoppers already belong to one store (a few to two); the rest join today by link.
    for i, user in enumerate(users):
        mine = []
        if i < shoppers * 3 // 4:
            picks = rng.sample(store_rows, 2 if i % 5 == 0 else 1)
            for store, _, _ in picks:
                memberships.append(
                    Membership(store=store, user=user, role="member", joined_at=now - timedelta(days=30))
                )
                members_of[store.pk].append(user)
                mine.append(store.pk)
        shopper_rows.append({"id": user.pk, "token": raw[i], "stores": mine})
    Membership.objects.bulk_create(memberships, batch_size=2_000)
    for store, _, _ in store_rows:
        StoreStats.objects.filter(store=store).update(members_count=1 + len(members_of[store.pk]))

    flash_sku = Sku.objects.get(code="IP15-CLR")
    offer = FlashOffer.objects.create(
        sku=flash_sku,
        status=FlashOffer.Status.APPROVED,
        flash_price_fen=1_990,  # the demo catalog's flash price of this SKU (demo/catalog.py)
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=3),
        quantity=300,
        per_user_limit=1,
    )
    # The stock check starts here: nothing has shipped yet (seed_demo's orders are only paid).
    initial = dict(Sku.objects.values_list("pk", "on_hand"))
    yesterday = _yesterday([s for s, _, _ in store_rows], members_of, rng, now, per_store=8)

    skus = [
        {
            "id": s.pk,
            "product_id": s.product_id,
            "merchant_id": s.merchant_id,
            "price_fen": s.price_fen,
            "team_size": s.team_size,
        }
        for s in Sku.objects.filter(product__status="on_sale").order_by("pk")
    ]
    setup = {
        "started_at": now.isoformat(),
        "merchants": [
            {"id": merchant1.pk, "token": m1_raw},
            {"id": merchant2.pk, "token": m2_raw},
        ],
        "stores": [{"id": s.pk, "share_token": token, "owner_token": otok} for s, token, otok in store_rows],
        "shoppers": shopper_rows,
        "newcomers": newcomers,
        "skus": skus,
        "flash": {"sku_id": flash_sku.pk, "offer_id": offer.pk, "quantity": offer.quantity},
        "initial_on_hand": {str(k): v for k, v in initial.items()},
        "yesterday_orders": yesterday,
        "words": WORDS,
    }
    Path(out).write_text(json.dumps(setup, ensure_ascii=False))


def check(*, setup_path: str) -> dict:
    """Every check of ``bench/setup/saleday_checks.py`` on the rows the day left."""
    from bench.setup.saleday_checks import check_all

    return check_all(json.loads(Path(setup_path).read_text()))
