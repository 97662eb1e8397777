"""``seed_demo --scale N``: many more stores, members and orders, inserted in bulk.

Not through the services (that would take hours at benchmark sizes): rows are made
with ``bulk_create`` and the maintained aggregates are then computed once in SQL, so
the dashboard reads exactly what the services would have left. The orders are
completed and carry no ledger money; they exist to load the read paths.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import User
from groupstore.models import Membership, ShareLink, Store, StoreStats
from merchants.models import Merchant
from orders.models import Order, OrderItem
from products.models import Sku
from shop.payments.models import Payment

from .catalog import DEMO_ADDRESS

STORES_PER_SCALE = 10
MEMBERS_PER_STORE = 100
ORDERS_PER_STORE = 200
Progress = Callable[[int, int], None]


def seed_scale(*, scale: int, merchant: Merchant, progress: Progress) -> dict[str, int]:
    rng = random.Random(20261122)  # noqa: S311 - demo data, not secrets
    skus = list(Sku.objects.filter(merchant=merchant).select_related("product"))
    run = secrets.token_hex(3)
    total = scale * STORES_PER_SCALE
    made = {"stores": 0, "members": 0, "orders": 0}
    for index in range(total):
        with transaction.atomic():
            counts = _one_store(rng=rng, skus=skus, tag=f"{run}-{index}", merchant=merchant)
        for key, value in counts.items():
            made[key] += value
        progress(index + 1, total)
    return made


def _one_store(*, rng: random.Random, skus: list[Sku], tag: str, merchant: Merchant) -> dict[str, int]:
    now = timezone.now()
    owner = User.objects.create(
        username=f"bulk-owner-{tag}", openid=f"bulk-owner-{tag}", nickname=f"群主{tag}"
    )
    store = Store.objects.create(owner=owner, name=f"团购群 {tag}")
    ShareLink.objects.create(store=store, token=secrets.token_urlsafe(24), created_by=owner)
    users = User.objects.bulk_create(
        [
            User(username=f"bulk-{tag}-{i}", openid=f"bulk-{tag}-{i}", nickname=f"团员{i}", password="!")  # noqa: S106
            for i in range(MEMBERS_PER_STORE)
        ]
    )
    Membership.objects.bulk_create(
        [Membership(store=store, user=owner, role=Membership.Role.OWNER, joined_at=now)]
        + [Membership(store=store, user=u, role=Membership.Role.MEMBER, joined_at=now) for u in users]
    )
    buyers = [rng.choice(users) for _ in range(ORDERS_PER_STORE)]
    lines = [(rng.choice(skus), rng.randint(1, 3)) for _ in buyers]
    payments = Payment.objects.bulk_create(
        [
            Payment(
                purpose="order_checkout",
                payer=b,
                amount_fen=s.price_fen * q,
                gateway="sandbox",
                status=Payment.Status.SUCCEEDED,
                out_trade_no=f"B{secrets.token_hex(12)}",
                description=s.product.title[:100],
                paid_at=now,
            )
            for b, (s, q) in zip(buyers, lines, strict=True)
        ]
    )
    orders = Order.objects.bulk_create(
        [
            Order(
                buyer=b,
                merchant=merchant,
                store=store,
                payment=p,
                status=Order.Status.COMPLETED,
                list_fen=s.price_fen * q,
                sale_fen=s.price_fen * q,
                paid_fen=s.price_fen * q,
                address=DEMO_ADDRESS,
                pay_deadline_at=now,
                paid_at=now,
                completed_at=now,
            )
            for b, p, (s, q) in zip(buyers, payments, lines, strict=True)
        ]
    )
    OrderItem.objects.bulk_create(
        [
            OrderItem(
                order=o,
                sku=s,
                product_title=s.product.title,
                spec=s.spec,
                qty=q,
                list_price_fen=s.price_fen,
                unit_price_fen=s.price_fen,
                sale_fen=s.price_fen * q,
                paid_fen=s.price_fen * q,
                commission_bps=s.commission_bps,
                member_share_bps=3000,
                owner_share_bps=6000,
            )
            for o, (s, q) in zip(orders, lines, strict=True)
        ]
    )
    _recompute_aggregates(store)
    return {"stores": 1, "members": len(users), "orders": len(orders)}


def _recompute_aggregates(store: Store) -> None:
    """The aggregate rows the services would have kept, computed once in SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE groupstore_membership m SET paid_fen = t.paid, orders_count = t.n
            FROM (SELECT buyer_id, SUM(paid_fen) AS paid, COUNT(*) AS n FROM orders_order
                  WHERE store_id = %s GROUP BY buyer_id) t
            WHERE m.store_id = %s AND m.user_id = t.buyer_id
            """,
            [store.pk, store.pk],
        )
    totals = Order.objects.filter(store=store).aggregate(n=Count("pk"))
    gmv = sum(Order.objects.filter(store=store).values_list("paid_fen", flat=True))
    StoreStats.objects.create(
        store=store,
        members_count=Membership.objects.filter(store=store).count(),
        orders_count=totals["n"],
        gmv_fen=gmv,
        net_paid_fen=gmv,
    )
