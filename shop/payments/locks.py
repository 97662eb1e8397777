"""Row locks of payments, in one place. Lock order: a payment before its refunds."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Payment, Refund


def payment_qs_for_update() -> QuerySet[Payment]:
    # NO KEY: rows referencing the payment (orders, refunds) may still be inserted meanwhile.
    return Payment.objects.select_for_update(no_key=True)


def refund_qs_for_update() -> QuerySet[Refund]:
    return Refund.objects.select_for_update(no_key=True)
