"""``bench/flash_sale.py``'s data and checks, run in its Django process."""

from __future__ import annotations

import secrets
from datetime import timedelta


def prepare(*, buyers: int, stock: int) -> dict:
    """One store with ``buyers`` members (bulk), each with a bearer token; one SKU with ``stock``
    on hand and a live flash offer of as many units at one per buyer."""
    from django.utils import timezone

    from accounts.models import AuthToken, User
    from accounts.services import token_hash
    from groupstore.models import Membership
    from groupstore.services import store_create
    from orders.models import FlashOffer
    from products.tests.factories import SkuFactory

    now = timezone.now()
    owner = User.objects.create(username="bench-owner", nickname="群主", openid="bench-owner")
    store = store_create(owner=owner, name="秒杀群", wechat_group_id=None).store
    users = User.objects.bulk_create(
        [User(username=f"bench-{i}", nickname=f"买家{i}", openid=f"bench-{i}") for i in range(buyers)]
    )
    Membership.objects.bulk_create(
        [Membership(store=store, user=u, role="member", joined_at=now) for u in users]
    )
    raw = [secrets.token_urlsafe(24) for _ in users]
    AuthToken.objects.bulk_create(
        [
            AuthToken(user=u, key_hash=token_hash(r), expires_at=now + timedelta(days=1))
            for u, r in zip(users, raw, strict=True)
        ]
    )
    sku = SkuFactory(on_hand=stock, price_fen=1_990)
    offer = FlashOffer.objects.create(
        status=FlashOffer.Status.APPROVED,  # live: approved, as ops would
        sku=sku,
        flash_price_fen=990,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=2),
        quantity=stock,
        per_user_limit=1,
    )
    return {"store_id": store.pk, "sku_id": sku.pk, "offer_id": offer.pk, "tokens": raw}


def check(*, sku_id: int, offer_id: int) -> dict:
    """What the crowd left: orders, units sold, stock, and nobody with two orders."""
    from django.db.models import Count

    from orders.models import FlashOffer, Order, OrderItem
    from products.models import Sku

    sku = Sku.objects.get(pk=sku_id)
    offer = FlashOffer.objects.get(pk=offer_id)
    doubles = Order.objects.values("buyer_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    return {
        "orders": Order.objects.count(),
        "units_sold": sum(OrderItem.objects.filter(sku=sku).values_list("qty", flat=True)),
        "offer_sold_count": offer.sold_count,
        "on_hand": sku.on_hand,
        "reserved": sku.reserved,
        "available": sku.on_hand - sku.reserved,
        "buyers_with_two_orders": doubles,
        "flash_priced_orders": Order.objects.filter(paid_fen=990).count(),
    }
