"""Serializer plumbing shared by the apps' APIs."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.fields import empty

ID_MAX = 2**63 - 1  # a PostgreSQL bigint, the type of every primary key

# A URL as Django's URLValidator accepts it, narrowed to what a schema can state exactly and
# what a client really sends: http(s), a DNS name (ASCII) ending in a letters-only TLD, an
# optional port, then a path, query or fragment. The schema states this pattern (``format:
# uri`` says less than URLValidator checks), and the validators below enforce it too, so the
# two agree on every string (issue 19, item 9).
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
# After the host, as URLValidator: "/", "?" or "#", then anything but whitespace (Python's
# and ECMA's whitespace both excluded, so the schema and the check agree on every string).
_REST = _HOST + r"\.[A-Za-z]{2,63}(?::[0-9]{1,5})?(?:[/?#][^\s\x1c-\x1f\x85\ufeff]*)?$"
HTTP_URL_PATTERN = r"^https?://" + _REST
HTTPS_URL_PATTERN = r"^https://" + _REST
http_url = RegexValidator(HTTP_URL_PATTERN, "Enter an http or https URL with a host name.")
https_url = RegexValidator(HTTPS_URL_PATTERN, "Enter an https URL with a host name.")


class IdField(serializers.IntegerField):
    """A row's id in a request body: 1 to the largest bigint. A larger number is a 400, not a
    database error (a prepared statement types its parameter, shop/db.py)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)


class FieldsBuiltOnceMixin:
    """A serializer class's fields are worked out once, not for every instance.

    DRF builds every field of a ``ModelSerializer`` from the model's metadata each time a
    serializer is made (``get_fields``: field mapping, kwargs, validators) and copies the
    declared ones with ``Field.__deepcopy__``, which makes each field again from deep copies
    of its arguments (choices, validators made anew, the model field of a ``ModelField``).
    For an order with its items that was a fifth of ``POST /orders``'s Python time
    (bench/results/orders.md).

    Here the first instance of a class keeps its unbound fields, and every instance gets
    copies of them (``_copy_field``). Only for serializers whose fields do not depend on the
    instance or the context. It relies on DRF's internals, so it sits only on the serializers
    of the measured hot path (``POST /orders`` and its answer: orders/api), put first in the
    bases; tests/test_db_faithful.py checks each of them against DRF's own fields and
    pins the DRF version it was read against.
    """

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = tuple((name, field, _copy_plan(field)) for name, field in super().get_fields().items())
            cls._fields_built_once = built
        return {name: _copy_field(field, plan) for name, field, plan in built}


def _copy_plan(field) -> tuple:
    """Which attributes of ``field`` hold fields bound to it, and the same of those, down."""
    return tuple(
        (name, _copy_plan(value))
        for name, value in field.__dict__.items()
        if isinstance(value, serializers.Field) and value.__dict__.get("parent") is field
    )


def _copy_field(field, plan: tuple):
    """A copy of an unbound field, as good as a new one, for a fraction of a deep copy.

    After ``__init__`` a field is only ever changed by ``bind`` (plain attribute assignments:
    name, parent, label, source) and by a serializer's caches (``fields``, ``_data``…), which
    the unbound originals kept here never fill. So a copy of its attributes is a new field.
    The fields it holds itself (``plan``) — a ``ListSerializer``'s or ``ListField``'s
    ``child``, a ``ManyRelatedField``'s ``child_relation`` — are bound to it (their
    ``parent``): they are copied in turn and bound to the copy; the bind they had is the one
    they would get again (same name), so only ``parent`` changes. A nested serializer's own
    fields are not copied here: it makes them when first asked, through this mixin or DRF."""
    new = object.__new__(type(field))
    state = new.__dict__
    state.update(field.__dict__)
    for name, inner in plan:
        held = _copy_field(state[name], inner)
        held.parent = new
        state[name] = held
    return new


def _json_type(field) -> tuple[str, tuple[type, ...]] | None:
    """The JSON type the schema states for ``field``'s value, as ``(name, Python types)``."""
    if isinstance(field, serializers.BooleanField):
        return "boolean", (bool,)
    if isinstance(field, serializers.IntegerField):
        return "integer", (int,)
    if isinstance(field, serializers.CharField):
        return "string", (str,)
    if isinstance(field, (serializers.ListField, serializers.ListSerializer)):
        return "array", (list,)
    if isinstance(field, (serializers.Serializer, serializers.DictField)):
        return "object", (dict,)
    return None


class StrictJsonTypesMixin:
    """A JSON body's values must have the types the schema states (issue 19, item 9).

    DRF reads leniently: ``"3"`` where an integer is expected, ``2.1e16`` where text is, so
    data the schema calls invalid was accepted. Here each value of a JSON object is checked
    against its field's JSON type first (``true`` is not an integer; ``null`` is left to the
    field's ``allow_null``); form and query data (``QueryDict``: all text by nature) are not."""

    strict_json_types = True  # ``QuerySerializer``: off (a query string is text)

    def to_internal_value(self, data):
        if self.strict_json_types and isinstance(data, dict) and not isinstance(data, QueryDict):
            wrong = {}
            for name, field in self.fields.items():
                value = data.get(name) if not field.read_only else None
                expected = _json_type(field) if value is not None else None
                if expected is None:
                    continue
                label, types = expected
                if not isinstance(value, types) or (label == "integer" and isinstance(value, bool)):
                    wrong[name] = [f"Must be a JSON {label}, not {_json_name(value)}."]
            if wrong:  # the other fields' problems are reported too, in one 400
                try:
                    super().to_internal_value(data)
                except serializers.ValidationError as exc:
                    if isinstance(exc.detail, dict):
                        wrong = {**exc.detail, **wrong}
                raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


def _json_name(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


class Serializer(StrictJsonTypesMixin, serializers.Serializer):
    """The house ``Serializer``: JSON types strict. On the hot path, add ``FieldsBuiltOnceMixin``."""


class ModelSerializer(StrictJsonTypesMixin, serializers.ModelSerializer):
    """The house ``ModelSerializer``: JSON types strict. On the hot path, add ``FieldsBuiltOnceMixin``."""


class QuerySerializer(Serializer):
    """Query-string filters, validated as the schema states them.

    DRF reads a ``QueryDict`` as an HTML form: an empty value of an optional field counts as
    absent, so ``?status=`` was accepted although the schema says ``minLength: 1``. Here the
    query string is read as plain values (the last one of a repeated name), so an empty or
    malformed filter is a 400 like any other invalid input (issue 19, item 9).
    """

    strict_json_types = False

    def __init__(self, instance=None, data=empty, **kwargs):
        if isinstance(data, QueryDict):
            data = data.dict()
        super().__init__(instance, data=data, **kwargs)
