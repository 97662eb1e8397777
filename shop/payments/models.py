"""Payments for any purpose (an order checkout, a merchant deposit) and what gateways told us."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from shop.models import BaseModel


class Payment(BaseModel):
    class Status(models.TextChoices):
        CREATED = "created", "Awaiting payment"
        SUCCEEDED = "succeeded", "Paid"
        CLOSED = "closed", "Closed (never paid)"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.CREATED: frozenset({Status.SUCCEEDED, Status.CLOSED}),
    }

    # Indexes in Meta, not db_index/unique on the fields: those add a second, LIKE-only
    # index to every text column on PostgreSQL, written on every checkout and never read.
    class Funds(models.TextChoices):
        # Into the platform's own merchant account: deposits, and checkouts before profit sharing.
        PLATFORM = "platform", "Platform account"
        # Straight into the merchants' frozen funds at the gateway, one PaymentPart per order.
        SHARED = "shared", "Merchants' funds (profit sharing)"

    purpose = models.CharField(max_length=32, help_text="Who handles success: order_checkout, …")
    funds = models.CharField(max_length=16, choices=Funds.choices, default=Funds.PLATFORM)
    payer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
    amount_fen = models.BigIntegerField()
    gateway = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    out_trade_no = models.CharField(max_length=32, help_text="Our number, sent to the gateway.")
    gateway_txn_id = models.CharField(max_length=64, null=True, blank=True)
    description = models.CharField(max_length=127)
    ref_id = models.BigIntegerField(
        null=True, blank=True, help_text="What is paid for, by purpose (the merchant of a deposit)."
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payment_amount_fen_gt_0"),
            models.UniqueConstraint(fields=["out_trade_no"], name="payment_out_trade_no_unique"),
            models.UniqueConstraint(fields=["gateway_txn_id"], name="payment_gateway_txn_id_unique"),
        ]
        indexes = [
            models.Index(fields=["purpose"], name="payment_purpose_idx"),
            models.Index(fields=["status", "created_at"], name="payment_status_created_idx"),
            # Reconciliation reads a day's payments by when they were paid.
            models.Index(fields=["paid_at"], name="payment_paid_at_idx", condition=Q(paid_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.out_trade_no} ({self.get_status_display()})"

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, frozenset())

    @property
    def is_shared(self) -> bool:
        return self.funds == self.Funds.SHARED


class PaymentPart(BaseModel):
    """One order's part of a shared payment: what the buyer pays that merchant (``amount_fen``)
    and the subsidy declared for it at prepay (the platform coupon's part). One part: a partner
    JSAPI payment; several (≤ 50): a combined payment whose ``combine_out_trade_no`` is the
    payment's ``out_trade_no``, closed only as a whole."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="parts")
    order_id = models.BigIntegerField(help_text="The order this part pays (orders sit above payments).")
    merchant_id = models.BigIntegerField(help_text="The order's merchant (its ledger accounts).")
    sub_mchid = models.CharField(max_length=32)
    out_trade_no = models.CharField(max_length=32, help_text="Ours, sent to the gateway.")
    amount_fen = models.BigIntegerField()
    subsidy_fen = models.BigIntegerField(
        default=0, help_text="Declared at prepay: the platform coupon's part."
    )
    transaction_id = models.CharField(max_length=64, null=True, blank=True, help_text="WeChat's, once paid.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payment_part_amount_gt_0"),
            models.CheckConstraint(condition=Q(subsidy_fen__gte=0), name="payment_part_subsidy_gte_0"),
            models.UniqueConstraint(fields=["out_trade_no"], name="payment_part_out_trade_no_unique"),
            models.UniqueConstraint(fields=["order_id"], name="payment_part_order_unique"),
            models.UniqueConstraint(fields=["transaction_id"], name="payment_part_txn_unique"),
        ]
        indexes = [models.Index(fields=["payment"], name="payment_part_payment_idx")]

    def __str__(self) -> str:
        return f"{self.out_trade_no} → {self.sub_mchid}"


class FundsStep(BaseModel):
    """One call that moves a merchant's money at the gateway (docs/merchant-money.md).

    ``out_no`` is derived from our ids (``B<order>`` a subsidy, ``S<order>`` a share,
    ``U<order>`` an unfreeze, ``R<refund>`` a share return, ``BR<refund>`` a subsidy return,
    ``A<refund>`` an advance return) and unique, so no retry can make a second one. Written
    in the transaction that decides it, sent after commit by a task, polled while
    ``processing``, retried by a sweeper while ``pending``; ``failed`` is a case for ops."""

    class Kind(models.TextChoices):
        SUBSIDY = "subsidy", "Subsidy (补差)"
        SHARE = "share", "Share (分账)"
        SHARE_RETURN = "share_return", "Share return (分账回退)"
        SUBSIDY_RETURN = "subsidy_return", "Subsidy return (补差回退)"
        UNFREEZE = "unfreeze", "Unfreeze (完结分账)"
        ADVANCE_RETURN = "advance_return", "Advance return (垫付回补)"

    class Status(models.TextChoices):
        PENDING = "pending", "To be sent"
        PROCESSING = "processing", "Accepted, polled"
        CONFIRMED = "confirmed", "Confirmed by the gateway"
        FAILED = "failed", "Failed for good (ops case)"

    OPEN: ClassVar[tuple[str, ...]] = (Status.PENDING, Status.PROCESSING)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    part = models.ForeignKey(PaymentPart, on_delete=models.PROTECT, related_name="steps")
    order_id = models.BigIntegerField()
    merchant_id = models.BigIntegerField()
    refund_id = models.BigIntegerField(null=True, blank=True, help_text="The refund a return belongs to.")
    out_no = models.CharField(max_length=64, help_text="Ours at the gateway, derived from our ids.")
    amount_fen = models.BigIntegerField()
    commission_fen = models.BigIntegerField(default=0, help_text="A share: the commission it carries.")
    fee_fen = models.BigIntegerField(default=0, help_text="A share: the platform fee it carries.")
    gateway_id = models.CharField(max_length=64, blank=True, help_text="WeChat's id for it.")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["out_no"], name="funds_step_out_no_unique"),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="funds_step_amount_gte_0"),
            models.CheckConstraint(
                condition=Q(amount_fen=models.F("commission_fen") + models.F("fee_fen")) | ~Q(kind="share"),
                name="funds_step_share_split",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="funds_step_due_idx"),
            models.Index(fields=["order_id", "kind"], name="funds_step_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.out_no} ({self.get_status_display()})"


class PaymentAnomaly(BaseModel):
    """A verified callback we could not simply apply: ops look at these in admin."""

    class Kind(models.TextChoices):
        AMOUNT_MISMATCH = "amount_mismatch", "Amount differs from what we asked"
        PAID_AFTER_CLOSE = "paid_after_close", "Paid after the payment was closed"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="anomalies")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    gateway_txn_id = models.CharField(max_length=64)
    reported_amount_fen = models.BigIntegerField()
    payload = models.JSONField(default=dict)
    is_resolved = models.BooleanField(default=False)
    refund = models.OneToOneField(
        "Refund",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="anomaly",
        help_text="The automatic refund of the money that arrived.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gateway_txn_id", "kind"], name="payment_anomaly_once_per_txn"),
        ]
        verbose_name_plural = "payment anomalies"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.payment}"


class AnomalyPart(BaseModel):
    """One sub-order of a shared payment's anomaly as the gateway reported it: money that
    arrived in ``sub_mchid``'s frozen funds (``parts_anomalies``). Reported, not declared: its
    ``out_trade_no`` may be none of our parts' and its amount another than we declared. It is
    booked on the merchant's ``merchant_anomaly`` account and refunded in full from those
    funds by its own ``refund`` (purpose ``payment_anomaly``). ``merchant_id`` is null when the
    ``sub_mchid`` is none we know: its money is booked on the platform's ``merchant_anomaly``."""

    anomaly = models.ForeignKey(PaymentAnomaly, on_delete=models.PROTECT, related_name="parts")
    merchant_id = models.BigIntegerField(null=True, blank=True, help_text="Whose sub_mchid, if ours.")
    sub_mchid = models.CharField(max_length=32)
    out_trade_no = models.CharField(max_length=32, help_text="As the gateway reported it.")
    transaction_id = models.CharField(max_length=64)
    amount_fen = models.BigIntegerField(help_text="What arrived, as the gateway reported it.")
    refund = models.OneToOneField(
        "Refund",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="anomaly_part",
        help_text="The automatic refund of this part, from the merchant's funds.",
    )

    class Meta:
        constraints = [
            # One WeChat transaction's money is refunded once, whatever the anomalies.
            models.UniqueConstraint(fields=["transaction_id"], name="anomaly_part_txn_unique"),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="anomaly_part_amount_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.out_trade_no} → {self.sub_mchid}"


class Refund(BaseModel):
    """Money going back to a payer through the gateway, for any purpose (an order's refund,
    a payment anomaly, …), against the payment it came from.

    ``key`` is the caller's idempotency key (one refund per key). ``out_refund_no`` is our
    number at the gateway, which refunds one number at most once: resending the same number
    can never pay twice. Money sits in the ``refund_clearing`` account from the request until
    the gateway confirms; a failed refund leaves it there, for ops (admin "Send the refund
    again").
    """

    class Status(models.TextChoices):
        PENDING = "pending", "To be sent to the gateway"
        PROCESSING = "processing", "Accepted by the gateway, in progress"
        SUCCEEDED = "succeeded", "Refunded"
        FAILED = "failed", "Failed (money waiting in refund clearing; ops to act)"

    class FailureKind(models.TextChoices):
        REFUSED = "refused", "The gateway refused the request (resent under the same number)"
        CLOSED = "closed", "The gateway closed the refund, nothing paid (resent under a new number)"
        ABNORMAL = "abnormal", "Abnormal: the buyer's account refused the money (handle at the gateway)"

    IN_FLIGHT: ClassVar[tuple[str, ...]] = (Status.PENDING, Status.PROCESSING)

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    part = models.ForeignKey(
        "PaymentPart",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        help_text="A shared payment's refund: the sub-order it comes from (its merchant's funds).",
    )
    purpose = models.CharField(max_length=32, db_index=True, help_text="Who asked: order_refund, …")
    ref_id = models.BigIntegerField(null=True, blank=True, help_text="What is refunded, by purpose.")
    amount_fen = models.BigIntegerField()
    total_fen = models.BigIntegerField(help_text="The gateway transaction's total (WeChat requires it).")
    advance_fen = models.BigIntegerField(
        default=0,
        help_text="A shared payment's refund the platform advanced (垫付退款): charged to the deposit.",
    )
    key = models.CharField(max_length=200, unique=True, help_text="The caller's idempotency key.")
    out_refund_no = models.CharField(max_length=64, unique=True, help_text="Our number at the gateway.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    gateway_refund_id = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=80, blank=True, help_text="Shown to the payer by WeChat.")
    failure_kind = models.CharField(max_length=16, choices=FailureKind.choices, blank=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Gateway calls made.")
    resends = models.PositiveIntegerField(default=0, help_text="Times ops sent it again after a failure.")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_amount_fen_gt_0"),
            models.CheckConstraint(
                condition=Q(amount_fen__lte=models.F("total_fen")), name="refund_lte_total"
            ),
        ]
        indexes = [
            models.Index(fields=["payment", "status"], name="refund_payment_status_idx"),
            # Reconciliation reads a day's refunds by when they ended.
            models.Index(
                fields=["finished_at"], name="refund_finished_at_idx", condition=Q(finished_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.out_refund_no} ({self.get_status_display()})"


class RetiredRefundNumber(BaseModel):
    """An ``out_refund_no`` the gateway closed, replaced when ops sent the refund again.

    Never reused; late news about it is recognised (answered, ignored), not applied.
    """

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="retired_numbers")
    out_refund_no = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.out_refund_no


class Payout(BaseModel):
    """Money sent out through a gateway transfer (a wallet withdrawal, …), for any purpose.

    ``out_bill_no`` is our number at the gateway: it pays at most once, so a send may be
    retried with it; a *new* number is only ever made (by the purpose's retry) once this
    one is final. States follow WeChat's merchant transfer, which waits for the payee to
    confirm in the mini-program (``package_info``) and gives up after 24 h.
    """

    class State(models.TextChoices):
        CREATED = "created", "Recorded, not yet accepted by the gateway"
        WAIT_USER_CONFIRM = "wait_user_confirm", "Waiting for the user to confirm"
        PROCESSING = "processing", "Accepted, in progress"
        SUCCEEDED = "succeeded", "Paid out"
        FAILED = "failed", "Failed (money returned)"
        CANCELLED = "cancelled", "Cancelled or expired (money returned)"

    FINAL: ClassVar[frozenset[str]] = frozenset({State.SUCCEEDED, State.FAILED, State.CANCELLED})

    purpose = models.CharField(max_length=32, db_index=True, help_text="Who handles it: wallet_withdrawal, …")
    ref_id = models.BigIntegerField(help_text="What is paid out, by purpose (the withdrawal).")
    payee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts")
    amount_fen = models.BigIntegerField()
    gateway = models.CharField(max_length=16)
    out_bill_no = models.CharField(max_length=32, unique=True, help_text="Our number, sent to the gateway.")
    transfer_bill_no = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.CREATED, db_index=True)
    package_info = models.CharField(max_length=1024, blank=True, help_text="For the mini-program's confirm.")
    fail_reason = models.CharField(max_length=255, blank=True)
    attempts = models.IntegerField(default=0, help_text="Calls made to the gateway.")
    last_error = models.CharField(max_length=255, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payout_amount_fen_gt_0")]
        indexes = [models.Index(fields=["purpose", "ref_id"], name="payout_purpose_ref_idx")]

    def __str__(self) -> str:
        return f"{self.out_bill_no} ({self.get_state_display()})"

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL


# --- reconciliation with the gateway's bills (对账; shop/payments/reconciliation.py) ----------


class BillImport(BaseModel):
    """One bill of one day (Asia/Shanghai) fetched from the gateway and matched with our rows.

    One row per gateway, kind, day and ``sub_mchid`` ('' for the platform's own bills): a
    re-import reuses it (its staged lines are replaced, its cases are unique), so importing a
    bill again changes nothing. ``waiting`` means the gateway said the bill is not ready yet
    (it is after about 10:00 the next day): the sweeper tries again at ``next_attempt_at``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "To be fetched"
        RUNNING = "running", "Being fetched and matched"
        WAITING = "waiting", "Not ready at the gateway: tried again later"
        DONE = "done", "Fetched and matched"
        FAILED = "failed", "Failed (the bill could not be read): ops to look"

    gateway = models.CharField(max_length=16)
    kind = models.CharField(max_length=16, help_text="trade, refund, profitsharing, fundflow")
    bill_date = models.DateField(help_text="The day the bill covers (Asia/Shanghai).")
    sub_mchid = models.CharField(
        max_length=32, blank=True, default="", help_text="'' for the platform's bill."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    line_count = models.BigIntegerField(default=0, help_text="Detail lines on the bill.")
    case_count = models.IntegerField(default=0, help_text="Differences raised by the last match.")
    attempts = models.PositiveIntegerField(default=0, help_text="Downloads tried.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    header = models.JSONField(default=list, blank=True, help_text="The bill's column names.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "kind", "bill_date", "sub_mchid"], name="bill_import_once_per_day"
            ),
        ]

    def __str__(self) -> str:
        who = f" {self.sub_mchid}" if self.sub_mchid else ""
        return f"{self.gateway} {self.kind}{who} bill of {self.bill_date} ({self.get_status_display()})"


class StagedBillLine(models.Model):
    """A bill's detail line as matching needs it, written by ``COPY`` and matched in SQL.

    Kept a few days (the midnight rule looks at the neighbouring days' bills), then dropped. The
    table is UNLOGGED (migration 0004): no WAL for a million lines a day that a re-import can
    always write again. After a database crash it is empty: the lines of bills already matched
    are gone, so a neighbour's edge (the midnight rule) may then raise a case ops explain, or
    re-import that day first.
    ``raw`` is the line's fields joined by U+001F, in the order of ``BillImport.header``: a
    case rebuilds the line from it, the million lines that match never pay for JSON.
    """

    # No database foreign key: its check per row was a third of COPY's time; lines are only
    # written by ``_stage`` for an import that exists, and dropped before it could be.
    bill_import = models.ForeignKey(
        BillImport, on_delete=models.CASCADE, db_index=False, db_constraint=False, related_name="+"
    )
    line_no = models.IntegerField()
    key = models.CharField(max_length=64, help_text="Our number on the line (out_trade_no, …).")
    amount_fen = models.BigIntegerField()
    state = models.CharField(max_length=32, help_text="'done' when the bill says it succeeded.")
    raw = models.TextField()

    class Meta:
        # By import only: COPY appends to it in order. With the key too, every line was a
        # random insert into a growing index and COPY took twice as long; matching hashes
        # the keys instead.
        indexes = [models.Index(fields=["bill_import"], name="staged_bill_line_import")]

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.key}"


class ReconciliationCase(BaseModel):
    """A difference between a bill and our rows, for ops (admin "Reconciliation cases").

    Unique per gateway, bill kind, our key and kind of difference: a re-import adds nothing,
    and a resolved case is never reopened. Ops resolve it with an admin action (apply the
    missed callback after re-querying the gateway, or mark it explained with a reason).
    """

    class Kind(models.TextChoices):
        MISSING_OURS = "missing_ours", "On the bill, not with us (e.g. a lost success callback)"
        MISSING_GATEWAY = "missing_gateway", "With us, not on the bill"
        AMOUNT_DIFFERS = "amount_differs", "Amounts differ"
        STATUS_DIFFERS = "status_differs", "Statuses differ"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    class Resolution(models.TextChoices):
        APPLIED = "applied", "Missed result applied after re-querying the gateway"
        ALREADY_APPLIED = "already_applied", "Re-queried: already applied meanwhile"
        EXPLAINED = "explained", "Explained by ops"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    gateway = models.CharField(max_length=16)
    bill_kind = models.CharField(max_length=16)
    matcher = models.CharField(
        max_length=32, blank=True, help_text="Which of our records: payments, refunds, …"
    )
    key = models.CharField(max_length=64, help_text="Our number: out_trade_no, out_refund_no, …")
    bill_date = models.DateField()
    bill_import = models.ForeignKey(BillImport, on_delete=models.PROTECT, related_name="cases")
    our_amount_fen = models.BigIntegerField(null=True, blank=True)
    bill_amount_fen = models.BigIntegerField(null=True, blank=True)
    our_state = models.CharField(max_length=32, blank=True)
    bill_state = models.CharField(max_length=32, blank=True)
    bill_line = models.JSONField(null=True, blank=True, help_text="The bill's line: line_no and fields.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    note = models.TextField(blank=True, help_text="Why: ops' reason, or what the re-query found.")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "bill_kind", "key", "kind"], name="reconciliation_case_once"
            ),
        ]
        indexes = [models.Index(fields=["status", "bill_date"], name="reconciliation_case_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.bill_kind} {self.key} ({self.bill_date})"


class GatewayFee(BaseModel):
    """WeChat's handling fee (手续费) of one trade-bill line, booked once in the ledger
    (docs/merchant-money.md "WeChat's handling fee").

    ``fee_key`` is the gateway's own id of the line's transaction — ``transaction_id`` for a
    payment line, ``transaction_id/refund_id`` for a refund line (WeChat gives back part of the
    fee: a negative fee) — unique per gateway, so a bill imported again, or a line that shows up
    again on the next day's bill, never books twice, and two transactions never share a key.
    A shared payment's part: the merchant's fee, ``merchant_frozen: +fee`` and
    ``merchant_receivable: −fee`` under the key ``gateway-fee:<gateway>:<fee_key>`` (ref the
    order). A platform payment: the platform's cost, ``gateway_clearing: +fee`` and
    ``gateway_fees: −fee``, booked for many lines at once (``posting``)."""

    gateway = models.CharField(max_length=16)
    fee_key = models.CharField(max_length=140, help_text="transaction_id, or transaction_id/refund_id.")
    transaction_id = models.CharField(max_length=64)
    refund_id = models.CharField(max_length=64, blank=True)
    out_trade_no = models.CharField(max_length=64)
    # A row per line of a million-line bill, written by one INSERT … SELECT from rows that
    # exist (the bill's import, our payment, part and posting): no database foreign keys and
    # no indexes on them (their checks and index writes per row were most of the insert's
    # time; nothing looks fees up by them). ``on_delete`` still protects them in the ORM.
    bill_import = models.ForeignKey(
        BillImport, on_delete=models.PROTECT, related_name="fees", db_index=False, db_constraint=False
    )
    fee_fen = models.BigIntegerField(help_text="Negative on a refund line: the fee WeChat gave back.")
    funds = models.CharField(max_length=16, choices=Payment.Funds.choices)
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="gateway_fees", db_index=False, db_constraint=False
    )
    part = models.ForeignKey(
        PaymentPart,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="gateway_fees",
        db_index=False,
        db_constraint=False,
    )
    merchant_id = models.BigIntegerField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)
    posting = models.ForeignKey(
        "ledger.Transaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
        help_text="The ledger transaction that booked it (empty: still to book).",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gateway", "fee_key"], name="gateway_fee_once_per_txn"),
            models.CheckConstraint(
                condition=Q(funds="platform") | Q(part__isnull=False), name="gateway_fee_shared_has_part"
            ),
        ]
        indexes = [
            models.Index(
                fields=["gateway"],
                name="gateway_fee_unbooked_idx",
                condition=Q(funds="shared", posting__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"fee {self.fee_fen} fen on {self.fee_key}"
