"""The merchant console's pages on someone else's object (issue 16): another merchant's staff
gets 404 and nothing changes; a signed-in shopper who is no merchant's staff, and a visitor
not signed in, are sent to sign in. The console signs in with a session (not the API's
bearer token), so its probes are here, as data like ``probes.py``'s; the guard at the end
fails for a console URL that takes an object id and has no probe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.test import Client

from merchants.models import StockUpload
from orders.models import Order
from products.models import Product, Sku

pytestmark = pytest.mark.django_db

SIGNIN = "/console/signin"


@dataclass(frozen=True)
class ConsoleProbe:
    id: str
    method: str
    path: str  # str.format over the world as ``w``
    data: dict | None = None
    watch: tuple = field(default=())  # querysets (of the world) that a refused call must not change
    rightful_status: int = 200

    def url(self, world) -> str:
        return self.path.format(w=world)


def _product(w):
    return Product.objects.filter(pk=w.product.pk)


def _sku(w):
    return Sku.objects.filter(pk=w.sku.pk)


def _paid_order(w):
    return Order.objects.filter(pk=w.paid_order.pk)


CONSOLE_PROBES = [
    ConsoleProbe("product-read", "get", "/console/products/{w.product.pk}"),
    ConsoleProbe(
        "product-write",
        "post",
        "/console/products/{w.product.pk}",
        data={"status": "off_sale"},
        watch=(_product,),
        rightful_status=302,
    ),
    ConsoleProbe(
        "sku-create",
        "post",
        "/console/products/{w.product.pk}/skus",
        data={"code": "PROBE-1", "price": "1.00", "commission_bps": "500"},
        watch=(_product, lambda w: Sku.objects.all()),
        rightful_status=302,
    ),
    ConsoleProbe("sku-read", "get", "/console/skus/{w.sku.pk}"),
    ConsoleProbe(
        "sku-write",
        "post",
        "/console/skus/{w.sku.pk}",
        data={"price": "0.01"},
        watch=(_sku,),
        rightful_status=302,
    ),
    ConsoleProbe("stock-upload-read", "get", "/console/stock/uploads/{w.stock_upload.pk}"),
    ConsoleProbe("order-read", "get", "/console/orders/{w.paid_order.pk}"),
    ConsoleProbe(
        "order-ship",
        "post",
        "/console/orders/{w.paid_order.pk}",
        data={"carrier": "顺丰", "tracking_no": "SF-PROBE-1"},
        watch=(_paid_order,),
        rightful_status=302,
    ),
]


def _signed_in(user) -> Client:
    client = Client()
    user.refresh_from_db()
    client.force_login(user)
    return client


def _snapshot(probe: ConsoleProbe, world) -> list:
    return [sorted(watch(world).values(), key=lambda row: row["id"]) for watch in probe.watch] + [
        list(StockUpload.objects.order_by("pk").values_list("pk", flat=True))
    ]


def _call(client: Client, probe: ConsoleProbe, world):
    return getattr(client, probe.method)(probe.url(world), probe.data or {})


@pytest.mark.parametrize("probe", CONSOLE_PROBES, ids=[p.id for p in CONSOLE_PROBES])
def test_another_merchants_staff_gets_404_and_nothing_changes(world, probe):
    before = _snapshot(probe, world)
    response = _call(_signed_in(world.other_merchant_user.user), probe, world)
    assert response.status_code == 404
    assert _snapshot(probe, world) == before


@pytest.mark.parametrize("probe", CONSOLE_PROBES, ids=[p.id for p in CONSOLE_PROBES])
@pytest.mark.parametrize("who", ["shopper", None])
def test_non_staff_and_visitors_are_sent_to_sign_in_and_nothing_changes(world, probe, who):
    before = _snapshot(probe, world)
    client = _signed_in(getattr(world, who)) if who else Client()
    response = _call(client, probe, world)
    assert response.status_code == 302
    assert response["Location"].startswith(SIGNIN)
    assert _snapshot(probe, world) == before


@pytest.mark.parametrize("probe", CONSOLE_PROBES, ids=[p.id for p in CONSOLE_PROBES])
def test_the_rightful_merchant_reaches_the_object(world, probe):
    """Proves each probe aims at a real object: the 404s above are not 404s for everyone."""
    response = _call(_signed_in(world.merchant_user.user), probe, world)
    assert response.status_code == probe.rightful_status, response.content[:300]


# Every console URL naming an object has a probe here, in test_console_money_access.py or in
# console/tests/test_object_access.py: that file's guard checks all three.
