"""Reconciliation with the gateway's bills (对账, docs/design.md "Merchant money").

Every day, from about 10:00 (Asia/Shanghai) when WeChat has made them, the sweeper fetches the
bills of the day before — one ``BillImport`` per gateway, kind, day and ``sub_mchid`` — streams
each into ``StagedBillLine`` by ``COPY`` in chunks (flat memory: neither the bill nor our side is
ever held in Python), and matches it with our rows in SQL (``shop.payments.sql``). Differences
become ``ReconciliationCase`` rows for ops, unique per gateway, bill kind, key and kind, so a
re-import changes nothing and a resolved case is never reopened. A bill not ready yet is tried
again later (``next_attempt_at``, backing off).

**What is matched is registered** (one ``Registry`` mechanism, as everywhere):

- ``register_bill_kind(kind=…, read=…, accounts=…, summed=…, after_match=…)``: how a line of
  that kind of bill is staged.
  ``read(line: BillLine) -> (key, amount_fen, state) | None`` gives our number on the line, its
  amount in fen and ``sql.DONE`` when the line says it succeeded (else the bill's own status,
  lower-case), or None for a line this kind does not match (a trade bill's refund lines: the
  refund bill has them). ``accounts()`` lists the ``sub_mchid`` s whose own bill of that kind is
  fetched (default ``[""]``: the platform's bill only; secondary merchants' fund flow lists theirs).
  ``summed``: lines of one key are added up before matching (a fund-flow bill may book one
  subsidy return in two lines, from frozen and from released funds). ``after_match(bill)``
  runs once the bill is matched (the trade bill books WeChat's handling fees: ``gateway_fees``).
- ``register_bill_matcher(name=…, bill_kind=…, ours=…, apply_missed=…)``: one kind of our
  records. ``ours(gateway, sub_mchid) -> QuerySet`` (``sub_mchid`` is the bill's account, ""
  for the platform's bill; a secondary merchant's bill is matched with that merchant's rows
  only) with the values ``our_key``, ``our_amount_fen``,
  ``our_state`` (``sql.DONE``, ``sql.PENDING`` while we wait for the gateway's word, or our own
  status) and ``our_at`` (when it became done: a day's rows are those done that day) — every row,
  any day: a line matches whenever its row was done. ``apply_missed(case) -> (resolution, note)``
  (optional) re-queries the gateway for a ``missing_ours``/``status_differs`` case and applies
  the result through the record's own exactly-once path, or raises ``CaseNotResolvable``.

Several matchers may share a bill kind (payment parts share the trade bill with payments):
a line is missing on our side only when none of them knows its key. The gateway steps that move
merchants' money (shares, share returns, subsidies, subsidy returns) are matched by
``reconcile_steps`` on the profit-sharing and the secondary merchants' fund-flow bills.

**Midnight.** A row done within ``MIDNIGHT_MARGIN`` of a day's boundary may be on the
neighbouring day's bill: it is missing from the gateway only if that bill lacks it too, and is
not raised until that bill is in. Whichever of the two days is imported second decides it.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Case, CharField, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from shop.audit.services import audit_record
from shop.db import copy_escape, rows_copy
from shop.registry import Registry

from . import sql
from .errors import BillImportBusy, CaseNotResolvable
from .gateways.base import GatewayError
from .gateways.bills import BillFormatError, BillLine
from .gateways.ecommerce import ecommerce_gateway_get, retry_later
from .gateways.registry import gateway_get
from .models import (
    BillImport,
    Payment,
    PaymentAnomaly,
    PaymentPart,
    ReconciliationCase,
    Refund,
    StagedBillLine,
)

logger = logging.getLogger("shop.payments.reconciliation")

SHANGHAI = ZoneInfo("Asia/Shanghai")  # WeChat's bills are Beijing days
BILLS_READY_AT = datetime.time(10, 0)  # WeChat makes a day's bills by about 10:00 the next day
LOOKBACK_DAYS = 3  # days the sweeper still fetches a bill that was not ready (WeChat keeps 3 months)
RETRY_FIRST = datetime.timedelta(minutes=15)  # not ready: try again in 15 min, 30, 60, then every 2 h
RETRY_MAX = datetime.timedelta(hours=2)
RUNNING_STALE_AFTER = datetime.timedelta(hours=1)  # a run this old died with its worker: take it over
MIDNIGHT_MARGIN = datetime.timedelta(minutes=10)
STAGED_KEPT_DAYS = 7  # staged lines of older bills are dropped (the midnight rule needs only a day)
PROGRESS_EVERY = 100_000  # lines between progress reports (the command prints them)

StagedLine = tuple[str, int, str]  # (key, amount_fen, state)
LineReader = Callable[[BillLine], "StagedLine | None"]
OursQuery = Callable[[str, str], QuerySet]
MissedApplier = Callable[[ReconciliationCase], tuple[str, str]]


@dataclass(frozen=True)
class BillKind:
    kind: str
    read: LineReader
    accounts: Callable[[], Iterable[str]]
    summed: bool = False
    after_match: Callable[[BillImport], object] | None = None


@dataclass(frozen=True)
class BillMatcher:
    name: str
    bill_kind: str
    ours: OursQuery
    apply_missed: MissedApplier | None = None


BILL_KINDS: Registry[BillKind] = Registry("bill kind")
BILL_MATCHERS: Registry[BillMatcher] = Registry("bill matcher")


def _platform_only() -> list[str]:
    return [""]


def register_bill_kind(
    *,
    kind: str,
    read: LineReader,
    accounts: Callable[[], Iterable[str]] = _platform_only,
    summed: bool = False,
    after_match: Callable[[BillImport], object] | None = None,
) -> None:
    BILL_KINDS.register(
        kind,
        BillKind(kind=kind, read=read, accounts=accounts, summed=summed, after_match=after_match),
    )


def register_bill_matcher(
    *, name: str, bill_kind: str, ours: OursQuery, apply_missed: MissedApplier | None = None
) -> None:
    BILL_MATCHERS.register(
        name, BillMatcher(name=name, bill_kind=bill_kind, ours=ours, apply_missed=apply_missed)
    )


def matchers_for(bill_kind: str) -> list[BillMatcher]:
    return [m for m in BILL_MATCHERS.values() if m.bill_kind == bill_kind]


def bill_source_get(gateway: str):
    """Where bills come from: the e-commerce gateway (outside our walls; tests put a fake here)."""
    return ecommerce_gateway_get(gateway)


# --- importing and matching a bill ------------------------------------------------------


def bill_import_get(*, gateway: str, kind: str, bill_date: datetime.date, sub_mchid: str = "") -> BillImport:
    BILL_KINDS.get(kind)  # an unknown kind fails before anything is written
    bill, _ = BillImport.objects.get_or_create(
        gateway=gateway, kind=kind, bill_date=bill_date, sub_mchid=sub_mchid
    )
    return bill


def bill_import_claim(*, import_id: int, now: datetime.datetime, due_only: bool = True) -> bool:
    """Take the import for one run (compare-and-set, so two sweeps never run one bill twice).
    ``due_only``: only a bill still to fetch whose retry time has come (the sweeper); else any
    bill not running now (ops re-importing with the command)."""
    startable = Q(status__in=[BillImport.Status.PENDING, BillImport.Status.WAITING]) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    if not due_only:
        startable = ~Q(status=BillImport.Status.RUNNING)
    stale = Q(status=BillImport.Status.RUNNING, started_at__lt=now - RUNNING_STALE_AFTER)
    return (
        BillImport.objects.filter(Q(pk=import_id) & (startable | stale)).update(
            status=BillImport.Status.RUNNING,
            started_at=now,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        == 1
    )


def bill_import_run(
    *, import_id: int, now: datetime.datetime | None = None, progress: Callable[[int], None] | None = None
) -> BillImport:
    """Fetch a claimed bill, stage it and match it. Not ready at the gateway: ``waiting`` with a
    later ``next_attempt_at``; a bill we cannot read: ``failed`` for ops. Runs outside any
    transaction (each ``COPY`` chunk commits; matching runs only once every line is staged, and
    a neighbour's lines count only once its import is ``done``), and holds no lock across the
    download. Running it again replaces the staged lines and adds no case twice."""
    now = now or timezone.now()
    bill = BillImport.objects.get(pk=import_id)
    try:
        lines = bill_source_get(bill.gateway).bill_download(
            bill.kind, bill.bill_date, sub_mchid=bill.sub_mchid or None
        )
        count = _stage(bill, lines, progress)
    except GatewayError as exc:
        if not retry_later(exc):
            return _ended(bill, status=BillImport.Status.FAILED, error=exc.message)
        delay = min(RETRY_FIRST * 2 ** max(bill.attempts - 1, 0), RETRY_MAX)
        logger.info("%s not ready (%s): again at %s", bill, exc.wechat_code, now + delay)
        return _ended(bill, status=BillImport.Status.WAITING, error=exc.message, next_attempt_at=now + delay)
    except BillFormatError as exc:
        logger.error("%s cannot be read: %s", bill, exc)
        return _ended(bill, status=BillImport.Status.FAILED, error=str(exc))
    bill.line_count = count
    case_count = _match(bill)
    bill = _ended(bill, status=BillImport.Status.DONE, error="", case_count=case_count, line_count=count)
    after_match = BILL_KINDS.get(bill.kind).after_match
    if after_match is not None:
        after_match(bill)  # its own transactions, idempotent: a re-run books nothing twice
    return bill


def _ended(bill: BillImport, *, status: str, error: str, next_attempt_at=None, **counts: int) -> BillImport:
    bill.status = status
    bill.last_error = error[:255]
    bill.next_attempt_at = next_attempt_at
    bill.finished_at = timezone.now() if status == BillImport.Status.DONE else bill.finished_at
    for name, value in counts.items():
        setattr(bill, name, value)
    bill.save(
        update_fields=[
            "status",
            "last_error",
            "next_attempt_at",
            "finished_at",
            "line_count",
            "case_count",
            "header",
            "updated_at",
        ]
    )
    return bill


def _stage(bill: BillImport, lines: Iterator[BillLine], progress: Callable[[int], None] | None) -> int:
    """Replace the import's staged lines with the bill's, in one streamed ``COPY`` (parsing
    overlaps the server's writing; nothing but the line at hand is held)."""
    counted = [0]
    # One transaction: a bill that fails half-way leaves the lines staged before in place. It
    # locks nothing but this import's own staged lines while the download streams.
    with transaction.atomic():
        StagedBillLine.objects.filter(bill_import=bill).delete()  # a re-import replaces, never doubles
        rows_copy(
            model=StagedBillLine,
            fields=("bill_import", "line_no", "key", "amount_fen", "state", "raw"),
            rows=_staged_rows(bill, lines, counted, progress),
        )
    if progress:
        progress(counted[0])
    sql.staged_lines_analyze()
    return counted[0]


def _staged_rows(
    bill: BillImport, lines: Iterator[BillLine], counted: list[int], progress: Callable[[int], None] | None
) -> Iterator[str]:
    read = BILL_KINDS.get(bill.kind).read
    join = sql.FIELD_SEPARATOR.join
    pk = int(bill.pk)
    count = 0
    for line in lines:
        if line.section != "detail":
            continue
        if not count:
            bill.header = list(line.fields)
        count += 1
        counted[0] = count
        if progress and count % PROGRESS_EVERY == 0:
            progress(count)
        staged = read(line)
        if staged is None:
            continue
        key, amount_fen, state = staged
        raw = join(line.fields.values())
        escaped = copy_escape(raw)
        if escaped is not raw:  # a backslash or tab in the bill (rare): escape the rest too
            raw, key, state = escaped, copy_escape(key), copy_escape(state)
        # The COPY text line itself: a million rows, formatted knowing their types.
        yield f"{pk}\t{line.line_no}\t{key}\t{int(amount_fen)}\t{state}\t{raw}\n"


def _ours(bill_kind: str, gateway: str, sub_mchid: str) -> tuple[str, list] | None:
    parts = []
    for matcher in matchers_for(bill_kind):
        query = matcher.ours(gateway, sub_mchid).values("our_key", "our_amount_fen", "our_state", "our_at")
        query = query.order_by()
        text, params = query.query.sql_with_params()
        parts.append((matcher.name, text, params))
    return sql.ours_union(parts) if parts else None


def _day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    start = datetime.datetime.combine(day, datetime.time(0), tzinfo=SHANGHAI)
    return start, start + datetime.timedelta(days=1)


def _match(bill: BillImport) -> int:
    """Insert the bill's differences as cases; how many were new (see the module docstring)."""
    ours = _ours(bill.kind, bill.gateway, bill.sub_mchid)
    if ours is None:
        return 0  # staged for a matcher still to come: nothing of ours to compare yet
    common = {"gateway": bill.gateway, "bill_kind": bill.kind, "ours": ours}
    whole_day, *edges = _gateway_side_passes(bill)
    with transaction.atomic():
        sql.work_mem_for_a_day()
        # The bill's lines against all our rows: the planner's choice (a hash join here, index
        # probes when our tables are far larger than a day's bill).
        new = sql.cases_from_bill_insert(
            import_id=bill.pk,
            bill_date=bill.bill_date,
            header=bill.header,
            summed=BILL_KINDS.get(bill.kind).summed,
            **common,
        )
        sql.hash_joins_only()
        new += _missing_gateway(whole_day, common)
    for edge in edges:  # ten minutes of rows each: index probes are right here
        new += _missing_gateway(edge, common)
    return new


def _missing_gateway(gateway_pass: tuple, common: dict) -> int:
    home, since, until, present_in = gateway_pass
    return sql.cases_missing_gateway_insert(
        import_id=home.pk, bill_date=home.bill_date, since=since, until=until, present_in=present_in, **common
    )


def _gateway_side_passes(
    bill: BillImport,
) -> list[tuple[BillImport, datetime.datetime, datetime.datetime, list]]:
    """``(home import, since, until, imports whose lines count)`` for our side: the day less its
    edges against this bill; each edge against this bill and the neighbouring day's, once that
    is in — and the neighbours' edges next to this day, which this bill now decides."""
    start, end = _day_bounds(bill.bill_date)
    passes = [(bill, start + MIDNIGHT_MARGIN, end - MIDNIGHT_MARGIN, [bill.pk])]
    neighbours = BillImport.objects.filter(
        gateway=bill.gateway,
        kind=bill.kind,
        sub_mchid=bill.sub_mchid,
        status=BillImport.Status.DONE,
        bill_date__in=[
            bill.bill_date - datetime.timedelta(days=1),
            bill.bill_date + datetime.timedelta(days=1),
        ],
    )
    for other in neighbours:
        edge = start if other.bill_date < bill.bill_date else end
        both = [bill.pk, other.pk]
        mine = (start, start + MIDNIGHT_MARGIN) if edge == start else (end - MIDNIGHT_MARGIN, end)
        theirs = (start - MIDNIGHT_MARGIN, start) if edge == start else (end, end + MIDNIGHT_MARGIN)
        passes += [(bill, *mine, both), (other, *theirs, both)]
    return passes


# --- the daily job ----------------------------------------------------------------------


def bills_due(now: datetime.datetime) -> list[datetime.date]:
    """The days whose bills should be ready by ``now``: up to ``LOOKBACK_DAYS`` days back."""
    local = timezone.localtime(now, SHANGHAI)
    latest = local.date() - datetime.timedelta(days=1 if local.time() >= BILLS_READY_AT else 2)
    return [latest - datetime.timedelta(days=n) for n in reversed(range(LOOKBACK_DAYS))]


def bills_reconcile_due(now: datetime.datetime) -> int:
    """Sweeper: fetch and match every registered kind of bill of the last days that is due and
    not done (not ready: again at its ``next_attempt_at``). Each claimed bill runs as its own
    task (a million lines take seconds, not for beat's tick). Returns how many were started."""
    if connection.vendor != "postgresql":
        return 0  # matched in PostgreSQL's SQL (the embedded SQLite demo has no bills to match)
    from .tasks import bill_import_run_task

    gateway = settings.ECOMMERCE_GATEWAY
    started = 0
    for day in bills_due(now):
        for kind in BILL_KINDS.values():
            if not matchers_for(kind.kind):
                continue
            for sub_mchid in kind.accounts():
                bill = bill_import_get(gateway=gateway, kind=kind.kind, bill_date=day, sub_mchid=sub_mchid)
                if bill.status == BillImport.Status.DONE:
                    continue
                if bill_import_claim(import_id=bill.pk, now=now):
                    transaction.on_commit(lambda pk=bill.pk: bill_import_run_task.delay(pk, now.isoformat()))
                    started += 1
    _old_lines_drop(now)
    return started


def _old_lines_drop(now: datetime.datetime) -> None:
    cutoff = timezone.localtime(now, SHANGHAI).date() - datetime.timedelta(days=STAGED_KEPT_DAYS)
    old = BillImport.objects.filter(bill_date__lt=cutoff, status=BillImport.Status.DONE).values("pk")
    StagedBillLine.objects.filter(bill_import__in=old).delete()


def bill_reconcile(
    *,
    gateway: str,
    kind: str,
    bill_date: datetime.date,
    sub_mchid: str = "",
    now: datetime.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> BillImport:
    """Fetch and match one bill now, done before or not (``manage.py reconcile_bills``)."""
    now = now or timezone.now()
    bill = bill_import_get(gateway=gateway, kind=kind, bill_date=bill_date, sub_mchid=sub_mchid)
    if not bill_import_claim(import_id=bill.pk, now=now, due_only=False):
        raise BillImportBusy(import_id=bill.pk)
    return bill_import_run(import_id=bill.pk, now=now, progress=progress)


# --- ops resolving cases ----------------------------------------------------------------


def case_apply_missed(*, case_id: int, actor_id: int | None) -> ReconciliationCase:
    """Re-query the gateway about a case's record and apply what it says through that record's
    exactly-once path (``payment_apply_result`` for payments). Twice, or raced by the late
    callback itself, it is applied once and the case resolved once. No lock is held across the
    gateway call."""
    case = ReconciliationCase.objects.get(pk=case_id)
    if case.status == ReconciliationCase.Status.RESOLVED:
        return case
    if case.kind not in (ReconciliationCase.Kind.MISSING_OURS, ReconciliationCase.Kind.STATUS_DIFFERS):
        raise CaseNotResolvable("Only a line missing (or of another status) with us can be re-queried.")
    candidates = [BILL_MATCHERS.get(case.matcher)] if case.matcher else matchers_for(case.bill_kind)
    appliers = [m.apply_missed for m in candidates if m.apply_missed is not None]
    if not appliers:
        raise CaseNotResolvable("Nothing of ours can re-query this line: explain it instead.")
    resolution, note = appliers[0](case)
    return _case_resolve(
        case_id=case.pk,
        actor_id=actor_id,
        resolution=resolution,
        note=note,
        audit_action="reconciliation.apply_missed",
    )


def case_explain(*, case_id: int, actor_id: int | None, reason: str) -> ReconciliationCase:
    """Ops explain a difference (with a reason) and close it. Explaining twice is a no-op."""
    if not reason.strip():
        raise CaseNotResolvable("Say why the difference is explained.")
    return _case_resolve(
        case_id=case_id,
        actor_id=actor_id,
        resolution=ReconciliationCase.Resolution.EXPLAINED,
        note=reason,
        audit_action="reconciliation.explain",
    )


@transaction.atomic
def _case_resolve(
    *, case_id: int, actor_id: int | None, resolution: str, note: str, audit_action: str
) -> ReconciliationCase:
    """Resolve a case once. Ops' resolution (``actor_id`` given) is recorded in the audit trail
    here, in this transaction: ``case_apply_missed`` cannot run inside an admin-opened one (it
    calls the gateway, then applies through a durable block), so it records itself."""
    case = ReconciliationCase.objects.select_for_update(no_key=True).get(pk=case_id)  # lock, then decide
    if case.status == ReconciliationCase.Status.RESOLVED:
        return case
    case.status = ReconciliationCase.Status.RESOLVED
    case.resolution = resolution
    case.note = note
    case.resolved_by_id = actor_id
    case.resolved_at = timezone.now()
    case.save(update_fields=["status", "resolution", "note", "resolved_by", "resolved_at", "updated_at"])
    logger.info("reconciliation case %s resolved (%s) by %s: %s", case.pk, resolution, actor_id, note)
    if actor_id is not None:
        audit_record(
            actor=get_user_model().objects.filter(pk=actor_id).first(),
            action=audit_action,
            obj=case,
            reason=note,
            details={"resolution": resolution, "our_amount_fen": case.our_amount_fen},
        )
    return case


def cases_open_count() -> int:
    return ReconciliationCase.objects.filter(status=ReconciliationCase.Status.OPEN).count()


# --- what this app matches: payments on the trade bill, refunds on the refund bill --------


REFUND_LINE_PREFIX = "~"  # never in an out_trade_no (WeChat allows letters, digits and _-|*)
REFUND_LINE_STATE = "refund"


def trade_line_read(line: BillLine) -> StagedLine | None:
    """A paid line of the trade bill: our ``out_trade_no`` and the order's total. Its refund
    lines (``REFUND``) are the refund bill's business; they are staged under a key no record of
    ours has (``~<out_refund_no>``, never a case) only for the handling fee WeChat gives
    back on them (``gateway_fees``)."""
    state = line.get("trade_state")
    if state == "REFUND":
        return (REFUND_LINE_PREFIX + line.get("out_refund_no"))[:64], 0, REFUND_LINE_STATE
    try:
        amount = line.fen("order_total")
    except KeyError:
        amount = line.fen("settlement_total")
    return line.get("out_trade_no"), amount, sql.DONE if state == "SUCCESS" else state.lower()


def refund_line_read(line: BillLine) -> StagedLine | None:
    """A line of the refund bill: our ``out_refund_no`` and what was refunded."""
    key = line.get("out_refund_no")
    if not key:
        return None
    state = line.get("refund_status")
    return key, line.fen("refund_amount"), sql.DONE if state == "SUCCESS" else state.lower()


def payments_ours(gateway: str, sub_mchid: str = "") -> QuerySet:
    """Our payments through ``gateway``: done when succeeded (paid at ``paid_at``), pending while
    created. A payment whose money arrived as an anomaly (refunded automatically) counts as done
    with the amount that arrived: the bill's line is explained by it."""
    anomaly = PaymentAnomaly.objects.filter(payment=OuterRef("pk"))
    # A shared payment is on the bill as its parts (``payment_parts_ours``), not as itself.
    return Payment.objects.filter(gateway=gateway, funds=Payment.Funds.PLATFORM).annotate(
        our_key=F("out_trade_no"),
        our_state=Case(
            When(status=Payment.Status.SUCCEEDED, then=Value(sql.DONE)),
            When(Exists(anomaly), then=Value(sql.DONE)),
            When(status=Payment.Status.CREATED, then=Value(sql.PENDING)),
            default=F("status"),
            output_field=CharField(),
        ),
        our_amount_fen=Case(
            When(status=Payment.Status.SUCCEEDED, then=F("amount_fen")),
            default=Coalesce(Subquery(anomaly.values("reported_amount_fen")[:1]), F("amount_fen")),
        ),
        our_at=F("paid_at"),
    )


def payment_parts_ours(gateway: str, sub_mchid: str = "") -> QuerySet:
    """The parts of our shared payments (profit sharing: one sub-order per order, on the trade
    bill under its own ``out_trade_no``): done when the payment succeeded, pending while it is
    unpaid, with the part's own amount. A secondary merchant's own trade bill: its parts only."""
    parts = PaymentPart.objects.filter(payment__gateway=gateway)
    if sub_mchid:
        parts = parts.filter(sub_mchid=sub_mchid)
    return parts.annotate(
        our_key=F("out_trade_no"),
        our_state=Case(
            When(payment__status=Payment.Status.SUCCEEDED, then=Value(sql.DONE)),
            When(payment__status=Payment.Status.CREATED, then=Value(sql.PENDING)),
            default=F("payment__status"),
            output_field=CharField(),
        ),
        our_amount_fen=F("amount_fen"),
        our_at=F("payment__paid_at"),
    )


def refunds_ours(gateway: str, sub_mchid: str = "") -> QuerySet:
    """Our refunds of payments through ``gateway``: done when succeeded (at ``finished_at``),
    pending while in flight."""
    return Refund.objects.filter(payment__gateway=gateway).annotate(
        our_key=F("out_refund_no"),
        our_state=Case(
            When(status=Refund.Status.SUCCEEDED, then=Value(sql.DONE)),
            When(status__in=Refund.IN_FLIGHT, then=Value(sql.PENDING)),
            default=F("status"),
            output_field=CharField(),
        ),
        our_amount_fen=F("amount_fen"),
        our_at=F("finished_at"),
    )


def payment_case_apply_missed(case: ReconciliationCase) -> tuple[str, str]:
    """Ask the gateway about the payment and apply a success through ``payment_apply_result``
    (exactly once: it locks the payment and answers ``DUPLICATE`` when already applied)."""
    from .services import Applied, payment_apply_result

    payment = Payment.objects.filter(out_trade_no=case.key).first()
    if payment is None:
        raise CaseNotResolvable("We have no payment with this number: explain the case instead.")
    if payment.status == Payment.Status.SUCCEEDED:
        return (
            ReconciliationCase.Resolution.ALREADY_APPLIED,
            f"Already paid with us ({payment.gateway_txn_id}).",
        )
    result = gateway_get(payment.gateway).query(payment.out_trade_no)
    if result is None or not result.succeeded:
        raise CaseNotResolvable("The gateway does not say this payment succeeded: explain the case instead.")
    applied = payment_apply_result(gateway=payment.gateway, result=result)
    if applied == Applied.DUPLICATE:
        return ReconciliationCase.Resolution.ALREADY_APPLIED, f"Applied meanwhile ({result.transaction_id})."
    what = "as an anomaly (refunded automatically)" if applied == Applied.ANOMALY else "as paid"
    return ReconciliationCase.Resolution.APPLIED, f"Re-queried: {result.transaction_id} applied {what}."


def register_bill_matchers() -> None:
    """This app's bill kinds and matchers (``PaymentsConfig.ready``)."""
    from .gateway_fees import bill_fees_book_later
    from .reconcile_steps import register_step_matchers

    register_bill_kind(kind="trade", read=trade_line_read, after_match=bill_fees_book_later)
    register_bill_kind(kind="refund", read=refund_line_read)
    register_bill_matcher(
        name="payments", bill_kind="trade", ours=payments_ours, apply_missed=payment_case_apply_missed
    )
    # Shared payments' parts: a missing one is found by the gateway query sweeper, which asks
    # about unpaid shared payments as a whole; ops explain what remains.
    register_bill_matcher(name="payment_parts", bill_kind="trade", ours=payment_parts_ours)
    register_bill_matcher(name="refunds", bill_kind="refund", ours=refunds_ours)
    register_step_matchers()  # shares and returns on the profit-sharing bill, subsidies on fund flow
