"""shop/db.py: hand-written inserts write what bulk_create writes; hot statements run prepared."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.translation import gettext_lazy

from shop.db import execute, execute_rowcount, insert_rows
from shop.notifications.models import Notification

pytestmark = pytest.mark.django_db

COMPARED = ("recipient_id", "kind", "title", "body", "data", "read_at", "dedupe_key")


@pytest.fixture
def user():
    return get_user_model().objects.create(username="db-test", openid="db-test")


def _row(notification):
    return tuple(getattr(notification, name) for name in COMPARED)


def test_insert_rows_writes_what_bulk_create_writes_and_sets_the_keys(user):
    data = {"订单": 7, "items": [1, 2]}
    mine = [Notification(recipient=user, kind="k", title=f"标题{i}", data=data) for i in range(3)]
    theirs = [Notification(recipient=user, kind="k", title=f"标题{i}", data=data) for i in range(3)]

    insert_rows(mine)
    Notification.objects.bulk_create(theirs)

    assert all(n.pk and not n._state.adding and n.created_at and n.updated_at for n in mine)
    assert [n.pk for n in mine] == sorted(n.pk for n in mine)  # in the order given
    stored = {n.pk: n for n in Notification.objects.all()}
    assert [_row(stored[n.pk]) for n in mine] == [_row(stored[n.pk]) for n in theirs]
    assert stored[mine[0].pk].data == data  # JSON round trip
    assert all(stored[n.pk].created_at == n.created_at for n in mine)


@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
def test_values_of_other_types_are_converted_as_the_orm_converts_them(user):
    # Only exact ints, strs, bools and aware datetimes skip the ORM's conversions.
    naive = datetime(2026, 12, 1, 12, 30)
    values = {"kind": gettext_lazy("k"), "title": 123, "read_at": naive, "dedupe_key": None}
    mine, theirs = Notification(recipient=user, **values), Notification(recipient=user, **values)

    insert_rows([mine])
    Notification.objects.bulk_create([theirs])

    stored = {n.pk: n for n in Notification.objects.all()}
    assert _row(stored[mine.pk]) == _row(stored[theirs.pk])
    assert stored[mine.pk].title == "123"
    assert stored[mine.pk].read_at == timezone.make_aware(naive)


def test_a_refused_insert_raises_django_s_integrity_error_and_writes_nothing(user):
    Notification.objects.create(recipient=user, kind="k", title="t", dedupe_key="once")
    before = Notification.objects.count()

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows([Notification(recipient=user, kind="k", title="t", dedupe_key="once")])

    assert Notification.objects.count() == before


def test_execute_rowcount_counts_the_rows_changed(user):
    insert_rows([Notification(recipient=user, kind="k", title="t") for _ in range(2)])
    table = Notification._meta.db_table  # only the table name is interpolated
    sql = f'UPDATE "{table}" SET title = %s WHERE recipient_id = %s AND title = %s'  # noqa: S608

    assert execute_rowcount(sql, ["new", user.pk, "t"]) == 2
    assert execute_rowcount(sql, ["new", user.pk, "t"]) == 0


def _prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def test_a_statement_is_prepared_once_per_connection_then_only_executed():
    sql = "SELECT %s::int + %s::int"
    with CaptureQueriesContext(connection) as first, connection.cursor() as cursor:
        execute(cursor, sql, [1, 2])
        assert cursor.fetchone() == (3,)
    with CaptureQueriesContext(connection) as second, connection.cursor() as cursor:
        execute(cursor, sql, [40, 2])
        assert cursor.fetchone() == (42,)

    assert [q["sql"].split()[0] for q in first.captured_queries] == ["PREPARE", "EXECUTE"]
    assert [q["sql"].split()[0] for q in second.captured_queries] == ["EXECUTE"]
    assert any(name.startswith("shop_") for name in _prepared_names())


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_again():
    sql = "SELECT %s::int * 2"
    with connection.cursor() as cursor:
        execute(cursor, sql, [2])
    connection.close()  # the server session and its prepared statements are gone

    with connection.cursor() as cursor:
        execute(cursor, sql, [21])
        assert cursor.fetchone() == (42,)


def test_with_prepared_statements_off_the_plain_statement_runs(settings):
    settings.DB_PREPARED_STATEMENTS = False
    with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
        execute(cursor, "SELECT %s::int", [5])
        assert cursor.fetchone() == (5,)

    assert [q["sql"] for q in queries.captured_queries] == ["SELECT 5::int"]
