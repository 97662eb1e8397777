"""``FieldsBuiltOnceMixin`` (shop/api/serializers.py) builds fields once per class and copies them:
each instance must still behave exactly as DRF's own."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework import serializers

from shop.api.serializers import FieldsBuiltOnceMixin, ModelSerializer, Serializer
from shop.notifications.models import Notification

pytestmark = pytest.mark.django_db

FIELDS = ("id", "kind", "title", "body", "data", "read_at", "created_at")


class Mine(FieldsBuiltOnceMixin, ModelSerializer):
    recipient = serializers.CharField(source="recipient.username")

    class Meta:
        model = Notification
        fields = (*FIELDS, "recipient")


class Theirs(serializers.ModelSerializer):
    recipient = serializers.CharField(source="recipient.username")

    class Meta:
        model = Notification
        fields = (*FIELDS, "recipient")


class Basket(FieldsBuiltOnceMixin, Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), max_length=3)
    address = Theirs(required=False)
    qty = serializers.IntegerField(min_value=1, max_value=5)


def test_a_model_serializer_answers_what_drf_s_own_answers_every_time():
    user = get_user_model().objects.create(username="ser", openid="ser")
    rows = [
        Notification.objects.create(recipient=user, kind="k", title=f"第{i}条", data={"i": i})
        for i in range(3)
    ]

    for _ in range(2):  # the second round uses the copies
        assert Mine(rows, many=True).data == Theirs(rows, many=True).data
        assert Mine(rows[0]).data == Theirs(rows[0]).data


def test_every_instance_gets_its_own_fields_bound_to_itself():
    first, second = Mine(), Mine()

    assert first.fields["title"] is not second.fields["title"]
    assert first.fields["title"].parent is first
    assert second.fields["title"].parent is second
    assert type(first.fields["title"]) is type(Theirs().fields["title"])


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_validation_with_nested_fields_is_the_same_on_every_instance(attempt):
    good = Basket(data={"ids": [1, 2], "qty": 2})
    bad = Basket(data={"ids": [0, 1, 2, 3], "qty": 9})

    assert good.is_valid(), good.errors
    assert good.validated_data == {"ids": [1, 2], "qty": 2}
    assert not bad.is_valid()
    assert set(bad.errors) == {"ids", "qty"}


class Order(FieldsBuiltOnceMixin, Serializer):
    baskets = Basket(many=True)


def test_the_fields_a_field_holds_are_copied_and_bound_to_the_copy():
    first, second = Order(), Order()

    for order in (first, second):
        baskets = order.fields["baskets"]
        assert baskets.parent is order
        assert baskets.child.parent is baskets
        assert baskets.child.fields["ids"].child.parent is baskets.child.fields["ids"]
    assert first.fields["baskets"].child is not second.fields["baskets"].child
    assert first.fields["baskets"].child.fields["qty"] is not second.fields["baskets"].child.fields["qty"]


class TheirBasket(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), max_length=3)
    qty = serializers.IntegerField(min_value=1, max_value=5)


class TheirOrder(serializers.Serializer):
    baskets = TheirBasket(many=True)


@pytest.mark.parametrize("attempt", [1, 2])
def test_nested_many_validation_answers_what_drf_s_own_answers(attempt):
    bad = {"baskets": [{"ids": [1], "qty": 1}, {"ids": [0], "qty": 0}]}
    good = {"baskets": [{"ids": [2, 3], "qty": 5}]}

    mine, theirs = Order(data=bad), TheirOrder(data=bad)
    assert not mine.is_valid()
    assert not theirs.is_valid()
    assert mine.errors == theirs.errors
    assert set(mine.errors["baskets"][1]) == {"ids", "qty"}
    mine, theirs = Order(data=good), TheirOrder(data=good)
    assert mine.is_valid()
    assert theirs.is_valid()
    assert mine.validated_data == theirs.validated_data
