"""The books after a sale day (``check`` of ``bench/setup/saleday_data.py``): what must hold
whatever the load did.

Every check returns ``{"ok": bool, ...}`` with counts and, when it fails, the first
offending rows, so a failure names what to look at. Raw SQL where a join says it best.
"""

from __future__ import annotations

import io

from django.core.management import call_command
from django.db import connection

PAID_LIKE = ("awaiting_team", "paid", "shipped", "received", "completed", "refunded")
HOLDING = ("pending_payment", "awaiting_team", "paid")


def _rows(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _verdict(bad: list, **figures) -> dict:
    return {"ok": not bad, "bad_count": len(bad), "bad_sample": [list(r) for r in bad[:10]], **figures}


def check_payments_orders() -> dict:
    """One order per (payment, merchant); payment succeeded ⇔ its orders were paid; sums agree."""
    dupes = _rows(
        "SELECT payment_id, merchant_id, count(*) FROM orders_order GROUP BY 1, 2 HAVING count(*) > 1"
    )
    mismatch = _rows(
        """
        SELECT p.id, p.status, p.amount_fen, sum(o.paid_fen), array_agg(DISTINCT o.status)
        FROM payments_payment p JOIN orders_order o ON o.payment_id = p.id
        GROUP BY p.id
        HAVING sum(o.paid_fen) <> p.amount_fen
            OR (p.status = 'succeeded') <> bool_and(o.status = ANY(%s))
            OR (p.status <> 'succeeded') <> bool_and(o.status IN ('pending_payment', 'cancelled'))
        """,
        [list(PAID_LIKE)],
    )
    orphans = _rows(
        "SELECT p.id FROM payments_payment p WHERE p.purpose = 'order_checkout' "
        "AND NOT EXISTS (SELECT 1 FROM orders_order o WHERE o.payment_id = p.id)"
    )
    by_status = dict(_rows("SELECT status, count(*) FROM orders_order GROUP BY 1"))
    payments = dict(
        _rows("SELECT status, count(*) FROM payments_payment WHERE purpose = 'order_checkout' GROUP BY 1")
    )
    multi = _rows(
        "SELECT count(*) FROM (SELECT payment_id FROM orders_order GROUP BY 1 HAVING count(*) > 1) x"
    )
    return _verdict(
        [("dup", *r) for r in dupes]
        + [("mismatch", *r) for r in mismatch]
        + [("orphan", *r) for r in orphans],
        orders_by_status=by_status,
        checkout_payments_by_status=payments,
        multi_merchant_checkouts=multi[0][0],
    )


def check_stock(initial: dict[str, int]) -> dict:
    """initial on_hand = on_hand + shipped units; reserved = units held by unshipped orders."""
    shipped = dict(
        _rows(
            "SELECT i.sku_id, sum(i.qty - i.refunded_qty) FROM orders_orderitem i "
            "JOIN orders_order o ON o.id = i.order_id WHERE o.shipped_at IS NOT NULL GROUP BY 1"
        )
    )
    held = dict(
        _rows(
            "SELECT i.sku_id, sum(i.qty - i.refunded_qty) FROM orders_orderitem i "
            "JOIN orders_order o ON o.id = i.order_id WHERE o.shipped_at IS NULL AND o.status = ANY(%s) "
            "GROUP BY 1",
            [list(HOLDING)],
        )
    )
    bad = []
    skus = _rows("SELECT id, on_hand, reserved FROM products_sku ORDER BY id")
    for sku_id, on_hand, reserved in skus:
        start = initial.get(str(sku_id))
        out, hold = shipped.get(sku_id, 0), held.get(sku_id, 0)
        if start is None or start != on_hand + out or reserved != hold or on_hand < reserved or reserved < 0:
            bad.append((sku_id, start, on_hand, out, reserved, hold))
    return _verdict(
        bad,
        columns="sku, initial on_hand, on_hand, shipped, reserved, held by orders",
        skus=len(skus),
        units_shipped=sum(shipped.values()),
        units_held=sum(held.values()),
    )


def check_flash(offer_id: int) -> dict:
    offer = _rows(
        "SELECT quantity, sold_count, per_user_limit FROM orders_flashoffer WHERE id = %s", [offer_id]
    )
    quantity, sold, limit = offer[0]
    units = _rows(
        "SELECT coalesce(sum(i.qty), 0) FROM orders_orderitem i JOIN orders_order o ON o.id = i.order_id "
        "WHERE i.flash_offer_id = %s AND o.status <> 'cancelled'",
        [offer_id],
    )[0][0]
    over = _rows(
        "SELECT o.buyer_id, sum(i.qty) FROM orders_orderitem i JOIN orders_order o ON o.id = i.order_id "
        "WHERE i.flash_offer_id = %s AND o.status <> 'cancelled' GROUP BY 1 HAVING sum(i.qty) > %s",
        [offer_id, limit],
    )
    bad = [("buyer_over_limit", *r) for r in over]
    if sold != units or sold > quantity:
        bad.append(("sold_count", quantity, sold, units))
    return _verdict(bad, quantity=quantity, sold_count=sold, units_in_live_orders=units)


def check_teams() -> dict:
    bad = _rows(
        """
        SELECT t.id, t.status, t.size, t.members_count, t.paid_count,
               count(m.*) FILTER (WHERE m.status <> 'released') AS seats,
               count(m.*) FILTER (WHERE m.status = 'paid') AS paid
        FROM orders_team t LEFT JOIN orders_teammember m ON m.team_id = t.id
        GROUP BY t.id
        HAVING t.members_count > t.size
            OR (t.status = 'succeeded' AND count(m.*) FILTER (WHERE m.status = 'paid') <> t.size)
            OR t.status = 'open'
        """
    )
    stuck = _rows(
        "SELECT o.id, o.status FROM orders_order o JOIN orders_teammember m ON m.order_id = o.id "
        "JOIN orders_team t ON t.id = m.team_id WHERE t.status = 'failed' "
        "AND o.status NOT IN ('refunded', 'cancelled')"
    )
    return _verdict(
        [("team", *r) for r in bad] + [("failed_team_order", *r) for r in stuck],
        teams_by_status=dict(_rows("SELECT status, count(*) FROM orders_team GROUP BY 1")),
    )


def check_ledger() -> dict:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("ledger_check", stdout=out, stderr=err)
        ok = True
    except Exception as exc:  # CommandError: out of balance
        ok = False
        err.write(str(exc))
    figures = _rows("SELECT count(*) FROM ledger_transaction")[0][0]
    return {"ok": ok, "transactions": figures, "output": (out.getvalue() + err.getvalue())[-2000:]}


def check_wallets() -> dict:
    """Every wallet account equals its entries; nothing still held once payouts ended."""
    drift = _rows(
        """
        SELECT a.id, a.kind, a.owner_id, a.balance_fen, coalesce(sum(e.amount_fen), 0)
        FROM ledger_account a LEFT JOIN ledger_entry e ON e.account_id = a.id
        WHERE a.owner_type = 'user'
        GROUP BY a.id HAVING a.balance_fen <> coalesce(sum(e.amount_fen), 0)
        """
    )
    held = _rows(
        """
        SELECT a.owner_id, a.balance_fen,
               (SELECT coalesce(sum(w.amount_fen), 0) FROM rebates_withdrawal w
                WHERE w.user_id = a.owner_id AND w.status IN ('processing', 'wait_user_confirm'))
        FROM ledger_account a WHERE a.owner_type = 'user' AND a.kind = 'user_held'
        """
    )
    held_bad = [r for r in held if r[1] != r[2]]
    withdrawals = dict(_rows("SELECT status, count(*) FROM rebates_withdrawal GROUP BY 1"))
    paid_out = _rows("SELECT coalesce(sum(amount_fen), 0) FROM rebates_withdrawal WHERE status = 'succeeded'")
    totals = dict(
        _rows("SELECT kind, sum(balance_fen) FROM ledger_account WHERE owner_type = 'user' GROUP BY 1")
    )
    return _verdict(
        [("drift", *r) for r in drift] + [("held", *r) for r in held_bad],
        wallet_accounts=len(held),
        user_balances_fen=totals,
        withdrawals_by_status=withdrawals,
        withdrawn_fen=paid_out[0][0],
    )


def check_envelopes() -> dict:
    """claimed + returned + left = total, for every envelope; each member once; each store's pool
    holds what its open envelopes have left."""
    bad = _rows(
        """
        SELECT r.id, r.total_fen, coalesce(c.claimed, 0), r.returned_fen, r.remaining_fen, r.status
        FROM rebates_redenvelope r
        LEFT JOIN (SELECT envelope_id, sum(amount_fen) claimed, count(*) n FROM rebates_redenvelopeclaim
                   GROUP BY 1) c ON c.envelope_id = r.id
        WHERE coalesce(c.claimed, 0) + r.returned_fen + r.remaining_fen <> r.total_fen
           OR coalesce(c.n, 0) > r.shares
        """
    )
    # Each store's pool holds what its open envelopes still have (ledger_check checks it too).
    bad += _rows(
        """
        SELECT 'pool', a.owner_id, a.balance_fen, coalesce(e.fen, 0)
        FROM ledger_account a
        LEFT JOIN (SELECT store_id, sum(remaining_fen) fen FROM rebates_redenvelope WHERE status = 'open'
                   GROUP BY 1) e ON e.store_id = a.owner_id
        WHERE a.kind = 'red_envelope_pool' AND a.owner_type = 'store' AND a.balance_fen <> coalesce(e.fen, 0)
        """
    )
    figures = _rows(
        "SELECT count(*), coalesce(sum(total_fen), 0), (SELECT count(*) FROM rebates_redenvelopeclaim), "
        "(SELECT coalesce(sum(amount_fen), 0) FROM rebates_redenvelopeclaim) FROM rebates_redenvelope"
    )[0]
    return _verdict(
        bad, envelopes=figures[0], total_fen=figures[1], claims=figures[2], claimed_fen=figures[3]
    )


def check_settlement() -> dict:
    """After the travel every completed order is settled and no accrual of it is pending."""
    bad = _rows(
        "SELECT o.id, o.status FROM orders_order o WHERE o.status = 'completed' AND ("
        "NOT EXISTS (SELECT 1 FROM rebates_ordersettlement s WHERE s.order_id = o.id) "
        "OR EXISTS (SELECT 1 FROM rebates_accrual a WHERE a.order_id = o.id AND a.status = 'pending'))"
    )
    left = _rows(
        "SELECT status, count(*) FROM orders_order WHERE status IN ('pending_payment', 'paid', 'shipped', "
        "'received', 'awaiting_team') GROUP BY 1"
    )
    return _verdict(bad, not_final_orders=dict(left))


def check_store_stats() -> dict:
    bad = _rows(
        "SELECT s.store_id, s.members_count, count(m.*) FROM groupstore_storestats s "
        "LEFT JOIN groupstore_membership m ON m.store_id = s.store_id "
        "GROUP BY 1, 2 HAVING s.members_count <> count(m.*)"
    )
    return _verdict(bad, memberships=_rows("SELECT count(*) FROM groupstore_membership")[0][0])


def check_all(setup: dict) -> dict:
    return {
        "payments_orders": check_payments_orders(),
        "stock": check_stock(setup["initial_on_hand"]),
        "flash": check_flash(setup["flash"]["offer_id"]),
        "teams": check_teams(),
        "ledger": check_ledger(),
        "wallets": check_wallets(),
        "envelopes": check_envelopes(),
        "settlement": check_settlement(),
        "store_stats": check_store_stats(),
    }
