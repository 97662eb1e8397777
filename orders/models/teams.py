"""Team purchase (拼团, docs/design.md "Team purchase")."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from shop.models import BaseModel


class Team(BaseModel):
    """A team of ``size`` buyers of one SKU at its team price.

    ``members_count`` counts held slots (orders not cancelled: unpaid or paid), so a slot
    is taken when the order is created and given back when an unpaid order is cancelled
    or times out; ``paid_count`` counts members who paid. The team succeeds when
    ``paid_count`` reaches ``size`` and fails when ``expires_at`` passes first. The check
    constraints are the backstop of the conditional updates in ``orders/services/teams``:
    never more members than seats, whatever the concurrency. Members are only ever real
    orders (no "virtual" members): nothing else creates a ``TeamMember``.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open (gathering members)"
        SUCCEEDED = "succeeded", "Succeeded (all paid, orders to ship)"
        FAILED = "failed", "Failed (window closed, paid orders refunded)"

    sku = models.ForeignKey("products.Sku", on_delete=models.PROTECT, related_name="teams")
    store = models.ForeignKey(
        "groupstore.Store", on_delete=models.PROTECT, related_name="teams", help_text="Opened through."
    )
    leader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="teams_led")
    size = models.PositiveSmallIntegerField()
    members_count = models.PositiveSmallIntegerField(default=0)
    paid_count = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    new_customers_only = models.BooleanField(
        default=False, help_text="老带新: only shoppers with no earlier paid order may join."
    )
    expires_at = models.DateTimeField()
    succeeded_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(members_count__lte=F("size")), name="team_members_lte_size"),
            models.CheckConstraint(
                condition=Q(paid_count__lte=F("members_count")), name="team_paid_lte_members"
            ),
            models.CheckConstraint(condition=Q(size__gte=2) & Q(size__lte=10), name="team_size_2_to_10"),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="team_status_expires_idx")]

    def __str__(self) -> str:
        return f"Team {self.pk} ({self.members_count}/{self.size}, {self.status})"


class TeamMember(models.Model):
    """One order's seat in a team. At most one live seat per buyer and team (a released
    seat — its order cancelled unpaid — stays as history and lets the buyer come back)."""

    class Status(models.TextChoices):
        HELD = "held", "Held (order unpaid)"
        PAID = "paid", "Paid"
        RELEASED = "released", "Released (order cancelled)"

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="members")
    order = models.OneToOneField("orders.Order", on_delete=models.PROTECT, related_name="team_member")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    is_leader = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    joined_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "buyer"],
                condition=~Q(status="released"),
                name="teammember_one_live_seat_per_buyer",
            )
        ]

    def __str__(self) -> str:
        return f"{self.buyer_id} in team {self.team_id} ({self.status})"
