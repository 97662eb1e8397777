"""Double-entry ledger: accounts, balanced transactions, cached balances.

Sign convention: an entry's ``amount_fen`` adds to its account's balance, and the
entries of one transaction sum to zero. Accounts that hold what the platform owes
someone (wallets, merchant receivables, deposits) are positive when money is owed
to them; the ``gateway_clearing`` account goes negative by what came in from outside
and ``marketing_budget`` by what the platform spent on coupons and envelopes.
``refund_clearing`` holds what is owed back to payers until the gateway confirms the
refund: a refund that failed stays there, which is ops' queue (payments admin).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from shop.models import BaseModel


class Account(BaseModel):
    class Kind(models.TextChoices):
        USER_AVAILABLE = "user_available", "Wallet (available)"
        USER_PENDING = "user_pending", "Wallet (pending settlement)"
        USER_HELD = "user_held", "Wallet (held for a payout)"
        MERCHANT_RECEIVABLE = "merchant_receivable", "Merchant receivable (not yet settled)"
        MERCHANT_PAYABLE = "merchant_payable", "Merchant payable (owed to the merchant)"
        MERCHANT_DEPOSIT = "merchant_deposit", "Merchant margin deposit"
        # The merchant's funds frozen at the gateway (profit sharing, docs/merchant-money.md):
        # signed like gateway_clearing, money there is negative. Every posting on it has
        # ref_type "order"; rebates' statements read its entries.
        MERCHANT_FROZEN = "merchant_frozen", "Merchant funds frozen at the gateway"
        # Money a shared payment's anomaly put into a merchant's frozen funds at the gateway,
        # until its automatic refund takes it out (shop/payments/parts_anomalies.py): signed
        # like merchant_frozen. Apart from merchant_frozen, which statements read as the
        # merchant's own money; the platform's one holds a sub_mchid we do not know.
        MERCHANT_ANOMALY = "merchant_anomaly", "Merchant funds at the gateway from a payment anomaly"
        PLATFORM_REVENUE = "platform_revenue", "Platform revenue"
        PLATFORM_PENDING = "platform_pending", "Platform commission (pending settlement)"
        MARKETING_BUDGET = "marketing_budget", "Marketing budget"
        GATEWAY_CLEARING = "gateway_clearing", "Payment gateway clearing"
        PAYOUT_CLEARING = "payout_clearing", "Payouts in flight"
        REFUND_CLEARING = "refund_clearing", "Refunds owed back to payers (not yet sent)"
        # One per group store (owner_type "store", owner_id = store id): what is still
        # unclaimed of the store's red envelopes (each envelope's remaining_fen is its part).
        # Funding adds to it, claims take from it, expiry returns an envelope's rest to
        # where it came from. (Before 2026-12 there was one per envelope, owner_type
        # "envelope"; rebates' migration 0003 folded those into their stores' pools.)
        RED_ENVELOPE_POOL = "red_envelope_pool", "Red envelopes (unclaimed)"
        # WeChat's handling fees on platform payments (the platform's cost; a merchant's fee on
        # its shared payment leaves its own frozen funds): negative by what was spent, like
        # marketing_budget. Booked from the trade bill (shop.payments GatewayFee).
        GATEWAY_FEES = "gateway_fees", "Gateway handling fees (platform's cost)"
        # One per coupon campaign (owner_type "coupon_campaign", owner_id = campaign id): what
        # its launch reserved from marketing_budget and its paid coupons have not yet used.
        COUPON_CAMPAIGN = "coupon_campaign", "Coupon campaign reserve"

    class OwnerType(models.TextChoices):
        USER = "user", "User"
        MERCHANT = "merchant", "Merchant"
        PLATFORM = "platform", "Platform"
        STORE = "store", "Group store"
        ENVELOPE = "envelope", "Red envelope (before 2026-12; now empty)"
        COUPON_CAMPAIGN = "coupon_campaign", "Coupon campaign"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    owner_type = models.CharField(max_length=16, choices=OwnerType.choices)
    owner_id = models.BigIntegerField(default=0, help_text="User, merchant or store id; 0 for the platform.")
    balance_fen = models.BigIntegerField(
        default=0, help_text="Cached sum of entries; changed only by ledger_post."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "owner_type", "owner_id"], name="ledger_account_unique"),
            # Money held for a payout can never be negative.
            models.CheckConstraint(
                condition=~Q(kind="user_held") | Q(balance_fen__gte=0), name="ledger_held_balance_gte_0"
            ),
            # A store's envelopes can never hand out more than was put in them.
            models.CheckConstraint(
                condition=~Q(kind="red_envelope_pool") | Q(balance_fen__gte=0),
                name="ledger_envelope_pool_gte_0",
            ),
            # A coupon campaign can never pay out more than its launch reserved.
            models.CheckConstraint(
                condition=~Q(kind="coupon_campaign") | Q(balance_fen__gte=0),
                name="ledger_coupon_campaign_gte_0",
            ),
        ]

    def __str__(self) -> str:
        owner = (
            "platform" if self.owner_type == self.OwnerType.PLATFORM else f"{self.owner_type} {self.owner_id}"
        )
        return f"{self.get_kind_display()} — {owner}"


class MerchantBalance(Account):
    """What the platform owes each merchant (``merchant_payable``) and what is still
    waiting for completion (``merchant_receivable``): a read-only view for ops."""

    class Meta:
        proxy = True
        verbose_name = "merchant balance"


class Transaction(models.Model):
    """One balanced movement of money; ``idempotency_key`` makes a retried post a no-op."""

    # Unique by a constraint, not ``unique=True``: on PostgreSQL the field option adds a
    # second (``varchar_pattern_ops``) index for LIKE that no query uses, and every
    # settlement writes ~1,000 transactions a second. Same for ``kind``'s index.
    idempotency_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=40)
    memo = models.CharField(max_length=255, blank=True)
    ref_type = models.CharField(max_length=32, blank=True, help_text="What it came from: order, envelope, …")
    ref_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="ledger_tx_key_unique")]
        indexes = [
            models.Index(fields=["ref_type", "ref_id"], name="ledger_tx_ref_idx"),
            models.Index(fields=["kind"], name="ledger_tx_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} ({self.idempotency_key})"


class Entry(models.Model):
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries")
    # No index of its own: ``ledger_entry_account_idx`` (account, -id) leads with it.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries", db_index=False)
    amount_fen = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["account", "-id"], name="ledger_entry_account_idx")]
        verbose_name_plural = "entries"

    def __str__(self) -> str:
        return f"{self.account_id}: {self.amount_fen:+d}"
