"""The framework shortcuts of shop/db.py and shop/api/serializers.py do what the framework
would, on every model and serializer they are used on, and say so when they cannot.

- ``insert_rows`` writes the very row ``bulk_create`` writes, for each model the product
  inserts with it (a checkout's order, items, event and payment, from a real checkout), and
  refuses the models it cannot write faithfully.
- ``FieldsBuiltOnceMixin`` gives each serializer it sits on the fields DRF would build.
- Both lean on framework internals: a test pins the versions they were checked against.
"""

from __future__ import annotations

import copy
import pathlib
import re
from unittest import mock

import django
import pytest
import rest_framework
from django.db import connection, models, transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_save
from django.test.utils import isolate_apps
from django.utils import timezone

from orders.models import Order, OrderEvent, OrderItem
from shop.api import serializers as house
from shop.db import UnfaithfulInsert, insert_rows, insert_rows_refusal
from shop.notifications.models import Notification
from shop.payments.models import Payment, PaymentPart

pytestmark = pytest.mark.django_db

ROOT = pathlib.Path(__file__).resolve().parents[1]

# The Django and DRF releases the shortcuts were read against. On an upgrade, re-read
# ``Model._do_insert``/``QuerySet.bulk_create`` (what a row gets: ``pre_save``,
# ``get_db_prep_save``, ``db_default``, generated fields) for shop/db.py, and
# ``Serializer.get_fields``/``ModelSerializer.get_fields``/``Field.bind``/``Field.__deepcopy__``
# for ``FieldsBuiltOnceMixin``; run this file; then move the pins.
CHECKED_DJANGO = (5, 2)
CHECKED_DRF = (3, 18)

# Every model the product writes through ``insert_rows``, and the modules that call it.
INSERTED = (Order, OrderItem, OrderEvent, Payment, PaymentPart, Notification)
CALLERS = {"orders/services/checkout.py", "shop/payments/services.py", "shop/payments/parts.py"}


def test_the_framework_versions_are_the_ones_the_shortcuts_were_checked_against():
    drf = tuple(int(part) for part in rest_framework.VERSION.split(".")[:2])
    assert django.VERSION[:2] == CHECKED_DJANGO, (
        f"Django {django.get_version()} is not the {CHECKED_DJANGO} that shop/db.py's insert_rows was "
        "checked against: re-read Model._do_insert and QuerySet.bulk_create, run this file, move the pin."
    )
    assert drf == CHECKED_DRF, (
        f"DRF {rest_framework.VERSION} is not the {CHECKED_DRF} that FieldsBuiltOnceMixin was checked "
        "against: re-read Serializer.get_fields, Field.bind and Field.__deepcopy__, run this file, "
        "move the pin."
    )


def test_insert_rows_is_called_only_where_this_file_knows_the_models():
    callers = {
        str(path.relative_to(ROOT))
        for path in ROOT.glob("*/**/*.py")
        if ".venv" not in path.parts
        and "tests" not in path.parts
        and path.name != "db.py"
        and re.search(r"\binsert_rows\(", path.read_text(encoding="utf-8"))
    }
    assert callers - {"bench/reconcile_bills.py"} == CALLERS, "add the new caller's models to INSERTED"


def _clone(obj: models.Model) -> models.Model:
    """A new, unsaved instance with the same values as a stored one."""
    new = copy.copy(obj)
    new._state = ModelState()
    new.pk = None
    return new


def _row_written_by(write, source: models.Model) -> dict:
    """The row ``write([clone of source])`` stores, read back raw, then rolled back. The source
    row is deleted first inside the savepoint, so unique columns do not collide (foreign keys
    are checked at commit in PostgreSQL, and nothing here commits)."""
    meta = type(source)._meta
    clone = _clone(source)
    sid = transaction.savepoint()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DELETE FROM "{meta.db_table}" WHERE "{meta.pk.column}" = %s', [source.pk])  # noqa: S608
            write([clone])
            cursor.execute(f'SELECT * FROM "{meta.db_table}" WHERE "{meta.pk.column}" = %s', [clone.pk])  # noqa: S608
            columns = [col.name for col in cursor.description]
            row = dict(zip(columns, cursor.fetchone(), strict=True))
    finally:
        transaction.savepoint_rollback(sid)
    assert clone.pk
    assert not clone._state.adding
    row.pop(meta.pk.column)
    return row


@pytest.fixture
def checkout_rows(make_client, settings):
    """The rows of a real checkout through the API (the path that uses ``insert_rows``), paid
    by profit sharing (so with its payment part), and a notification."""
    from groupstore.tests.factories import make_store
    from orders.tests.helpers import ADDRESS
    from products.tests.factories import SkuFactory

    store, _, (buyer,) = make_store(members=1)
    settings.MERCHANT_FUNDS = "profit_sharing"
    sku = SkuFactory(on_hand=5, price_fen=1_990, product__merchant__sub_mchid="1600000001")
    response = make_client(buyer).post(
        "/api/v1/orders",
        {"store_id": store.pk, "items": [{"sku_id": sku.pk, "qty": 2}], "address": ADDRESS},
        format="json",
    )
    assert response.status_code == 201, response.content
    Notification.objects.create(recipient=buyer, kind="k", title="标题", data={"订单": 1})
    return {model: model.objects.order_by("-pk").first() for model in INSERTED}


@pytest.mark.parametrize("model", INSERTED, ids=lambda m: m.__name__)
def test_insert_rows_writes_the_row_bulk_create_writes(model, checkout_rows):
    source = checkout_rows[model]
    assert source is not None
    moment = timezone.now()
    with transaction.atomic(), mock.patch("django.utils.timezone.now", return_value=moment):
        mine = _row_written_by(insert_rows, source)
        theirs = _row_written_by(model.objects.bulk_create, source)

    assert mine == theirs
    assert insert_rows_refusal(model) == ""


def test_a_model_with_a_save_receiver_is_refused():
    def listener(**kwargs):
        pass

    post_save.connect(listener, sender=Notification, dispatch_uid="test-db-faithful")
    try:
        assert "receiver" in insert_rows_refusal(Notification)
        with pytest.raises(UnfaithfulInsert, match="Notification"):
            insert_rows([Notification(kind="k", title="t")])
    finally:
        post_save.disconnect(sender=Notification, dispatch_uid="test-db-faithful")
    assert insert_rows_refusal(Notification) == ""


@isolate_apps("shop")
def test_db_defaults_generated_fields_and_inherited_tables_are_refused():
    class WithDbDefault(models.Model):  # noqa: DJ008
        n = models.IntegerField(db_default=1)

        class Meta:
            app_label = "shop"

    class WithGenerated(models.Model):  # noqa: DJ008
        a = models.IntegerField()
        b = models.GeneratedField(
            expression=models.F("a") * 2, output_field=models.IntegerField(), db_persist=True
        )

        class Meta:
            app_label = "shop"

    class Parent(models.Model):  # noqa: DJ008
        class Meta:
            app_label = "shop"

    class Child(Parent):  # noqa: DJ008
        c = models.IntegerField()

        class Meta:
            app_label = "shop"

    assert insert_rows_refusal(WithDbDefault) == "n has a db_default"
    assert insert_rows_refusal(WithGenerated) == "b is generated"
    assert "multi-table inheritance" in insert_rows_refusal(Child)
    with pytest.raises(UnfaithfulInsert, match="WithDbDefault"):
        insert_rows([WithDbDefault()])


def _mixin_users() -> list[type]:
    import shop.urls  # noqa: F401  (every API module, so every serializer class exists)

    found, todo = [], [house.FieldsBuiltOnceMixin]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    product = {c for c in found if ".tests." not in c.__module__}
    return sorted(product - {house.Serializer, house.ModelSerializer}, key=lambda c: c.__qualname__)


def test_the_mixin_sits_only_on_the_measured_hot_path():
    names = {cls.__qualname__ for cls in _mixin_users()}
    assert names == {
        "AddressSerializer",
        "AfterSaleItemOutput",
        "AfterSaleOutput",
        "CheckoutItemInput",
        "DeliveryOutput",
        "MerchantDeliveryOutput",
        "MerchantOrderAddressOutput",
        "MerchantOrderOutput",
        "OrderAddressInput",
        "OrderAddressOutput",
        "OrderCreateInput",
        "OrderItemOutput",
        "OrderOutput",
        "OrderTeamOutput",
        "PaymentOutput",
        "QuoteInput",
        "TeamInput",
    }


@pytest.mark.parametrize("cls", _mixin_users(), ids=lambda c: c.__qualname__)
def test_each_serializer_with_the_mixin_gets_the_fields_drf_builds(cls):
    instance = cls()
    theirs = super(house.FieldsBuiltOnceMixin, instance).get_fields()
    for _ in range(2):  # the first builds, the second copies
        mine = instance.get_fields()
        assert list(mine) == list(theirs)
        assert {name: repr(field) for name, field in mine.items()} == {
            name: repr(field) for name, field in theirs.items()
        }
        assert all(type(mine[name]) is type(theirs[name]) for name in mine)
