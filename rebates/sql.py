"""The rebates app's hand-written SQL (docs/design.md "Where speed-ups live"): the set-based
statements of ``merchant_statements_write``. Each function runs one statement over a whole
day for every merchant at once (INSERT … SELECT, UPDATE … FROM a GROUP BY), never a loop
per entry in Python: a day of 100,000 orders is a handful of statements.

Every function takes the day as ``date`` (the statements' ``date``) and its bounds
``start``/``end`` (aware datetimes: Asia/Shanghai midnight to midnight) and names its ORM
twin in its docstring. The tests check what they write against the ledger, line by line
(``rebates/tests/test_services_statements.py``).
"""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime

from django.db import connection

from merchants.models import DepositMovement
from orders.models import AfterSale, Order
from shop.db import table
from shop.ledger.models import Account, Entry, Transaction
from shop.payments.models import Refund

from .models import MerchantStatement, MerchantStatementLine

K = MerchantStatementLine.Kind
FROZEN = Account.Kind.MERCHANT_FROZEN

T = {
    "account": table(Account),
    "entry": table(Entry),
    "tx": table(Transaction),
    "stmt": table(MerchantStatement),
    "line": table(MerchantStatementLine),
    "order": table(Order),
    "case": table(AfterSale),
    "refund": table(Refund),
    "deposit": table(DepositMovement),
}

# Transaction kind on merchant_frozen → (line kind, sign applied to the merchant_frozen
# entry). The sign makes each line's amount what it adds to its figure: money coming in
# (paid, subsidy) is a negative entry on merchant_frozen and a positive figure; money going
# out (fees, share, refunds, release) is a positive entry. A share returned makes two lines:
# one that nets it in ``refunds`` and one for ``returned`` (information).
# ``share_finished`` is split into commission and platform fee by ``lines_insert_shares``.
MOVEMENTS: list[tuple[str, str, int]] = [
    ("order_paid_shared", K.ORDER_PAID_SHARED, -1),
    ("subsidy_paid", K.SUBSIDY_PAID, -1),
    ("subsidy_returned", K.SUBSIDY_RETURNED, -1),
    ("gateway_fee", K.GATEWAY_FEE, 1),
    ("refund_from_frozen", K.REFUND_FROM_FROZEN, 1),
    ("share_returned", K.SHARE_RETURNED, 1),
    ("share_returned", K.RETURNED, -1),
    ("unfreeze_confirmed", K.UNFREEZE_CONFIRMED, 1),
]
SHARE_FINISHED = "share_finished"
KNOWN_TX_KINDS: tuple[str, ...] = (*sorted({m[0] for m in MOVEMENTS}), SHARE_FINISHED)


def _execute(sql: str, params: dict) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _fetchall(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def day_lock(*, date: Date) -> None:
    """One writer per day: a transaction-scoped advisory lock (beat and an ops run of the
    command may overlap); the second waits, then rewrites the same figures."""
    _execute("SELECT pg_advisory_xact_lock(%(ns)s, %(day)s)", {"ns": 0x5374_6D74, "day": date.toordinal()})


def statements_upsert(*, date: Date, start: datetime, end: datetime, now: datetime) -> int:
    """One statement row for every merchant that has a ``merchant_frozen`` account by the day's
    end, or a deposit deduction that day; an existing row is kept (its id too).

    ORM twin: ``MerchantStatement.objects.bulk_create([...], update_conflicts=True,
    unique_fields=["merchant", "date"], update_fields=["updated_at"])`` over
    ``Account.objects.filter(kind=FROZEN, created_at__lt=end).values("owner_id")`` ∪
    ``DepositMovement.objects.filter(kind="deducted", created_at__range=…)``.
    """
    return _execute(
        f"""
        INSERT INTO {T["stmt"]} (merchant_id, date, opening_fen, sales_fen, subsidy_fen, gateway_fee_fen,
            commission_fen, platform_fee_fen, refunds_fen, released_fen, closing_fen, held_fen,
            returned_fen, refunds_after_release_fen, deductions_fen, created_at, updated_at)
        SELECT m.merchant_id, %(date)s, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, %(now)s, %(now)s
        FROM (
            SELECT owner_id AS merchant_id FROM {T["account"]}
            WHERE kind = %(frozen)s AND owner_type = 'merchant' AND created_at < %(end)s
            UNION
            SELECT merchant_id FROM {T["deposit"]}
            WHERE kind = %(deducted)s AND created_at >= %(start)s AND created_at < %(end)s
        ) m
        ON CONFLICT (merchant_id, date) DO UPDATE SET updated_at = EXCLUDED.updated_at
        """,  # noqa: S608 (table names from models, values as parameters)
        {
            "date": date,
            "start": start,
            "end": end,
            "now": now,
            "frozen": FROZEN,
            "deducted": DepositMovement.Kind.DEDUCTED,
        },
    )


def lines_delete(*, date: Date) -> int:
    """The day's lines, before they are written again (a re-run never duplicates a line).

    ORM twin: ``MerchantStatementLine.objects.filter(statement__date=date).delete()``."""
    return _execute(
        f"DELETE FROM {T['line']} l USING {T['stmt']} s WHERE l.statement_id = s.id AND s.date = %(date)s",  # noqa: S608
        {"date": date},
    )


def unknown_movements(*, start: datetime, end: datetime) -> list[tuple[str, str, int]]:
    """Postings on ``merchant_frozen`` in the day that the statement contract does not know
    (another kind, or not referring to an order): ``[(kind, ref_type, count)]``.

    ORM twin: ``Entry.objects.filter(account__kind=FROZEN, transaction__created_at__range=…)
    .exclude(transaction__kind__in=KNOWN_TX_KINDS, transaction__ref_type="order")
    .values("transaction__kind", "transaction__ref_type").annotate(Count("id"))``."""
    return _fetchall(
        f"""
        SELECT t.kind, t.ref_type, COUNT(*)
        FROM {T["tx"]} t
        JOIN {T["entry"]} e ON e.transaction_id = t.id
        JOIN {T["account"]} a ON a.id = e.account_id AND a.kind = %(frozen)s
        WHERE t.created_at >= %(start)s AND t.created_at < %(end)s
          AND (t.kind <> ALL(%(known)s) OR t.ref_type <> 'order' OR t.ref_id IS NULL)
        GROUP BY t.kind, t.ref_type ORDER BY t.kind
        """,  # noqa: S608
        {"start": start, "end": end, "frozen": FROZEN, "known": list(KNOWN_TX_KINDS)},
    )


def lines_insert_movements(*, date: Date, start: datetime, end: datetime) -> int:
    """A line for each entry on a merchant's ``merchant_frozen`` account in the day (two for a
    share returned), signed as it adds to its figure (``MOVEMENTS``); ``share_finished`` apart.

    ORM twin: for each entry of ``Entry.objects.filter(account__kind=FROZEN,
    transaction__kind__in=…, transaction__created_at__range=…)``, ``MerchantStatementLine(
    statement=<the owner's statement>, order_id=tx.ref_id, kind=…, amount_fen=sign * e.amount_fen,
    at=tx.created_at, entry=e)``."""
    values = ", ".join(["(%s, %s, %s)"] * len(MOVEMENTS))
    params: list = [x for m in MOVEMENTS for x in (m[0], str(m[1]), m[2])]
    sql = f"""
        INSERT INTO {T["line"]} (statement_id, order_id, kind, amount_fen, at, entry_id)
        SELECT s.id, t.ref_id, k.line_kind, k.sign * e.amount_fen, t.created_at, e.id
        FROM {T["tx"]} t
        JOIN (VALUES {values}) AS k(tx_kind, line_kind, sign) ON k.tx_kind = t.kind
        JOIN {T["entry"]} e ON e.transaction_id = t.id
        JOIN {T["account"]} a ON a.id = e.account_id AND a.kind = %s AND a.owner_type = 'merchant'
        JOIN {T["stmt"]} s ON s.merchant_id = a.owner_id AND s.date = %s
        WHERE t.created_at >= %s AND t.created_at < %s
        ORDER BY t.created_at, e.id
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, FROZEN, date, start, end])
        return cursor.rowcount


def lines_insert_shares(*, date: Date, start: datetime, end: datetime) -> int:
    """Two lines for each ``share_finished`` posting of the day: its platform fee, read from
    the same posting's ``merchant_receivable`` line of that merchant (``merchant_receivable:
    −fee`` in docs/merchant-money.md; the commission left the receivable at payment, so the
    fee is the only receivable line of a share), and its commission, the rest of the
    ``merchant_frozen: +(commission + fee)`` line. The fee line points at the receivable
    entry, the commission line at the frozen one.

    ORM twin: for each such frozen entry ``e``: ``fee = -Entry.objects.filter(transaction=
    e.transaction, account__kind="merchant_receivable", account__owner_id=merchant)
    .aggregate(Sum)``; lines ``(share_commission, e.amount_fen - fee)`` and
    ``(share_platform_fee, fee)``."""
    return _execute(
        f"""
        WITH shares AS (
            SELECT t.id, t.ref_id, t.created_at FROM {T["tx"]} t
            WHERE t.kind = %(share)s AND t.created_at >= %(start)s AND t.created_at < %(end)s
        ), fees AS (
            SELECT r.transaction_id, ra.owner_id, -SUM(r.amount_fen) AS fee_fen, MIN(r.id) AS entry_id
            FROM shares JOIN {T["entry"]} r ON r.transaction_id = shares.id
            JOIN {T["account"]} ra ON ra.id = r.account_id
                 AND ra.kind = %(receivable)s AND ra.owner_type = 'merchant'
            GROUP BY r.transaction_id, ra.owner_id
        )
        INSERT INTO {T["line"]} (statement_id, order_id, kind, amount_fen, at, entry_id)
        SELECT s.id, t.ref_id, v.kind, v.amount_fen, t.created_at, v.entry_id
        FROM shares t
        JOIN {T["entry"]} e ON e.transaction_id = t.id
        JOIN {T["account"]} a ON a.id = e.account_id AND a.kind = %(frozen)s AND a.owner_type = 'merchant'
        JOIN {T["stmt"]} s ON s.merchant_id = a.owner_id AND s.date = %(date)s
        LEFT JOIN fees f ON f.transaction_id = t.id AND f.owner_id = a.owner_id
        CROSS JOIN LATERAL (
            VALUES (%(commission)s, e.amount_fen - COALESCE(f.fee_fen, 0), e.id, 1),
                   (%(fee)s, COALESCE(f.fee_fen, 0), COALESCE(f.entry_id, e.id), 2)
        ) AS v(kind, amount_fen, entry_id, part)
        ORDER BY t.created_at, e.id, v.part
        """,  # noqa: S608
        {
            "date": date,
            "start": start,
            "end": end,
            "frozen": FROZEN,
            "receivable": Account.Kind.MERCHANT_RECEIVABLE,
            "commission": K.SHARE_COMMISSION,
            "fee": K.SHARE_PLATFORM_FEE,
            "share": SHARE_FINISHED,
        },
    )


def lines_insert_held(*, date: Date, end: datetime) -> int:
    """A ``held`` line for each order whose after-sales case was open at the day's end, with
    what the order still had frozen then (−its part of ``merchant_frozen``): an open case holds
    the order's whole remainder (docs/design.md).

    "Open at the day's end" from what the case records keep: opened before the end, and
    either still open or last changed after the end (a case that ended after the day's end
    was open at it). A re-run gives the same lines, except for a case rejected before the
    end and disputed after it (it counts as open then): cases keep no history of states.

    ORM twin: ``AfterSale.objects.filter(created_at__lt=end).filter(Q(status__in=OPEN) |
    Q(updated_at__gte=end))``, then per order ``-Entry.objects.filter(account__kind=FROZEN,
    transaction__ref_type="order", transaction__ref_id=order, transaction__created_at__lt=end)
    .aggregate(Sum)``, non-zero."""
    return _execute(
        f"""
        INSERT INTO {T["line"]} (statement_id, order_id, kind, amount_fen, at, entry_id)
        SELECT s.id, c.order_id, %(held)s, -SUM(e.amount_fen), %(end)s, NULL
        FROM (
            SELECT DISTINCT order_id, merchant_id FROM {T["case"]}
            WHERE created_at < %(end)s AND (status = ANY(%(open)s) OR updated_at >= %(end)s)
        ) c
        JOIN {T["stmt"]} s ON s.merchant_id = c.merchant_id AND s.date = %(date)s
        JOIN {T["tx"]} t ON t.ref_type = 'order' AND t.ref_id = c.order_id AND t.created_at < %(end)s
        JOIN {T["entry"]} e ON e.transaction_id = t.id
        JOIN {T["account"]} a ON a.id = e.account_id AND a.kind = %(frozen)s
             AND a.owner_type = 'merchant' AND a.owner_id = c.merchant_id
        GROUP BY s.id, c.order_id
        HAVING SUM(e.amount_fen) <> 0
        ORDER BY c.order_id
        """,  # noqa: S608
        {"date": date, "end": end, "held": K.HELD, "open": sorted(AfterSale.OPEN), "frozen": FROZEN},
    )


def lines_insert_refunds_after_release(*, date: Date, start: datetime, end: datetime) -> int:
    """A ``refund_after_release`` line for each order refund that succeeded in the day (its
    ``refund_succeeded`` posting) and was requested after the order's ``unfreeze_confirmed``
    posting: money the merchant had already been released, so not from frozen funds. Points
    at the posting's ``refund_clearing`` entry.

    ORM twin: ``Refund.objects.filter(purpose="order_refund", status="succeeded")`` joined to
    its ``Transaction(kind="refund_succeeded", ref_type="refund", ref_id=refund.pk)`` of the
    day, where ``Transaction.objects.filter(kind="unfreeze_confirmed", ref_type="order",
    ref_id=refund.ref_id, created_at__lte=refund.created_at).exists()``."""
    return _execute(
        f"""
        INSERT INTO {T["line"]} (statement_id, order_id, kind, amount_fen, at, entry_id)
        SELECT s.id, o.id, %(kind)s, r.amount_fen, t.created_at, e.id
        FROM {T["tx"]} t
        JOIN {T["refund"]} r ON r.id = t.ref_id AND r.purpose = %(purpose)s
        JOIN {T["order"]} o ON o.id = r.ref_id
        JOIN {T["stmt"]} s ON s.merchant_id = o.merchant_id AND s.date = %(date)s
        JOIN {T["entry"]} e ON e.transaction_id = t.id
        JOIN {T["account"]} a ON a.id = e.account_id AND a.kind = %(clearing)s
        WHERE t.kind = 'refund_succeeded' AND t.ref_type = 'refund'
          AND t.created_at >= %(start)s AND t.created_at < %(end)s
          AND EXISTS (
              SELECT 1 FROM {T["tx"]} u
              WHERE u.ref_type = 'order' AND u.ref_id = o.id AND u.kind = 'unfreeze_confirmed'
                AND u.created_at <= r.created_at
          )
        ORDER BY t.created_at, e.id
        """,  # noqa: S608
        {
            "date": date,
            "start": start,
            "end": end,
            "kind": K.REFUND_AFTER_RELEASE,
            "purpose": "order_refund",
            "clearing": Account.Kind.REFUND_CLEARING,
        },
    )


def lines_insert_deductions(*, date: Date, start: datetime, end: datetime) -> int:
    """A ``deposit_deduction`` line for each deduction from a merchant's deposit in the day
    (``DepositMovement`` of kind ``deducted``; its amount is − out of the deposit, the line +),
    pointing at its posting's ``merchant_deposit`` entry.

    ORM twin: ``DepositMovement.objects.filter(kind="deducted", created_at__range=…)`` →
    ``MerchantStatementLine(order_id=m.order_ref, amount_fen=-m.amount_fen, at=m.created_at,
    entry=<the deposit entry of Transaction(idempotency_key=m.ledger_key)>)``."""
    return _execute(
        f"""
        INSERT INTO {T["line"]} (statement_id, order_id, kind, amount_fen, at, entry_id)
        SELECT s.id, d.order_ref, %(kind)s, -d.amount_fen, d.created_at, (
            SELECT MIN(e.id) FROM {T["tx"]} t
            JOIN {T["entry"]} e ON e.transaction_id = t.id
            JOIN {T["account"]} a ON a.id = e.account_id AND a.kind = %(deposit)s
                 AND a.owner_type = 'merchant' AND a.owner_id = d.merchant_id
            WHERE d.ledger_key <> '' AND t.idempotency_key = d.ledger_key
        )
        FROM {T["deposit"]} d
        JOIN {T["stmt"]} s ON s.merchant_id = d.merchant_id AND s.date = %(date)s
        WHERE d.kind = %(deducted)s AND d.created_at >= %(start)s AND d.created_at < %(end)s
        ORDER BY d.created_at, d.id
        """,  # noqa: S608
        {
            "date": date,
            "start": start,
            "end": end,
            "kind": K.DEPOSIT_DEDUCTION,
            "deposit": Account.Kind.MERCHANT_DEPOSIT,
            "deducted": DepositMovement.Kind.DEDUCTED,
        },
    )


FIGURES = (
    "sales_fen",
    "subsidy_fen",
    "gateway_fee_fen",
    "commission_fen",
    "platform_fee_fen",
    "refunds_fen",
    "released_fen",
    "held_fen",
    "returned_fen",
    "refunds_after_release_fen",
    "deductions_fen",
)


def statements_update_figures(*, date: Date, start: datetime) -> int:
    """Every figure of the day's statements as the sum of its lines (one GROUP BY), the
    opening as the merchant's ``merchant_frozen`` balance at the day's start, negated, and
    the closing by the identity.

    The balance at a time is the cached balance less the entries since then (a read of the
    recent entries, not of the whole history), in this one statement's snapshot.

    ORM twin: ``MerchantStatementLine.objects.filter(statement__date=date).values("statement")
    .annotate(**{figure: Sum("amount_fen", filter=Q(kind__in=kinds))})`` and
    ``account.balance_fen - Entry.objects.filter(account=account,
    transaction__created_at__gte=start).aggregate(Sum)``."""
    kinds_of: dict[str, list[str]] = {f: [] for f in FIGURES}
    for kind, figure in MerchantStatementLine.FIGURE_OF_KIND.items():
        kinds_of[figure].append(str(kind))
    sums = ",\n".join(
        f"COALESCE(SUM(l.amount_fen) FILTER (WHERE l.kind = ANY(%(k_{f})s)), 0) AS {f}" for f in FIGURES
    )
    sets = ", ".join(f"{f} = x.{f}" for f in FIGURES)
    closing = "x.opening_fen + x.sales_fen + x.subsidy_fen - x.gateway_fee_fen - x.commission_fen - x.platform_fee_fen - x.refunds_fen - x.released_fen"  # noqa: E501
    return _execute(
        f"""
        WITH since AS (
            SELECT e.account_id, SUM(e.amount_fen) AS amount_fen
            FROM {T["tx"]} t
            JOIN {T["entry"]} e ON e.transaction_id = t.id
            JOIN {T["account"]} fa ON fa.id = e.account_id AND fa.kind = %(frozen)s
            WHERE t.created_at >= %(start)s
            GROUP BY e.account_id
        ), opening AS (
            SELECT a.owner_id AS merchant_id, -(a.balance_fen - COALESCE(since.amount_fen, 0)) AS opening_fen
            FROM {T["account"]} a LEFT JOIN since ON since.account_id = a.id
            WHERE a.kind = %(frozen)s AND a.owner_type = 'merchant'
        ), x AS (
            SELECT s.id, COALESCE(MIN(o.opening_fen), 0) AS opening_fen, {sums}
            FROM {T["stmt"]} s
            LEFT JOIN opening o ON o.merchant_id = s.merchant_id
            LEFT JOIN {T["line"]} l ON l.statement_id = s.id
            WHERE s.date = %(date)s
            GROUP BY s.id
        )
        UPDATE {T["stmt"]} s SET opening_fen = x.opening_fen, {sets}, closing_fen = {closing}
        FROM x WHERE s.id = x.id
        """,  # noqa: S608
        {"date": date, "start": start, "frozen": FROZEN, **{f"k_{f}": kinds_of[f] for f in FIGURES}},
    )


def statements_disagreeing(*, date: Date, end: datetime) -> list[tuple]:
    """The day's statements whose closing is not the merchant's ``merchant_frozen`` balance at
    the day's end, negated, or whose opening is not the closing of the merchant's statement
    before it: ``[(merchant_id, what, found, expected)]``. Empty when the books agree.

    ORM twin: per statement, ``-(account.balance_fen - Entry.objects.filter(account=account,
    transaction__created_at__gte=end).aggregate(Sum))`` and the previous statement's
    ``closing_fen``."""
    return _fetchall(
        f"""
        WITH since AS (
            SELECT e.account_id, SUM(e.amount_fen) AS amount_fen
            FROM {T["tx"]} t
            JOIN {T["entry"]} e ON e.transaction_id = t.id
            JOIN {T["account"]} fa ON fa.id = e.account_id AND fa.kind = %(frozen)s
            WHERE t.created_at >= %(end)s
            GROUP BY e.account_id
        ), closing AS (
            SELECT a.owner_id AS merchant_id, -(a.balance_fen - COALESCE(since.amount_fen, 0)) AS closing_fen
            FROM {T["account"]} a LEFT JOIN since ON since.account_id = a.id
            WHERE a.kind = %(frozen)s AND a.owner_type = 'merchant'
        )
        SELECT s.merchant_id, 'closing', s.closing_fen, COALESCE(c.closing_fen, 0)
        FROM {T["stmt"]} s LEFT JOIN closing c ON c.merchant_id = s.merchant_id
        WHERE s.date = %(date)s AND s.closing_fen <> COALESCE(c.closing_fen, 0)
        UNION ALL
        SELECT s.merchant_id, 'opening', s.opening_fen, p.closing_fen
        FROM {T["stmt"]} s
        JOIN LATERAL (
            SELECT closing_fen FROM {T["stmt"]} q
            WHERE q.merchant_id = s.merchant_id AND q.date < s.date
            ORDER BY q.date DESC LIMIT 1
        ) p ON true
        WHERE s.date = %(date)s AND s.opening_fen <> p.closing_fen
        ORDER BY 1, 2
        """,  # noqa: S608
        {"date": date, "end": end, "frozen": FROZEN},
    )
