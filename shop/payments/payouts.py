"""Payouts: money sent out through a gateway transfer, for any purpose (docs/design.md "Wallet withdrawal").

The flow, and who owns what:
1. The purpose (``rebates``' wallet withdrawal) holds the money and records the ``Payout``
   with ``payout_create`` in its own transaction.
2. ``payout_send`` calls ``gateway.transfer`` **after** that commit, never under a lock,
   and applies the answer in a new short transaction. A send that fails in transit leaves
   the payout ``created``: the sweeper sends it again with the same ``out_bill_no``, which
   the gateway pays at most once.
3. ``payout_apply`` applies what the gateway says (the transfer answer, a verified
   callback, a query) exactly once: final payouts ignore later news, so duplicate
   callbacks change nothing. On every change the purpose's handler runs in the same
   transaction; on success this module also posts the money out of the payee's payout
   clearing account to the gateway (the purpose moved it there from where it was held).
4. The sweeper polls payouts in flight and ends those past their confirmation window.
5. Ops retry from admin (``payout_retry``): a payout never accepted is sent again with the
   same number; a final failed one is handed to the purpose, which makes a new payout
   with a new number (the old one is final, so nothing can be paid twice).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone

from shop.errors import ApplicationError, NotFound
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post
from shop.queues import BACKGROUND, ROUTINE
from shop.registry import Registry

from .errors import PayoutNotRetryable
from .gateways.base import GatewayError
from .gateways.registry import gateway_get
from .models import Payout

logger = logging.getLogger("shop.payments.payouts")

# WeChat's transfer states, and ours.
_STATE_MAP = {
    "SUCCESS": Payout.State.SUCCEEDED,
    "FAIL": Payout.State.FAILED,
    "CANCELLED": Payout.State.CANCELLED,
    "WAIT_USER_CONFIRM": Payout.State.WAIT_USER_CONFIRM,
    "ACCEPTED": Payout.State.PROCESSING,
    "PROCESSING": Payout.State.PROCESSING,
    "TRANSFERING": Payout.State.PROCESSING,
    "CANCELING": Payout.State.PROCESSING,
}
IN_FLIGHT = (Payout.State.CREATED, Payout.State.WAIT_USER_CONFIRM, Payout.State.PROCESSING)
# A created payout is normally sent by the request that made it; the sweeper resends
# what is still unsent after this long, and polls what is in flight this often.
RESEND_AFTER = timedelta(minutes=1)
POLL_EVERY = timedelta(minutes=10)
SWEEP_LIMIT = 200


# --- The purpose registry (like payments' ``register_purpose``) ------------------------


@dataclass(frozen=True)
class PayoutPurpose:
    on_changed: Callable[[Payout], None]
    """Runs in the transaction that changed the payout's state (success, failure, waiting)."""
    retry: Callable[[Payout, object], Payout]
    """Makes a new payout for a final failed one (``(payout, actor) -> new payout``)."""


PAYOUT_PURPOSES: Registry[PayoutPurpose] = Registry("payout purpose")


def register_payout_purpose(
    *, purpose: str, on_changed: Callable[[Payout], None], retry: Callable[[Payout, object], Payout]
) -> None:
    PAYOUT_PURPOSES.register(purpose, PayoutPurpose(on_changed=on_changed, retry=retry))


def _purpose(name: str) -> PayoutPurpose:
    return PAYOUT_PURPOSES.get(name)


def payout_clearing(payee_id: int) -> AccountRef:
    """Where a purpose puts a payout's money once the gateway has paid it."""
    return AccountRef.user(Account.Kind.PAYOUT_CLEARING, payee_id)


# --- Services ---------------------------------------------------------------------------


def _new_out_bill_no() -> str:
    # Letters and digits, at most 32 (WeChat's rule); the time prefix keeps it sortable.
    return "PO" + timezone.now().strftime("%y%m%d%H%M%S") + secrets.token_hex(8)


def payout_create(*, purpose: str, ref_id: int, payee_id: int, amount_fen: int, gateway: str) -> Payout:
    """Record a payout to send. The caller creates it in its own transaction, with the money held."""
    _purpose(purpose)
    gateway_get(gateway)  # an unknown or disabled gateway fails before anything is written
    return Payout.objects.create(
        purpose=purpose,
        ref_id=ref_id,
        payee_id=payee_id,
        amount_fen=amount_fen,
        gateway=gateway,
        out_bill_no=_new_out_bill_no(),
    )


def payout_send(*, payout_id: int, remark: str = "钱包提现", now: datetime | None = None) -> Payout:
    """Ask the gateway to transfer one created payout and apply its answer.

    Never call it inside a transaction (no lock is held across the gateway call). Safe to
    repeat and to race: only a ``created`` payout is sent, with its own ``out_bill_no``.
    A refusal (4xx) fails it, which returns the money; trouble in transit leaves it
    ``created`` for the sweeper.
    """
    now = now or timezone.now()
    payout = Payout.objects.select_related("payee").get(pk=payout_id)
    if payout.state != Payout.State.CREATED:
        return payout
    Payout.objects.filter(pk=payout.pk).update(attempts=F("attempts") + 1)
    openid = payout.payee.openid
    if not openid:
        return payout_apply(
            out_bill_no=payout.out_bill_no, state="FAIL", fail_reason="no WeChat openid", now=now
        )
    try:
        answer = gateway_get(payout.gateway).transfer(
            out_bill_no=payout.out_bill_no, openid=openid, amount_fen=payout.amount_fen, remark=remark
        )
    except GatewayError as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
            reason = f"{exc.wechat_code or exc.status}: {exc.message}"
            return payout_apply(out_bill_no=payout.out_bill_no, state="FAIL", fail_reason=reason, now=now)
        Payout.objects.filter(pk=payout.pk).update(last_error=exc.message[:255])
        logger.warning("payout %s not sent yet: %s", payout.out_bill_no, exc.message)
        return payout
    except ApplicationError as exc:  # the gateway refused before calling (e.g. amount too large)
        return payout_apply(out_bill_no=payout.out_bill_no, state="FAIL", fail_reason=exc.message, now=now)
    return payout_apply(
        out_bill_no=payout.out_bill_no,
        state=str(answer.get("state", "")),
        transfer_bill_no=str(answer.get("transfer_bill_no", "")),
        package_info=str(answer.get("package_info", "")),
        now=now,
        sent=True,
    )


@transaction.atomic
def payout_apply(
    *,
    out_bill_no: str,
    state: str,
    transfer_bill_no: str = "",
    package_info: str = "",
    fail_reason: str = "",
    amount_fen: int | None = None,
    gateway: str | None = None,
    now: datetime | None = None,
    sent: bool = False,
) -> Payout:
    """Apply what the gateway says of a payout, exactly once (lock, then decide).

    Final payouts ignore later news (a duplicate callback is a no-op). An amount that is
    not ours is logged and ignored. Success posts the money out (``payout:<id>:out``);
    every change runs the purpose's handler in this transaction.
    """
    now = now or timezone.now()
    rows = Payout.objects.select_for_update(no_key=True, of=("self",)).filter(out_bill_no=out_bill_no)
    if gateway is not None:
        rows = rows.filter(gateway=gateway)
    payout = rows.first()
    if payout is None:
        raise NotFound("No such payout.", out_bill_no=out_bill_no)
    to = _STATE_MAP.get(state.upper())
    if to is None:
        logger.error("payout %s: unknown gateway state %r", out_bill_no, state)
        return payout
    if payout.is_final:
        if to != payout.state:
            logger.error("payout %s is %s; the gateway now says %s", out_bill_no, payout.state, state)
        return payout
    if amount_fen is not None and amount_fen != payout.amount_fen:
        logger.error(
            "payout %s: gateway reports %s fen, we sent %s", out_bill_no, amount_fen, payout.amount_fen
        )
        return payout

    fields = ["state", "updated_at"]
    if sent and payout.sent_at is None:
        payout.sent_at = now
        payout.expires_at = now + settings.SHOP_RULES["PAYOUT_CONFIRM_TTL"]
        fields += ["sent_at", "expires_at"]
    if transfer_bill_no:
        payout.transfer_bill_no = transfer_bill_no
        fields.append("transfer_bill_no")
    if package_info:
        payout.package_info = package_info[:1024]
        fields.append("package_info")
    if to in Payout.FINAL:
        payout.finished_at = now
        payout.fail_reason = fail_reason[:255]
        fields += ["finished_at", "fail_reason"]
    if to == payout.state and len(fields) == 2:
        return payout
    payout.state = to
    payout.save(update_fields=fields)
    _purpose(payout.purpose).on_changed(payout)
    if to == Payout.State.SUCCEEDED:
        ledger_post(
            key=f"payout:{payout.pk}:out",
            kind="payout_sent",
            lines=[
                (payout_clearing(payout.payee_id), -payout.amount_fen),
                (AccountRef.platform(Account.Kind.GATEWAY_CLEARING), payout.amount_fen),
            ],
            memo=f"Payout {payout.out_bill_no}",
            ref_type="payout",
            ref_id=payout.pk,
        )
    return payout


def payout_poll(*, payout_id: int, now: datetime | None = None) -> Payout:
    """Bring one payout up to date: send it if still unsent, ask the gateway if in flight,
    and end it once its confirmation window has passed and the gateway knows of no
    payment. Outside any transaction; safe to repeat."""
    now = now or timezone.now()
    payout = Payout.objects.get(pk=payout_id)
    if payout.is_final:
        return payout
    try:
        known = gateway_get(payout.gateway).query_transfer(payout.out_bill_no)
    except GatewayError as exc:
        logger.warning("payout %s: query failed: %s", payout.out_bill_no, exc.message)
        return payout
    except ApplicationError as exc:
        logger.error("payout %s cannot be polled: %s", payout.out_bill_no, exc.message)
        return payout
    if known is not None and known.get("state"):
        payout = payout_apply(
            out_bill_no=payout.out_bill_no,
            state=known["state"],
            transfer_bill_no=known.get("transfer_bill_no", ""),
            fail_reason=known.get("fail_reason", ""),
            now=now,
        )
        Payout.objects.filter(pk=payout.pk).update(updated_at=now)
        if payout.is_final:
            return payout
    deadline = payout.expires_at or (payout.created_at + settings.SHOP_RULES["PAYOUT_CONFIRM_TTL"])
    if now >= deadline and known is None:
        # Past the window and unknown to the gateway: it can no longer be paid. (One the
        # gateway still shows as waiting is left to it: WeChat cancels it itself.)
        return payout_apply(out_bill_no=payout.out_bill_no, state="CANCELLED", fail_reason="expired", now=now)
    if payout.state == Payout.State.CREATED and known is None:
        return payout_send(payout_id=payout.pk, now=now)
    Payout.objects.filter(pk=payout.pk).update(updated_at=now)
    return payout


def payout_retry(*, payout_id: int, actor=None) -> Payout:
    """Ops retry: an unsent payout is sent again (same number, after commit); a failed or
    cancelled one goes to its purpose for a new payout with a new number. In flight or
    paid: 409."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update(no_key=True, of=("self",)).get(pk=payout_id)
        if payout.state == Payout.State.CREATED:
            transaction.on_commit(partial(payout_send_task.delay, payout.pk))
            return payout
        if payout.state in (Payout.State.FAILED, Payout.State.CANCELLED):
            new = _purpose(payout.purpose).retry(payout, actor)
            transaction.on_commit(partial(payout_send_task.delay, new.pk))
            return new
    if payout.state == Payout.State.SUCCEEDED:
        raise PayoutNotRetryable("This payout was paid.")
    raise PayoutNotRetryable("This payout is still in flight: wait until the gateway finishes it.")


def payouts_sweep(now: datetime) -> int:
    """Sweeper: fan out one poll per payout that is unsent for a while, due for a poll, or
    past its window. Re-derived from the database, so it is safe at any time."""
    due = (
        Payout.objects.filter(state__in=IN_FLIGHT)
        .filter(
            Q(state=Payout.State.CREATED, created_at__lte=now - RESEND_AFTER)
            | Q(updated_at__lte=now - POLL_EVERY)
            | Q(expires_at__lte=now)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    ids = list(due)
    for payout_id in ids:
        payout_poll_task.delay(payout_id, now.isoformat())
    return len(ids)


# --- Tasks (thin) -----------------------------------------------------------------------

_TASK_OPTIONS = {
    "acks_late": True,  # a lost message would leave money held: redeliver instead
    "reject_on_worker_lost": True,  # bounded work (one payout)
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 10,
}


@shared_task(**_TASK_OPTIONS, workload="payments", queue_priority=ROUTINE)
def payout_send_task(payout_id: int) -> None:
    """Send one payout (idempotent; see ``payout_send``)."""
    payout_send(payout_id=int(payout_id))


@shared_task(**_TASK_OPTIONS, workload="payments", queue_priority=BACKGROUND)
def payout_poll_task(payout_id: int, now_iso: str | None = None) -> None:
    """Poll one payout (idempotent; see ``payout_poll``)."""
    now = datetime.fromisoformat(now_iso) if now_iso else None
    payout_poll(payout_id=int(payout_id), now=now)
