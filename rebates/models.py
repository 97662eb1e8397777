"""Commission and rebate accruals: created pending at payment, settled at completion."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from shop.models import BaseModel


class Accrual(BaseModel):
    """One share of one order item's commission, for one beneficiary.

    ``amount_fen`` is what was accrued; refunds before settlement raise
    ``cancelled_fen``; refunds after settlement raise ``clawed_back_fen``.

    No index names ``status`` (or ``settled_at``) and the table leaves room in each page
    (``fillfactor`` 50, migration 0003): settlement changes those two on every accrual,
    once, and so that update is a heap-only (HOT) one, writing no index entry. Accruals
    are found by order (or item), never by status alone.
    """

    class Kind(models.TextChoices):
        MEMBER_REBATE = "member_rebate", "Member rebate"
        OWNER_COMMISSION = "owner_commission", "Owner commission"
        PLATFORM = "platform", "Platform remainder"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SETTLED = "settled", "Settled"

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="accruals")
    order_item = models.ForeignKey("orders.OrderItem", on_delete=models.PROTECT, related_name="accruals")
    store = models.ForeignKey("groupstore.Store", on_delete=models.PROTECT, related_name="accruals")
    beneficiary = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="accruals"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    amount_fen = models.BigIntegerField()
    cancelled_fen = models.BigIntegerField(default=0)
    clawed_back_fen = models.BigIntegerField(default=0)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order_item", "kind"], name="accrual_once_per_item_kind"),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="accrual_amount_fen_gte_0"),
            models.CheckConstraint(
                condition=Q(cancelled_fen__gte=0) & Q(cancelled_fen__lte=models.F("amount_fen")),
                name="accrual_cancelled_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(kind="platform") | Q(beneficiary__isnull=False),
                name="accrual_person_has_beneficiary",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_fen} fen on order {self.order_id}"


class RedEnvelopeCampaign(BaseModel):
    """A marketing budget ops set aside for red envelopes (admin).

    While active and within its dates, every completed order in one of its stores (or in
    any store, when none is chosen) funds an envelope of ``envelope_fen`` in ``shares``
    from this budget instead of from the order's platform remainder, until
    ``spent_fen + envelope_fen`` would pass ``budget_fen``. Money comes out of the
    ``marketing_budget`` account and unclaimed money goes back there.
    """

    name = models.CharField(max_length=100)
    budget_fen = models.BigIntegerField()
    spent_fen = models.BigIntegerField(
        default=0, help_text="Put into envelopes (returns are not added back)."
    )
    envelope_fen = models.BigIntegerField(help_text="Amount of each envelope.")
    shares = models.PositiveIntegerField(default=10)
    stores = models.ManyToManyField("groupstore.Store", blank=True, related_name="envelope_campaigns")
    is_active = models.BooleanField(default=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(envelope_fen__gt=0), name="campaign_envelope_fen_gt_0"),
            models.CheckConstraint(condition=Q(shares__gte=1), name="campaign_shares_gte_1"),
            models.CheckConstraint(
                condition=Q(spent_fen__gte=0) & Q(spent_fen__lte=models.F("budget_fen")),
                name="campaign_spent_within_budget",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RedEnvelope(BaseModel):
    """A group red envelope (红包) for one store's members, funded by one completed order.

    Amounts are drawn at claim time under a lock on this row (``remaining_*`` are the
    running figures); ``funded_at`` decides who may claim (members who joined before).
    The money is in the store's ``red_envelope_pool`` ledger account, which holds the sum
    of its envelopes' ``remaining_fen`` (a ``ledger_check`` check).
    """

    class Source(models.TextChoices):
        ORDER = "order", "Platform remainder of the order"
        CAMPAIGN = "campaign", "Campaign budget"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        EMPTY = "empty", "All shares claimed"
        EXPIRED = "expired", "Expired (rest returned)"

    # No index of its own: ``envelope_store_funded_idx`` leads with it.
    store = models.ForeignKey(
        "groupstore.Store", on_delete=models.PROTECT, related_name="red_envelopes", db_index=False
    )
    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, related_name="red_envelope", help_text="One per order."
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    campaign = models.ForeignKey(
        RedEnvelopeCampaign, on_delete=models.PROTECT, null=True, blank=True, related_name="envelopes"
    )
    total_fen = models.BigIntegerField()
    shares = models.PositiveIntegerField()
    remaining_fen = models.BigIntegerField()
    remaining_shares = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    funded_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    returned_fen = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # K = min(shares, total): every share can get at least 1 fen.
            models.CheckConstraint(
                condition=Q(shares__gte=1) & Q(total_fen__gte=models.F("shares")), name="envelope_shares_fit"
            ),
            models.CheckConstraint(
                condition=Q(remaining_fen__gte=models.F("remaining_shares")) & Q(remaining_fen__gte=0),
                name="envelope_remaining_fits",
            ),
            models.CheckConstraint(
                condition=Q(source="order") | Q(campaign__isnull=False), name="envelope_campaign_named"
            ),
        ]
        indexes = [
            models.Index(fields=["store", "-funded_at"], name="envelope_store_funded_idx"),
            # The expiry sweeper's question, and only open envelopes can be due.
            models.Index(fields=["expires_at"], condition=Q(status="open"), name="envelope_open_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"Red envelope #{self.pk} of store {self.store_id}"

    @property
    def claimed_count(self) -> int:
        return self.shares - self.remaining_shares


class RedEnvelopeClaim(models.Model):
    envelope = models.ForeignKey(RedEnvelope, on_delete=models.PROTECT, related_name="claims")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="envelope_claims"
    )
    amount_fen = models.BigIntegerField()
    claimed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["envelope", "user"], name="envelope_claim_once_per_user"),
            models.CheckConstraint(condition=Q(amount_fen__gte=1), name="envelope_claim_gte_1_fen"),
        ]

    def __str__(self) -> str:
        return f"{self.amount_fen} fen from envelope {self.envelope_id} to user {self.user_id}"


class Withdrawal(BaseModel):
    """A member taking wallet money out to WeChat. The money is held (``user_held``) from
    the moment this row exists until its payout succeeds (paid out) or ends otherwise
    (released to ``user_available``). ``payout`` is the current attempt."""

    class Status(models.TextChoices):
        PROCESSING = "processing", "Being sent"
        WAIT_USER_CONFIRM = "wait_user_confirm", "Waiting for the member to confirm"
        SUCCEEDED = "succeeded", "Paid out"
        FAILED = "failed", "Failed (money back in the wallet)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawals")
    amount_fen = models.BigIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROCESSING, db_index=True)
    payout = models.OneToOneField(
        "payments.Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=1)
    failure_reason = models.CharField(max_length=255, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="withdrawal_amount_fen_gt_0")
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="withdrawal_user_created_idx")]

    def __str__(self) -> str:
        return f"Withdrawal #{self.pk} of {self.amount_fen} fen by user {self.user_id}"


class SettlementRun(models.Model):
    """One ``orders_settle`` batch, as ops see it in admin."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running (or its worker died)"
        SETTLED = "settled", "Settled"
        NOTHING_DUE = "nothing_due", "Nothing to settle (already done or not due)"
        FAILED = "failed", "Failed (retried by the task or the sweeper)"

    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    orders_requested = models.PositiveIntegerField()
    orders_settled = models.PositiveIntegerField(default=0)
    commission_fen = models.BigIntegerField(default=0, help_text="Accruals made available or revenue.")
    merchant_payable_fen = models.BigIntegerField(default=0, help_text="Moved to merchants' payable.")
    platform_fee_fen = models.BigIntegerField(default=0)
    envelopes_count = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.RUNNING)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"Settlement run #{self.pk} ({self.get_outcome_display()})"


class OrderSettlement(models.Model):
    """The fact that an order was settled (once: the order is the primary key), with what
    the merchant was owed. The catch-up sweeper looks for completed orders without one."""

    order = models.OneToOneField("orders.Order", on_delete=models.PROTECT, primary_key=True, related_name="+")
    merchant_id = models.BigIntegerField(db_index=True)
    run = models.ForeignKey(SettlementRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    commission_fen = models.BigIntegerField()
    merchant_payable_fen = models.BigIntegerField()
    platform_fee_fen = models.BigIntegerField()
    settled_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Settlement of order {self.order_id}"


class MerchantStatement(BaseModel):
    """One merchant's day (Asia/Shanghai) of money frozen at the gateway under profit sharing
    (docs/merchant-money.md, "Statements"), written by ``merchant_statements_write``.

    The balance is the merchant's ``merchant_frozen`` account, negated:
    ``closing = opening + sales + subsidy − gateway_fee − commission − platform_fee −
    refunds − released`` (a check constraint, and the service checks ``closing`` against the
    ledger). ``held``, ``returned``, ``refunds_after_release`` and ``deductions`` are for
    information and not in the identity. Every figure but ``opening``/``closing`` is the sum
    of its lines (``MerchantStatementLine.FIGURE_OF_KIND``). Rewriting a day gives the same
    figures and lines: one statement per merchant and day.
    """

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="statements")
    date = models.DateField(help_text="The Asia/Shanghai day.")
    opening_fen = models.BigIntegerField(default=0)
    sales_fen = models.BigIntegerField(default=0)
    subsidy_fen = models.BigIntegerField(default=0, help_text="Net of the subsidies returned that day.")
    gateway_fee_fen = models.BigIntegerField(default=0)
    commission_fen = models.BigIntegerField(default=0)
    platform_fee_fen = models.BigIntegerField(default=0)
    refunds_fen = models.BigIntegerField(
        default=0, help_text="Refunds from frozen funds, net of the shares returned into them."
    )
    released_fen = models.BigIntegerField(default=0, help_text="Unfrozen for the merchant.")
    closing_fen = models.BigIntegerField(default=0)
    held_fen = models.BigIntegerField(default=0, help_text="Part of closing held by open after-sales cases.")
    returned_fen = models.BigIntegerField(default=0, help_text="Shares returned (information).")
    refunds_after_release_fen = models.BigIntegerField(
        default=0, help_text="Refunds of orders already released (information)."
    )
    deductions_fen = models.BigIntegerField(default=0, help_text="Deposit deductions (information).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "date"], name="statement_merchant_date_unique"),
            models.CheckConstraint(
                condition=Q(
                    closing_fen=models.F("opening_fen")
                    + models.F("sales_fen")
                    + models.F("subsidy_fen")
                    - models.F("gateway_fee_fen")
                    - models.F("commission_fen")
                    - models.F("platform_fee_fen")
                    - models.F("refunds_fen")
                    - models.F("released_fen")
                ),
                name="statement_identity",
            ),
        ]

    def __str__(self) -> str:
        return f"Statement of merchant {self.merchant_id} for {self.date}"


class MerchantStatementLine(models.Model):
    """One line of a statement: what moved one figure, for one order, and the ledger entry
    it comes from. ``amount_fen`` is signed as it adds to its figure (a subsidy returned is
    −, a share returned is − in ``refunds``). Information lines (``held``, ``returned``,
    ``refund_after_release``, ``deposit_deduction``) are not in the identity."""

    class Kind(models.TextChoices):
        ORDER_PAID_SHARED = "order_paid_shared", "Paid (sales)"
        SUBSIDY_PAID = "subsidy_paid", "Subsidy paid"
        SUBSIDY_RETURNED = "subsidy_returned", "Subsidy returned"
        GATEWAY_FEE = "gateway_fee", "Gateway fee"
        SHARE_COMMISSION = "share_commission", "Share: commission"
        SHARE_PLATFORM_FEE = "share_platform_fee", "Share: platform fee"
        REFUND_FROM_FROZEN = "refund_from_frozen", "Refund from frozen funds"
        SHARE_RETURNED = "share_returned", "Share returned (into frozen funds)"
        UNFREEZE_CONFIRMED = "unfreeze_confirmed", "Released (unfrozen)"
        # Information, not in the identity:
        HELD = "held", "Held by an open after-sales case (day end)"
        RETURNED = "returned", "Share returned (information)"
        REFUND_AFTER_RELEASE = "refund_after_release", "Refund after release (information)"
        DEPOSIT_DEDUCTION = "deposit_deduction", "Deposit deduction (information)"

    # Which statement figure each kind of line adds to: the figure is the sum of its lines.
    FIGURE_OF_KIND: ClassVar[dict[str, str]] = {
        Kind.ORDER_PAID_SHARED: "sales_fen",
        Kind.SUBSIDY_PAID: "subsidy_fen",
        Kind.SUBSIDY_RETURNED: "subsidy_fen",
        Kind.GATEWAY_FEE: "gateway_fee_fen",
        Kind.SHARE_COMMISSION: "commission_fen",
        Kind.SHARE_PLATFORM_FEE: "platform_fee_fen",
        Kind.REFUND_FROM_FROZEN: "refunds_fen",
        Kind.SHARE_RETURNED: "refunds_fen",
        Kind.UNFREEZE_CONFIRMED: "released_fen",
        Kind.HELD: "held_fen",
        Kind.RETURNED: "returned_fen",
        Kind.REFUND_AFTER_RELEASE: "refunds_after_release_fen",
        Kind.DEPOSIT_DEDUCTION: "deductions_fen",
    }

    # Lines are rewritten with their statement and listed in id order within it.
    statement = models.ForeignKey(
        MerchantStatement, on_delete=models.CASCADE, related_name="lines", db_index=False
    )
    order_id = models.BigIntegerField(
        null=True, blank=True, help_text="The order (none for some deductions)."
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    amount_fen = models.BigIntegerField()
    at = models.DateTimeField(help_text="When the ledger recorded it (a held line: the day's end).")
    entry = models.ForeignKey(
        "ledger.Entry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        help_text="The ledger entry it comes from (none for a held line: a balance, not a movement).",
    )

    class Meta:
        indexes = [models.Index(fields=["statement", "id"], name="statement_line_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_fen:+d} (order {self.order_id})"
