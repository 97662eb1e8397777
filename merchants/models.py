"""The seller side: merchants, their staff, margin-deposit movements, stock uploads.

A deposit comes in as a ``shop.payments`` Payment of purpose ``DEPOSIT_PURPOSE`` and goes
back on exit as generic ``shop.payments`` Refunds of purpose ``DEPOSIT_REFUND_PURPOSE``
(``ref_id`` = the ``DepositMovement`` of kind ``refund``), one per deposit payment refunded.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from shop.models import BaseModel

DEPOSIT_PURPOSE = "merchant_deposit"  # shop.payments payment purpose: a deposit paid in
DEPOSIT_REFUND_PURPOSE = "deposit_refund"  # shop.payments refund purpose: a deposit refunded on exit


class Merchant(BaseModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUSPENDED = "suspended", "Suspended"
        EXITING = "exiting", "Leaving (deposit refunded after the cool-off)"
        CLOSED = "closed", "Left (deposit refunded)"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.PENDING: frozenset({Status.APPROVED, Status.REJECTED}),
        Status.APPROVED: frozenset({Status.SUSPENDED, Status.EXITING}),
        Status.SUSPENDED: frozenset({Status.APPROVED, Status.EXITING}),
        Status.REJECTED: frozenset({Status.PENDING}),
        Status.EXITING: frozenset({Status.APPROVED, Status.CLOSED}),
        # A deposit payment that succeeds after the merchant left is refunded the same way.
        Status.CLOSED: frozenset({Status.EXITING}),
    }

    company_name = models.CharField(max_length=120)
    licence_no = models.CharField(max_length=64, help_text="Business licence (unified social credit code).")
    contact_phone = models.CharField(max_length=32)
    categories = models.ManyToManyField("products.Category", related_name="merchants", blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    rejection_reason = models.CharField(max_length=255, blank=True)
    applicant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    exit_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="When the merchant asked to leave; the cool-off runs from here."
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    sub_mchid = models.CharField(
        max_length=32,
        blank=True,
        help_text=(
            "The merchant's secondary merchant id at WeChat Pay's e-commerce product (平台收付通), "
            "entered by ops at approval (the sandbox opens one itself). Without it the merchant "
            "cannot be paid by profit sharing: its checkouts are refused."
        ),
    )
    return_address = models.JSONField(
        null=True,
        blank=True,
        help_text="Where buyers send returns: name, phone, region, detail (shown on approved returns).",
    )

    def __str__(self) -> str:
        return self.company_name

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, frozenset())


class MerchantStaff(BaseModel):
    """A user who acts for a merchant. A user works for at most one merchant, and joins one
    only by accepting an invitation from its owner (or by applying, as its first owner)."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"  # everything, including staff, invitations and leaving the platform
        OPERATOR = "operator", "Operator"  # products, stock, orders, after-sales
        FINANCE = "finance", "Finance"  # deposits and statements

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="staff")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="merchant_staff"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OPERATOR)

    class Meta:
        verbose_name_plural = "merchant staff"

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant}"


class MerchantStaffInvitation(BaseModel):
    """An owner's invitation to join the merchant's staff in a role: single use, for
    ``STAFF_INVITATION_TTL``. Only the code's SHA-256 is stored; the code is shown once, to
    the owner, who passes it to the person (who accepts it while logged in)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=MerchantStaff.Role.choices)
    code_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            # Accepted means by someone, and only then.
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True, accepted_by__isnull=True)
                | Q(accepted_at__isnull=False, accepted_by__isnull=False),
                name="staff_invitation_accepted_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} invitation to {self.merchant_id}"


class DepositMovement(models.Model):
    """The audit trail of a merchant's margin deposit: one row per movement, with who
    and why. The money itself moves in the ledger (``ledger_key``); this row says what
    it meant. ``amount_fen`` is signed: + into the deposit, − out of it."""

    class Kind(models.TextChoices):
        PAID = "paid", "Paid in"
        DEDUCTED = "deducted", "Deducted for a violation"
        REFUND = "refund", "Refunded on exit"
        REFUND_RETURNED = "refund_returned", "Refund failed, returned to the deposit"
        # A buyer's refund the platform advanced because the merchant's funds at the gateway
        # were short (垫付退款, profit sharing): it comes out of the deposit.
        ADVANCE_REFUND = "advance_refund", "Charged for a refund the platform advanced"

    class Reason(models.TextChoices):
        LATE_SHIPMENT = "late_shipment", "Late shipment"
        OUT_OF_STOCK = "out_of_stock", "Sold out of stock (order not fulfilled)"
        FAKE_TRACKING = "fake_tracking", "Fake tracking number"
        COUNTERFEIT = "counterfeit", "Counterfeit or unlicensed goods"
        MISDESCRIBED = "misdescribed", "Goods not as described"
        AFTER_SALES_REFUSED = "after_sales_refused", "Refused a due after-sales request"
        OTHER_VIOLATION = "other_violation", "Other rule violation"
        # Not violations: why money came in or went back.
        TOP_UP = "top_up", "Deposit payment"
        EXIT = "exit", "Merchant left"
        GATEWAY_REFUSED = "gateway_refused", "The payment gateway refused the refund"

    VIOLATIONS: ClassVar[tuple[str, ...]] = (
        Reason.LATE_SHIPMENT,
        Reason.OUT_OF_STOCK,
        Reason.FAKE_TRACKING,
        Reason.COUNTERFEIT,
        Reason.MISDESCRIBED,
        Reason.AFTER_SALES_REFUSED,
        Reason.OTHER_VIOLATION,
    )

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="deposit_movements")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount_fen = models.BigIntegerField(help_text="+ into the deposit, − out of it.")
    balance_after_fen = models.BigIntegerField()
    reason_code = models.CharField(max_length=32, choices=Reason.choices)
    note = models.CharField(max_length=500, blank=True, help_text="What happened; the merchant sees it.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who did it; empty when the system did (a payment, a sweeper).",
    )
    payment = models.ForeignKey(
        "payments.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The shopper compensated from this deduction, if any.",
    )
    compensation_fen = models.BigIntegerField(default=0)
    order_ref = models.BigIntegerField(null=True, blank=True, help_text="The order the violation concerns.")
    ledger_key = models.CharField(
        max_length=200,
        blank=True,
        help_text=(
            "The ledger transaction's key. A refund on exit has none of its own: each of its "
            "payments' refunds (purpose deposit_refund, ref_id = this row) posts refund:<id>:requested."
        ),
    )
    suspended_products_count = models.PositiveIntegerField(default=0)
    restored_products_count = models.PositiveIntegerField(default=0)
    request_key = models.CharField(
        max_length=64, null=True, blank=True, unique=True, help_text="Stops a double-submitted form."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["merchant", "-id"], name="deposit_movement_merchant_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(compensation_fen__gte=0), name="deposit_movement_compensation_gte_0"
            ),
            # One "paid in" movement per deposit payment, whatever retries happen.
            models.UniqueConstraint(
                fields=["payment"], condition=Q(kind="paid"), name="deposit_movement_one_per_payment"
            ),
            models.CheckConstraint(condition=~Q(amount_fen=0), name="deposit_movement_amount_not_0"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_fen:+d} fen ({self.merchant_id})"


class StockUpload(models.Model):
    """The audit trail of bulk stock uploads (API and admin), with every bad row."""

    class Status(models.TextChoices):
        APPLIED = "applied", "Applied"
        CHECKED = "checked", "Checked only (dry run)"
        REJECTED = "rejected", "Rejected (file unusable)"

    class Via(models.TextChoices):
        API = "api", "Merchant console"
        ADMIN = "admin", "Ops (admin)"

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="stock_uploads")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    via = models.CharField(max_length=8, choices=Via.choices, default=Via.API)
    filename = models.CharField(max_length=255)
    file_format = models.CharField(max_length=8, blank=True)
    encoding = models.CharField(max_length=16, blank=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices)
    rows = models.PositiveIntegerField(default=0, help_text="Data rows read (blank lines not counted).")
    applied = models.PositiveIntegerField(default=0, help_text="Good rows written (0 on a dry run).")
    valid = models.PositiveIntegerField(default=0, help_text="Good rows (what a dry run would write).")
    changed = models.PositiveIntegerField(default=0, help_text="SKUs whose on-hand stock actually changed.")
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first bad rows: line, code, reason.")
    rejection_code = models.CharField(max_length=32, blank=True)
    rejection_reason = models.CharField(max_length=255, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["merchant", "-id"], name="stock_upload_merchant_idx")]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"
