"""``bench/orders_http.py``'s (and ``bench/profile_orders.py``'s) data and checks, run in its
Django process."""

from __future__ import annotations

import secrets
from datetime import timedelta


def prepare(*, buyers: int, flash_stock: int, flash_trials: int, skus: int) -> dict:
    """One store (flash prices unlocked by the env) with ``buyers`` members, each with a bearer
    token; ``skus`` ordinary SKUs with deep stock; per flash trial, one SKU with ``flash_stock``
    on hand and a live offer of as many units at one per buyer; 10,000 bench items."""
    from django.utils import timezone

    from accounts.models import AuthToken, User
    from accounts.services import token_hash
    from bench.setup.minimal_buy import seed_items
    from groupstore.models import Membership
    from groupstore.services import store_create
    from products.tests.factories import ProductFactory, SkuFactory

    now = timezone.now()
    owner = User.objects.create(username="bench-owner", nickname="群主", openid="bench-owner")
    store = store_create(owner=owner, name="秒杀群", wechat_group_id=None).store
    users = User.objects.bulk_create(
        [User(username=f"bench-{i}", nickname=f"买家{i}", openid=f"bench-{i}") for i in range(buyers)],
        batch_size=2000,
    )
    Membership.objects.bulk_create(
        [Membership(store=store, user=u, role="member", joined_at=now) for u in users], batch_size=2000
    )
    raw = [secrets.token_urlsafe(24) for _ in users]
    AuthToken.objects.bulk_create(
        [
            AuthToken(user=u, key_hash=token_hash(r), expires_at=now + timedelta(days=1))
            for u, r in zip(users, raw, strict=True)
        ],
        batch_size=2000,
    )
    products = [ProductFactory() for _ in range(max(1, skus // 20))]
    ordinary = [
        SkuFactory(product=products[i % len(products)], on_hand=1_000_000, price_fen=1_990 + i)
        for i in range(skus)
    ]
    flash_skus = [SkuFactory(on_hand=flash_stock, price_fen=1_990) for _ in range(flash_trials)]
    offers = [flash_offer(sku.pk, flash_stock, now) for sku in flash_skus]
    seed_items()
    return {
        "store_id": store.pk,
        "sku_ids": [s.pk for s in ordinary],
        "flash_sku_ids": [s.pk for s in flash_skus],
        "offer_ids": [o.pk for o in offers],
        "tokens": raw,
    }


def flash_offer(sku_id: int, quantity: int, now=None):
    """A live flash offer at 9.90 yuan, one per buyer."""
    from django.utils import timezone

    from orders.models import FlashOffer

    now = now or timezone.now()
    return FlashOffer.objects.create(
        status=FlashOffer.Status.APPROVED,  # live: approved, as ops would
        sku_id=sku_id,
        flash_price_fen=990,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=2),
        quantity=quantity,
        per_user_limit=1,
    )


def second_offer(*, offer_id: int, sku_id: int) -> dict:
    """For the profile: the first offer sold out (its one unit gone, as after a crowd), and a
    second one on ``sku_id`` with units for every winner."""
    from orders.models import FlashOffer

    FlashOffer.objects.filter(pk=offer_id).update(sold_count=1)
    flash_offer(sku_id, 1_000_000)
    return {"sku_id": sku_id}


def check(*, flash_sku_ids: list[int], offer_ids: list[int]) -> dict:
    """Per flash trial: orders, units sold, stock, doubles, prices; the ordinary orders' stock;
    the minimal buy's rows."""
    from django.db.models import Count, F, Sum

    from bench.setup.minimal_buy import check as minimal_buy_check
    from orders.models import FlashOffer, Order, OrderItem
    from products.models import Sku

    trials = []
    for sku_id, offer_id in zip(flash_sku_ids, offer_ids, strict=True):
        flash = Sku.objects.get(pk=sku_id)
        offer = FlashOffer.objects.get(pk=offer_id)
        flash_items = OrderItem.objects.filter(sku=flash)
        trials.append(
            {
                "flash_orders": flash_items.values("order_id").distinct().count(),
                "flash_units_sold": flash_items.aggregate(n=Sum("qty"))["n"] or 0,
                "flash_offer_sold_count": offer.sold_count,
                "flash_on_hand": flash.on_hand,
                "flash_reserved": flash.reserved,
                "flash_available": flash.on_hand - flash.reserved,
                "flash_buyers_with_two": flash_items.values("order__buyer_id")
                .annotate(n=Count("pk"))
                .filter(n__gt=1)
                .count(),
                "flash_orders_not_at_flash_price": flash_items.exclude(unit_price_fen=990).count(),
            }
        )
    others = OrderItem.objects.exclude(sku_id__in=flash_sku_ids)
    return {
        "flash_trials": trials,
        "ordinary_orders": others.values("order_id").distinct().count(),
        "ordinary_units_sold": others.aggregate(n=Sum("qty"))["n"] or 0,
        "ordinary_reserved": Sku.objects.exclude(pk__in=flash_sku_ids).aggregate(n=Sum("reserved"))["n"] or 0,
        "skus_oversold": Sku.objects.filter(reserved__gt=F("on_hand")).count(),
        "orders_total": Order.objects.count(),
        **minimal_buy_check(),
    }
