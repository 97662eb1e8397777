"""What a settlement batch tells the people it paid (docs/subscribe-messages.md).

Settlement itself writes nothing per person beyond money (issue 6: it must stay a fixed
number of queries per batch), so the notices go out afterwards: once a batch commits,
``settlement_run_notify_task`` runs this for its ``SettlementRun``:

- ``rebate_settled``: each beneficiary (member rebate, owner commission) of each settled
  order, with the net amount now in their wallet — net of what was cancelled before
  settlement and of what a refund clawed back between the batch and this notice;
- ``envelope_waiting``: each member of a store who may claim an envelope the batch funded
  (joined before it was funded), at most once per store and day (Asia/Shanghai): a busy
  store funds many envelopes a day, and one nudge is enough.

Both go through ``notification_send`` with a dedupe key, so a task run twice tells nobody
twice; the subscribe message follows where the user has a subscription left.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.db.models import F, Sum

from groupstore.models import Membership
from rebates.models import Accrual, OrderSettlement, RedEnvelope
from shop.money import fen_display
from shop.notifications.models import Notification
from shop.notifications.services import notification_send

SHANGHAI = ZoneInfo("Asia/Shanghai")


def settlement_run_notify(*, run_id: int) -> int:
    """Tell the payees of one settlement run; returns how many notices were sent."""
    order_ids = list(OrderSettlement.objects.filter(run_id=run_id).values_list("order_id", flat=True))
    if not order_ids:
        return 0
    return _rebates_settled(order_ids) + _envelopes_waiting(order_ids)


def _rebates_settled(order_ids: list[int]) -> int:
    rows = (
        Accrual.objects.filter(
            order_id__in=order_ids, status=Accrual.Status.SETTLED, beneficiary__isnull=False
        )
        .values("order_id", "beneficiary_id")
        .annotate(net_fen=Sum(F("amount_fen") - F("cancelled_fen") - F("clawed_back_fen")))
        .order_by("order_id", "beneficiary_id")
    )
    sent = 0
    for row in rows:
        if row["net_fen"] <= 0:
            continue
        amount = fen_display(row["net_fen"])
        notification_send(
            recipient_id=row["beneficiary_id"],
            kind="rebate_settled",
            title="返利已到账",
            body=f"订单 {row['order_id']} 的返利 {amount} 已到钱包，可提现",
            data={
                "order_id": row["order_id"],
                "amount_fen": row["net_fen"],
                "amount": amount.lstrip("¥") + "元",
            },
            dedupe_key=f"rebate-settled:{row['order_id']}:{row['beneficiary_id']}",
        )
        sent += 1
    return sent


def _envelopes_waiting(order_ids: list[int]) -> int:
    """One nudge per member, store and day: the run's envelopes are taken per store and day
    (the latest funded names them all), and the members already told that day are read in
    chunks of ``CHUNK`` by their dedupe keys — so a store's later runs that day cost a few
    reads, not a notice attempt per member per envelope (72 statements an order at 50
    members a store, 222 at 200, bench/order_costs.py)."""
    latest: dict[tuple[int, str], RedEnvelope] = {}
    envelopes = RedEnvelope.objects.filter(order_id__in=order_ids, status=RedEnvelope.Status.OPEN)
    for envelope in envelopes.select_related("store").order_by("funded_at", "pk"):
        latest[(envelope.store_id, envelope.funded_at.astimezone(SHANGHAI).date().isoformat())] = envelope
    sent = 0
    for (store_id, day), envelope in latest.items():
        members = (
            Membership.objects.filter(store_id=store_id, joined_at__lt=envelope.funded_at)
            .order_by("pk")
            .values_list("user_id", flat=True)
        )
        chunk: list[int] = []
        for user_id in members.iterator(chunk_size=CHUNK):
            chunk.append(user_id)
            if len(chunk) == CHUNK:
                sent += _tell_members(envelope, day, chunk)
                chunk = []
        sent += _tell_members(envelope, day, chunk)
    return sent


CHUNK = 500


def _tell_members(envelope: RedEnvelope, day: str, user_ids: list[int]) -> int:
    if not user_ids:
        return 0
    keys = {user_id: f"envelope-waiting:{envelope.store_id}:{user_id}:{day}" for user_id in user_ids}
    told = set(Notification.objects.filter(dedupe_key__in=keys.values()).values_list("dedupe_key", flat=True))
    sent = 0
    for user_id, key in keys.items():
        if key in told:
            continue
        notification_send(
            recipient_id=user_id,
            kind="envelope_waiting",
            title="群红包待领取",
            body=f"{envelope.store.name} 有红包待领取",
            data={
                "store_id": envelope.store_id,
                "store_name": envelope.store.name,
                "envelope_id": envelope.pk,
            },
            dedupe_key=key,
        )
        sent += 1
    return sent
