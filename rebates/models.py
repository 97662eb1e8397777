"""Commission and rebate accruals: created pending at payment, settled at completion."""

from __future__ import annotations

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
