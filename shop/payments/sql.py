"""Hand-written statements of the payments app (docs/design.md "Where speed-ups live").

Reconciliation matches a bill of a million lines with our rows in PostgreSQL, not in Python:
the bill's lines are staged (``StagedBillLine``, by ``COPY``), our side is each matcher's
queryset compiled to SQL, and the differences are inserted as ``ReconciliationCase`` rows by
one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` per pass, so a re-run inserts nothing new and
never touches a case ops already resolved. Only model metadata and compiled querysets go into
the text; every value is bound.

The ORM twin of each statement is spelled out in its docstring; ``test_reconciliation.py``
checks the reconciliation statements' outcomes case by case (each kind of difference,
re-import, midnight), ``tests/test_sql_equivalence.py`` the funds steps' batch statements
(``funds_steps_*``) against their ORM twins on real rows.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from django.db import connection

from shop.db import column, table

from .models import FundsStep, ReconciliationCase, StagedBillLine

# Normalised states both sides speak (a matcher maps its statuses onto them; any other value is
# kept as it is, for ops to read).
DONE = "done"  # succeeded: it must be on the day's bill, with the same amount
PENDING = "pending"  # still waiting for the gateway's word with us: a success on the bill means we missed it

FIELD_SEPARATOR = "\x1f"  # joins a staged line's fields (ASCII unit separator: never in a bill)


def ours_union(parts: Sequence[tuple[str, str, Sequence]]) -> tuple[str, list]:
    """One subquery over every matcher's rows of a bill kind: ``(matcher, our_key,
    our_amount_fen, our_state, our_at)``. ``parts`` are ``(matcher name, sql, params)``."""
    selects, params = [], []
    for i, (name, sql, part_params) in enumerate(parts):
        columns = f"o{i}.our_key, o{i}.our_amount_fen, o{i}.our_state, o{i}.our_at"
        # A compiled queryset goes in; its values are bound.
        selects.append(f"SELECT %s::text AS matcher, {columns} FROM ({sql}) AS o{i}")  # noqa: S608
        params += [name, *part_params]
    return " UNION ALL ".join(selects), params


_CASE_COLUMNS = (
    "created_at, updated_at, kind, gateway, bill_kind, matcher, key, bill_date, bill_import_id, "
    "our_amount_fen, bill_amount_fen, our_state, bill_state, bill_line, status, resolution, note"
)


def cases_from_bill_insert(
    *,
    import_id: int,
    gateway: str,
    bill_kind: str,
    bill_date: datetime.date,
    header: list[str],
    ours: tuple[str, list],
    summed: bool = False,
) -> int:
    """Cases for the bill's lines: on the bill and not (or still unpaid) with us
    (``missing_ours``), done on one side only (``status_differs``), both done with other
    amounts (``amount_differs``). How many were new.

    ORM twin, per staged line ``s`` of the import and our row ``o`` with its key (if any)::

        if o is None:  kind = s.state == DONE and "missing_ours"
        elif o.our_state == PENDING and s.state == DONE:  kind = "missing_ours"
        elif (o.our_state == DONE) != (s.state == DONE):  kind = "status_differs"
        elif s.state == DONE and o.our_amount_fen != s.amount_fen:  kind = "amount_differs"
        ReconciliationCase.objects.get_or_create(gateway, bill_kind, key=s.key, kind=kind, …)

    ``summed``: the import's lines of one key are first added up (amount summed, the first
    line's id and state), as one line (fund-flow bills; the trade bill's million lines are
    never grouped).
    """
    ours_sql, ours_params = ours
    cases, lines = table(ReconciliationCase), table(StagedBillLine)
    staged = lines
    if summed:
        staged = f"""(SELECT MIN(g.id) AS id, g.bill_import_id, g.key, SUM(g.amount_fen) AS amount_fen,
                             MIN(g.state) AS state
                      FROM {lines} AS g WHERE g.bill_import_id = {int(import_id)}
                      GROUP BY g.bill_import_id, g.key)"""  # noqa: S608 (an integer id)
    sql = f"""
        INSERT INTO {cases} ({_CASE_COLUMNS})
        SELECT now(), now(), d.kind, %s, %s, COALESCE(d.matcher, ''), d.key, %s, %s,
               d.our_amount_fen, d.amount_fen, COALESCE(d.our_state, ''), d.state,
               -- The raw line only for the few that differ: a lookup by id per case (a join
               -- back would hash every staged line again: the planner cannot tell how few).
               (SELECT json_build_object(
                           'line_no', r.line_no,
                           'fields', (SELECT json_object_agg(f.h, f.v)
                                      FROM unnest(%s::text[], string_to_array(r.raw, %s)) AS f(h, v)))
                FROM {lines} AS r WHERE r.id = d.id),
               'open', '', ''
        FROM (
            SELECT s.id, s.key, s.amount_fen, s.state,
                   o.matcher, o.our_amount_fen, o.our_state,
                   CASE WHEN o.our_key IS NULL OR (o.our_state = %s AND s.state = %s) THEN 'missing_ours'
                        WHEN (o.our_state = %s) <> (s.state = %s) THEN 'status_differs'
                        ELSE 'amount_differs' END AS kind
            FROM {staged} AS s LEFT JOIN ({ours_sql}) AS o ON o.our_key = s.key
            WHERE s.bill_import_id = %s
              AND CASE WHEN o.our_key IS NULL THEN s.state = %s
                       WHEN (o.our_state = %s) <> (s.state = %s) THEN o.our_state <> %s OR s.state = %s
                       ELSE s.state = %s AND o.our_amount_fen <> s.amount_fen END
        ) AS d
        ON CONFLICT (gateway, bill_kind, key, kind) DO NOTHING
    """  # noqa: S608 (only table names and compiled querysets are interpolated)
    params = [
        gateway,
        bill_kind,
        bill_date,
        import_id,
        header,
        FIELD_SEPARATOR,
        PENDING,
        DONE,
        DONE,
        DONE,
        *ours_params,
        import_id,
        DONE,
        DONE,
        DONE,
        PENDING,
        DONE,
        DONE,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def cases_missing_gateway_insert(
    *,
    import_id: int,
    gateway: str,
    bill_kind: str,
    bill_date: datetime.date,
    ours: tuple[str, list],
    since: datetime.datetime,
    until: datetime.datetime,
    present_in: list[int],
) -> int:
    """Cases for our rows done in ``[since, until)`` that none of the bills ``present_in``
    (staged imports) lists (``missing_gateway``). How many were new.

    ORM twin::

        for o in ours.filter(our_state=DONE, our_at__gte=since, our_at__lt=until):
            if not StagedBillLine.objects.filter(bill_import_id__in=present_in, key=o.our_key).exists():
                ReconciliationCase.objects.get_or_create(…, key=o.our_key, kind="missing_gateway")
    """
    ours_sql, ours_params = ours
    cases, lines = table(ReconciliationCase), table(StagedBillLine)
    sql = f"""
        INSERT INTO {cases} ({_CASE_COLUMNS})
        SELECT now(), now(), 'missing_gateway', %s, %s, o.matcher, o.our_key, %s, %s,
               o.our_amount_fen, NULL, o.our_state, '', NULL, 'open', '', ''
        FROM ({ours_sql}) AS o
        WHERE o.our_state = %s AND o.our_at >= %s AND o.our_at < %s
          AND NOT EXISTS (
              SELECT 1 FROM {lines} AS s WHERE s.bill_import_id = ANY(%s) AND s.key = o.our_key
          )
        ON CONFLICT (gateway, bill_kind, key, kind) DO NOTHING
    """  # noqa: S608 (only table names and compiled querysets are interpolated)
    params = [gateway, bill_kind, bill_date, import_id, *ours_params, DONE, since, until, present_in]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def work_mem_for_a_day() -> None:
    """For the rest of the transaction, room to hash a day's keys in memory (server memory;
    with the default 4 MB a million-line join spilled to disk in 16 batches)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")


def hash_joins_only() -> None:
    """For the rest of the transaction, no nested loops. The whole-day "missing at the gateway"
    statement filters our rows on a matcher's computed ``our_state``, whose selectivity
    PostgreSQL cannot estimate (it guesses a handful, then plans an index probe into the staged
    lines per row: 3 s instead of 0.3 s for 200,000 lines). Our side is bounded by the day
    (``our_at``), so hashing it is right at any table size."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_nestloop = off")


def staged_lines_analyze() -> None:
    """Fresh planner statistics after a million lines arrived (else PostgreSQL may plan the
    matching joins for an empty table)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table(StagedBillLine)}")


def gateway_fees_insert(
    *, import_id: int, gateway: str, columns: dict[str, int]
) -> list[tuple[str, int, int, int]]:
    """Record the handling fee of each staged trade-bill line of the import whose payment (or
    payment part) is ours and whose fee is not 0, once per ``fee_key`` (``ON CONFLICT DO
    NOTHING``: a line already recorded — this bill again, or the neighbouring day's — adds
    nothing). ``columns``: 1-based positions in the staged ``raw`` of ``transaction_id``,
    ``refund_id``, ``out_trade_no``, ``trade_state`` and ``fee``. Returns, per ``funds``, what
    was new: ``(funds, count, fee_fen, first id)``.

    The fee is WeChat's yuan with up to five decimals, rounded half up to the fen (as
    ``bills.yuan_to_fen(rounded=True)``: PostgreSQL's ``round`` of a numeric rounds half away
    from zero).

    ORM twin, per staged line ``s``::

        fee = yuan_to_fen(s.fields["手续费"], rounded=True)
        owner = PaymentPart by out_trade_no (shared) or Payment(funds="platform") by out_trade_no
        if fee and owner: GatewayFee.objects.get_or_create(gateway, fee_key=txn or txn/refund_id, …)
    """
    from .models import GatewayFee, Payment, PaymentPart

    fees, payments, parts = table(GatewayFee), table(Payment), table(PaymentPart)
    lines = table(StagedBillLine)
    field = "split_part(s.raw, %(sep)s, {})".format
    refund = field(columns["refund_id"]) if columns.get("refund_id") else "''"
    query = f"""
        WITH l AS (
            SELECT {field(columns["transaction_id"])} AS transaction_id,
                   CASE WHEN {field(columns["trade_state"])} = 'REFUND' THEN {refund} ELSE ''
                   END AS refund_id,
                   {field(columns["out_trade_no"])} AS out_trade_no,
                   {field(columns["fee"])} AS fee
            FROM {lines} AS s WHERE s.bill_import_id = %(import_id)s
        ), f AS (
            SELECT l.transaction_id, l.refund_id, l.out_trade_no,
                   round(replace(l.fee, ',', '')::numeric * 100)::bigint AS fee_fen
            FROM l WHERE l.fee ~ '^[-+]?[0-9]+(\\.[0-9]+)?$' AND l.transaction_id <> ''
        ), ins AS (
            INSERT INTO {fees} (created_at, updated_at, gateway, fee_key, transaction_id, refund_id,
                                out_trade_no, bill_import_id, fee_fen, funds, payment_id, part_id,
                                merchant_id, order_id, posting_id)
            SELECT now(), now(), %(gateway)s,
                   f.transaction_id || CASE WHEN f.refund_id <> '' THEN '/' || f.refund_id ELSE '' END,
                   f.transaction_id, f.refund_id, f.out_trade_no, %(import_id)s, f.fee_fen,
                   CASE WHEN pp.id IS NULL THEN 'platform' ELSE 'shared' END,
                   COALESCE(pp.payment_id, p.id), pp.id, pp.merchant_id, pp.order_id, NULL
            FROM f
            LEFT JOIN {payments} AS p
                   ON p.out_trade_no = f.out_trade_no AND p.gateway = %(gateway)s AND p.funds = 'platform'
            LEFT JOIN ({parts} AS pp JOIN {payments} AS pq
                       ON pq.id = pp.payment_id AND pq.gateway = %(gateway)s)
                   ON pp.out_trade_no = f.out_trade_no
            WHERE f.fee_fen <> 0 AND (p.id IS NOT NULL OR pp.id IS NOT NULL)
            ON CONFLICT (gateway, fee_key) DO NOTHING
            RETURNING id, funds, fee_fen
        )
        SELECT funds, COUNT(*), COALESCE(SUM(fee_fen), 0), MIN(id) FROM ins GROUP BY funds ORDER BY funds
    """  # noqa: S608 (table names and integer positions only)
    with connection.cursor() as cursor:
        cursor.execute(query, {"sep": FIELD_SEPARATOR, "import_id": import_id, "gateway": gateway})
        return [(funds, int(n), int(fen), int(first)) for funds, n, fen, first in cursor.fetchall()]


def gateway_fees_lock(*, gateway: str) -> None:
    """One fee booker per gateway at a time (a transaction-scoped advisory lock): two days'
    imports running side by side never book one line's fee twice or race on a posting."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [0x4665_6573, gateway])


# --- the funds steps' batch statements (steps.py; PostgreSQL) ---------------------------------

_STEP_INSERTED = (
    "kind", "status", "part", "order_id", "merchant_id", "refund_id", "out_no", "amount_fen",
    "commission_fen", "fee_fen", "gateway_id", "attempts", "next_attempt_at", "last_error",
    "confirmed_at", "created_at", "updated_at",
)  # fmt: skip


def funds_steps_insert(*, steps: Sequence[FundsStep]) -> None:
    """New steps, those whose ``out_no`` exists already skipped: settlement writes 200 at a
    time and the ORM spent ~0.4 ms of Python per step compiling it. Values are plain (ints,
    strs, aware datetimes); ``created_at``/``updated_at`` must be set by the caller.

    ORM: ``FundsStep.objects.bulk_create(steps, ignore_conflicts=True)``."""
    fields = [FundsStep._meta.get_field(name) for name in _STEP_INSERTED]
    params = [getattr(step, f.attname) for step in steps for f in fields]
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(FundsStep)} ({', '.join(column(FundsStep, n) for n in _STEP_INSERTED)}) "  # noqa: S608
            f"VALUES {', '.join([row] * len(steps))} ON CONFLICT ({column(FundsStep, 'out_no')}) DO NOTHING",
            params,
        )


def funds_steps_claim(
    *, step_ids: Sequence[int], now: datetime.datetime, until: datetime.datetime
) -> list[int]:
    """Take the open steps among these that are due at ``now``: their next attempt moves to
    ``until`` (the lease) and their attempts go up by one, in one conditional ``UPDATE …
    RETURNING`` (a concurrent claimer's UPDATE waits for this one, then finds them not due).
    Returns the ids taken, ascending.

    ORM: ``due = FundsStep.objects.filter(Q(next_attempt_at=None) | Q(next_attempt_at__lte=now),
    pk__in=step_ids, status__in=FundsStep.OPEN).select_for_update()``; ``ids = sorted(due
    .values_list("pk", flat=True))``; ``FundsStep.objects.filter(pk__in=ids).update(
    next_attempt_at=until, attempts=F("attempts") + 1)``."""
    next_at, status = column(FundsStep, "next_attempt_at"), column(FundsStep, "status")
    ids = ", ".join(["%s"] * len(step_ids))
    states = ", ".join(["%s"] * len(FundsStep.OPEN))
    attempts = column(FundsStep, "attempts")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table(FundsStep)} SET {next_at} = %s, {attempts} = {attempts} + 1 "  # noqa: S608
            f"WHERE {column(FundsStep, 'id')} IN ({ids}) AND {status} IN ({states}) "
            f"AND ({next_at} IS NULL OR {next_at} <= %s) RETURNING {column(FundsStep, 'id')}",
            [until, *step_ids, *FundsStep.OPEN, now],
        )
        return sorted(pk for (pk,) in cursor.fetchall())


def funds_steps_set(*, gateway_ids: dict[int, str], values: dict, only_open: bool = False) -> int:
    """Each step its own ``gateway_id`` and all of them ``values`` (field name → value), in
    one statement (``FROM (VALUES …)``: the ORM's ``Case``/``When`` for 100 rows cost ~0.4 s
    of Python); ``only_open``: only steps still open (a concurrent sender may have confirmed
    one). Returns how many rows changed.

    ORM: ``sum(FundsStep.objects.filter(pk=pk, **({"status__in": FundsStep.OPEN} if only_open
    else {})).update(gateway_id=number, **values) for pk, number in gateway_ids.items())``."""
    meta, t = FundsStep._meta, table(FundsStep)
    assign = ", ".join(f"{column(FundsStep, name)} = %s" for name in values)
    assign_params = [meta.get_field(name).get_db_prep_save(v, connection) for name, v in values.items()]
    where, where_params = "", []
    if only_open:
        where = f" AND {t}.{column(FundsStep, 'status')} IN ({', '.join(['%s'] * len(FundsStep.OPEN))})"
        where_params = list(FundsStep.OPEN)
    rows = ", ".join(["(%s, %s)"] * len(gateway_ids))
    pk, gateway_id = column(FundsStep, "id"), column(FundsStep, "gateway_id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {t} SET {gateway_id} = v.gateway_id{', ' if assign else ''}{assign} "  # noqa: S608
            f"FROM (VALUES {rows}) AS v(id, gateway_id) WHERE {t}.{pk} = v.id{where}",
            [*assign_params, *(x for item in gateway_ids.items() for x in item), *where_params],
        )
        return cursor.rowcount
