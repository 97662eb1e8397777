"""Serializer plumbing shared by the apps' APIs."""

from __future__ import annotations

import copy

from rest_framework import serializers

ID_MAX = 2**63 - 1  # a PostgreSQL bigint, the type of every primary key


class IdField(serializers.IntegerField):
    """A row's id in a request body: 1 to the largest bigint. A larger number is a 400, not a
    database error (a prepared statement types its parameter, shop/db.py)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)


def _holds_fields(field) -> bool:
    return isinstance(field, serializers.BaseSerializer) or any(
        isinstance(value, serializers.Field) for value in (*field._args, *field._kwargs.values())
    )


class FieldsBuiltOnceMixin:
    """A serializer class's fields are worked out once, not for every instance.

    DRF builds every field of a ``ModelSerializer`` from the model's metadata each time a
    serializer is made (``get_fields``: field mapping, kwargs, validators) and copies the
    declared ones with ``Field.__deepcopy__``, which makes each field again from deep copies
    of its arguments (choices, validators made anew, the model field of a ``ModelField``).
    For an order with its items that was a fifth of ``POST /orders``'s Python time
    (bench/results/orders.md).

    Here the first instance of a class keeps its unbound fields, and later instances get
    copies: a field that holds no other field is only ever changed by ``bind`` (plain
    attribute assignments: name, parent, source), so a shallow copy of the unbound original
    is as good as a new one; a field that holds fields (a nested serializer, a
    ``ListField``'s child) binds them to itself, so it is made again (``_copy_holder``). Only for
    serializers whose fields do not depend on the instance or the context (none of ours).
    """

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = [(name, field, _holds_fields(field)) for name, field in super().get_fields().items()]
            cls._fields_built_once = built
        return {name: _copy_holder(field) if deep else copy.copy(field) for name, field, deep in built}


def _copy_holder(field):
    """A field that holds fields, made again from its arguments as DRF's deep copy does, but
    copying only the fields among them (recursively): its other arguments are never changed."""
    args = [_copy_holder(a) if isinstance(a, serializers.Field) else a for a in field._args]
    kwargs = {k: _copy_holder(v) if isinstance(v, serializers.Field) else v for k, v in field._kwargs.items()}
    return field.__class__(*args, **kwargs)


class Serializer(FieldsBuiltOnceMixin, serializers.Serializer):
    """The house ``Serializer`` (fields copied cheaply, see the mixin)."""


class ModelSerializer(FieldsBuiltOnceMixin, serializers.ModelSerializer):
    """The house ``ModelSerializer``: fields built once per class (see the mixin)."""
