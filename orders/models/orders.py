"""Orders and their items (with price and commission snapshots), and the event trail."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from shop.models import BaseModel


class Order(BaseModel):
    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", "Awaiting payment"
        AWAITING_TEAM = "awaiting_team", "Paid, waiting for the team"
        PAID = "paid", "Paid, to ship"
        SHIPPED = "shipped", "Shipped"
        RECEIVED = "received", "Received (after-sales window open)"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"

    # The only moves a service may make; anything else is a race or a bug.
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.PENDING_PAYMENT: frozenset({Status.PAID, Status.AWAITING_TEAM, Status.CANCELLED}),
        Status.AWAITING_TEAM: frozenset({Status.PAID, Status.REFUNDED}),
        Status.PAID: frozenset({Status.SHIPPED, Status.REFUNDED}),
        Status.SHIPPED: frozenset({Status.RECEIVED, Status.REFUNDED}),
        Status.RECEIVED: frozenset({Status.COMPLETED, Status.REFUNDED}),
        Status.COMPLETED: frozenset({Status.REFUNDED}),
    }

    # buyer, merchant and status are indexed only as the first columns of the composite
    # indexes below: a single-column index of each cost every order insert for nothing.
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    store = models.ForeignKey("groupstore.Store", on_delete=models.PROTECT, related_name="orders")
    payment = models.ForeignKey("payments.Payment", on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_PAYMENT)
    is_self_purchase = models.BooleanField(
        default=False, help_text="Bought by the store's owner: no owner commission."
    )

    list_fen = models.BigIntegerField(help_text="List price × quantity, summed.")
    sale_fen = models.BigIntegerField(help_text="After price kind (team/flash), before coupons.")
    coupon_fen = models.BigIntegerField(default=0, help_text="Coupon share, funded by the marketing budget.")
    paid_fen = models.BigIntegerField(help_text="What the buyer pays: sale − coupon.")
    refunded_fen = models.BigIntegerField(default=0)

    address = models.JSONField(
        help_text="name, phone, region, detail: for the merchant only. Empty for a pickup order."
    )
    pickup_point = models.ForeignKey(
        "groupstore.PickupPoint",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        db_index=False,  # the partial index below: ordinary orders pay no index entry
        help_text="Shipped to this leader's pickup point instead of a home address.",
    )
    carrier = models.CharField(max_length=40, blank=True)
    tracking_no = models.CharField(max_length=64, blank=True)
    invoice_no = models.CharField(max_length=64, blank=True)

    pay_deadline_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    after_sales_closes_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(paid_fen__gte=0), name="order_paid_fen_gte_0"),
            models.CheckConstraint(condition=Q(coupon_fen__gte=0), name="order_coupon_fen_gte_0"),
            models.CheckConstraint(
                condition=Q(refunded_fen__lte=models.F("paid_fen")), name="order_refund_lte_paid"
            ),
        ]
        indexes = [
            models.Index(fields=["buyer", "-id"], name="order_buyer_idx"),
            models.Index(fields=["merchant", "status", "-id"], name="order_merchant_status_idx"),
            models.Index(fields=["status", "pay_deadline_at"], name="order_status_deadline_idx"),
            models.Index(fields=["status", "shipped_at"], name="order_status_shipped_idx"),
            models.Index(fields=["status", "after_sales_closes_at"], name="order_status_as_close_idx"),
            models.Index(
                fields=["pickup_point", "-id"],
                condition=Q(pickup_point__isnull=False),
                name="order_pickup_point_idx",
            ),
            # The ops overview (orders/overview.py, rebates/overview.py; bench/ops_overview.py):
            # sales per day read the month's paid orders index-only (paid_fen carried), and the
            # settlement backlog reads the month's completed orders, not all of them (both
            # index-only: every column the query needs is in the index).
            models.Index(
                fields=["paid_at"],
                include=["paid_fen"],
                condition=Q(paid_at__isnull=False),
                name="order_paid_at_idx",
            ),
            models.Index(
                fields=["completed_at"],
                include=["id", "paid_fen", "refunded_fen"],
                condition=Q(status="completed"),
                name="order_completed_at_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.pk} ({self.get_status_display()})"

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, frozenset())


class OrderItem(models.Model):
    """One line, with everything that decides money snapshotted at creation."""

    class PriceKind(models.TextChoices):
        NORMAL = "normal", "Normal"
        TEAM = "team", "Team purchase"
        FLASH = "flash", "Flash price"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey("products.Sku", on_delete=models.PROTECT, related_name="+")
    product_title = models.CharField(max_length=120)
    spec = models.JSONField(default=dict)
    qty = models.PositiveIntegerField()
    price_kind = models.CharField(max_length=8, choices=PriceKind.choices, default=PriceKind.NORMAL)
    list_price_fen = models.BigIntegerField(help_text="Unit list price.")
    unit_price_fen = models.BigIntegerField(help_text="Unit price after price kind.")
    sale_fen = models.BigIntegerField(help_text="unit price × qty.")
    coupon_fen = models.BigIntegerField(default=0)
    paid_fen = models.BigIntegerField(help_text="sale − coupon.")
    refunded_fen = models.BigIntegerField(default=0)
    refunded_qty = models.PositiveIntegerField(
        default=0, help_text="Units refunded before shipping (their stock was released)."
    )
    commission_bps = models.PositiveIntegerField()
    flash_offer = models.ForeignKey(
        "orders.FlashOffer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="items",
        help_text="The flash offer whose cap and per-user limit this line counts against.",
    )
    member_share_bps = models.PositiveIntegerField()
    owner_share_bps = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(qty__gt=0), name="orderitem_qty_gt_0"),
            models.CheckConstraint(
                condition=Q(refunded_fen__lte=models.F("paid_fen")), name="orderitem_refund_lte_paid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.qty} × {self.product_title}"

    @property
    def discount_fen(self) -> int:
        """What the buyer saved on this line: list price minus what they paid."""
        return self.list_price_fen * self.qty - self.paid_fen


class OrderEvent(models.Model):
    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"
        SHIPPED = "shipped", "Shipped"
        RECEIVED = "received", "Received"
        COMPLETED = "completed", "Completed"
        INVOICED = "invoiced", "Invoice issued"
        REFUNDED = "refunded", "Refunded"
        PARTLY_REFUNDED = "partly_refunded", "Partly refunded"
        AFTER_SALE = "after_sale", "After-sales case"
        AWAITING_TEAM = "awaiting_team", "Paid, waiting for the team"
        ARRIVED = "arrived", "Parcel at the pickup point"
        COLLECTED = "collected", "Collected at the pickup point"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} on {self.order_id}"


class AfterSale(BaseModel):
    """A buyer's after-sales case on one order: refund only, or return and refund.

    The merchant approves or rejects; a return is approved first (the buyer sends the goods
    to ``return_address``) and refunded when it is back. A rejected buyer may take the case
    to ops (a dispute, which freezes the merchant's deposit), and ops rule either way. At
    most one open case per order; the order is not completed while one is open.

    Every open case waits for someone until a deadline (docs/design.md "After-sales never blocks
    forever"), applied by the ``after_sales_apply_deadlines`` sweeper: ``respond_by`` (the
    merchant answers, or the case is approved), ``return_by`` (the buyer posts the return,
    or the case closes), ``refund_by`` (the merchant refunds the posted return, or it is
    refunded); ``escalate_by`` is how long a rejected buyer may still ask ops.
    """

    class Kind(models.TextChoices):
        REFUND = "refund", "Refund only"
        RETURN_REFUND = "return_refund", "Return and refund"

    class Status(models.TextChoices):
        REQUESTED = "requested", "Waiting for the merchant"
        AWAITING_RETURN = "awaiting_return", "Approved: waiting for the buyer to send the goods back"
        RETURN_SHIPPED = "return_shipped", "Goods sent back: waiting for the merchant's refund"
        REJECTED = "rejected", "Rejected by the merchant"
        DISPUTED = "disputed", "Disputed: waiting for ops"
        REFUNDED = "refunded", "Refunded"
        CLOSED = "closed", "Closed without refund"

    OPEN: ClassVar[frozenset[str]] = frozenset(
        {Status.REQUESTED, Status.AWAITING_RETURN, Status.RETURN_SHIPPED, Status.DISPUTED}
    )
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.REQUESTED: frozenset(
            {Status.REFUNDED, Status.AWAITING_RETURN, Status.REJECTED, Status.CLOSED}
        ),
        # Ops may rule on any open case: hence refunded from awaiting_return, closed from return_shipped.
        Status.AWAITING_RETURN: frozenset({Status.RETURN_SHIPPED, Status.CLOSED, Status.REFUNDED}),
        Status.RETURN_SHIPPED: frozenset({Status.REFUNDED, Status.REJECTED, Status.CLOSED}),
        Status.REJECTED: frozenset({Status.DISPUTED, Status.CLOSED}),
        Status.DISPUTED: frozenset({Status.REFUNDED, Status.CLOSED}),
    }

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="after_sales")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="after_sales")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED, db_index=True)
    amount_fen = models.BigIntegerField(help_text="What the buyer asks back, within what they paid.")
    reason = models.CharField(max_length=255)
    merchant_note = models.CharField(max_length=255, blank=True)
    ops_note = models.CharField(max_length=255, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    refunded_fen = models.BigIntegerField(default=0)

    respond_by = models.DateTimeField(null=True, blank=True, help_text="The merchant answers by then.")
    return_address = models.JSONField(
        null=True, blank=True, help_text="Where the buyer sends the goods (the merchant's, at approval)."
    )
    return_by = models.DateTimeField(null=True, blank=True, help_text="The buyer posts the return by then.")
    return_carrier = models.CharField(max_length=40, blank=True)
    return_tracking_no = models.CharField(max_length=64, blank=True)
    return_shipped_at = models.DateTimeField(null=True, blank=True)
    refund_by = models.DateTimeField(
        null=True, blank=True, help_text="The merchant refunds the posted return by then."
    )
    escalate_by = models.DateTimeField(
        null=True, blank=True, help_text="A rejected buyer may ask ops until then."
    )
    warned_at = models.DateTimeField(
        null=True, blank=True, help_text="When the merchant was warned of its current deadline."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="aftersale_amount_gt_0"),
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status__in=["requested", "awaiting_return", "return_shipped", "disputed"]),
                name="aftersale_one_open_per_order",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "status", "-id"], name="aftersale_merchant_idx")]
        verbose_name = "after-sales case"

    def __str__(self) -> str:
        return f"After-sale {self.pk} on order {self.order_id} ({self.get_status_display()})"

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, frozenset())


class AfterSaleItem(models.Model):
    """One order item in a case, with the units and the part of the amount it carries."""

    after_sale = models.ForeignKey(AfterSale, on_delete=models.CASCADE, related_name="items")
    order_item = models.ForeignKey(OrderItem, on_delete=models.PROTECT, related_name="+")
    qty = models.PositiveIntegerField()
    amount_fen = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(qty__gt=0), name="aftersaleitem_qty_gt_0"),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="aftersaleitem_amount_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.qty} of item {self.order_item_id}"


class Pickup(models.Model):
    """The pickup side of an order shipped to a leader's point: the buyer's 6-digit code and
    where the parcel is. ``awaiting_parcel`` until the leader marks it arrived (``ready``),
    then ``collected`` when the leader redeems the code; ``closed`` when the order was
    cancelled before payment. The code is unique among the point's parcels not yet
    collected (the partial unique constraint), so a code names one parcel at the point."""

    class Status(models.TextChoices):
        AWAITING_PARCEL = "awaiting_parcel", "On its way to the point"
        READY = "ready", "At the point, waiting for the buyer"
        COLLECTED = "collected", "Collected"
        CLOSED = "closed", "Closed (order cancelled or refunded before shipping)"

    UNCOLLECTED: ClassVar[tuple[str, ...]] = (Status.AWAITING_PARCEL, Status.READY)

    order = models.OneToOneField(Order, on_delete=models.CASCADE, primary_key=True, related_name="pickup")
    point = models.ForeignKey("groupstore.PickupPoint", on_delete=models.PROTECT, related_name="pickups")
    code = models.CharField(max_length=6)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AWAITING_PARCEL)
    arrived_at = models.DateTimeField(null=True, blank=True)
    collected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["point", "code"],
                condition=Q(status__in=["awaiting_parcel", "ready"]),
                name="pickup_code_unique_uncollected",
            ),
        ]
        indexes = [
            models.Index(fields=["arrived_at"], condition=Q(status="ready"), name="pickup_ready_arrived_idx"),
        ]

    def __str__(self) -> str:
        return f"pickup of order {self.order_id}"


class PickupCodeAttempt(models.Model):
    """A wrong pickup code a leader typed: at most ``PICKUP_WRONG_CODES_PER_HOUR`` an hour
    (six digits must not be guessable at the counter)."""

    leader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["leader", "-at"], name="pickupattempt_leader_at_idx")]

    def __str__(self) -> str:
        return f"wrong pickup code by {self.leader_id}"
