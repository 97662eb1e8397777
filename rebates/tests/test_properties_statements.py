"""Random days of postings on frozen funds (any kinds, any order, any days, two merchants):
every statement keeps the identity, each figure is the sum of its lines, a day's closing is
the next day's opening and the ledger's balance at the day's end, and a re-run changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from merchants.tests.factories import MerchantFactory
from rebates.models import MerchantStatement
from rebates.services.statements import merchant_statements_write, statement_day_bounds
from rebates.tests import frozen_funds as ff
from rebates.tests.test_services_statements import D0, _snapshot, assert_statement_is_sound, at
from shop.ledger.models import Entry

pytestmark = pytest.mark.django_db

DAYS = 4
AMOUNT_KINDS = (
    "subsidy_paid",
    "subsidy_returned",
    "refund_from_frozen",
    "share_returned",
    "unfreeze_confirmed",
    "gateway_fee",
)
STEP = st.tuples(
    st.integers(0, DAYS - 1),  # day
    st.integers(0, 23),  # hour
    st.integers(0, 1),  # merchant
    st.sampled_from(("order_paid_shared", "share_finished", *AMOUNT_KINDS)),
    st.integers(1, 6),  # order
    st.integers(1, 5_000),  # amount
    st.integers(0, 5_000),  # fee of a share
)


def _post(merchant_id: int, kind: str, order_id: int, amount: int, fee: int, when) -> None:
    if kind == "order_paid_shared":
        ff.order_paid_shared(merchant_id=merchant_id, order_id=order_id, paid_fen=amount, at=when)
    elif kind == "share_finished":
        ff.share_finished(
            merchant_id=merchant_id, order_id=order_id, commission_fen=amount, fee_fen=fee, at=when
        )
    else:
        getattr(ff, kind)(merchant_id=merchant_id, order_id=order_id, amount_fen=amount, at=when)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=1, max_size=25))
def test_random_days_of_frozen_funds_keep_every_statement_straight(steps):
    with transaction.atomic():
        merchants = [MerchantFactory().pk, MerchantFactory().pk]
        for day, hour, m, kind, order, amount, fee in steps:
            _post(merchants[m], kind, order + 10 * m, amount, fee, at(D0 + timedelta(days=day), hour))

        days = [D0 + timedelta(days=d) for d in range(DAYS)]
        for day in days:
            merchant_statements_write(date=day)

        for merchant_id in merchants:
            chain = list(MerchantStatement.objects.filter(merchant_id=merchant_id).order_by("date"))
            for statement in chain:
                assert_statement_is_sound(statement)
                _, end = statement_day_bounds(statement.date)
                ledger = Entry.objects.filter(
                    account__kind="merchant_frozen",
                    account__owner_id=merchant_id,
                    transaction__created_at__lt=end,
                ).aggregate(s=Sum("amount_fen"))["s"]
                assert statement.closing_fen == -(ledger or 0)
            for before, after in zip(chain, chain[1:], strict=False):
                assert after.opening_fen == before.closing_fen
                assert after.date == before.date + timedelta(days=1)
        first = [_snapshot(day) for day in days]
        for day in days:
            merchant_statements_write(date=day)
        assert [_snapshot(day) for day in days] == first
        transaction.set_rollback(True)
