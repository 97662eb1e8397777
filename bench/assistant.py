"""The customer-service assistant on its labelled question set (issue 15).

    DJANGO_SETTINGS_MODULE=shop.settings.test .venv/bin/python bench/assistant.py [--rounds 5]

What it does:
1. Creates a throw-away PostgreSQL test database (``test_<name>``, as pytest would),
   migrates it (which seeds the phrase table) and builds a small shop with the test
   helpers: one buyer with a shipped order, a received one and a team order waiting for
   its team, plus a pending rebate, all through the real services.
2. Recognition: reads every question of ``assistant/tests/questions.py`` and prints the
   accuracy, the errors, the confusion matrix (rows: the labelled intent, columns: what
   was recognised) and how many money questions were answered under a wrong intent; then
   the same (without the matrix) for ``HELD_OUT``, questions the table was not fitted to.
3. Answer time: runs each question ``--rounds`` times through ``assistant_message_post``
   (the whole turn the API makes: recognition, the order, the answer from the database,
   the conversation and both messages written), in process — no HTTP, no network —
   half naming the shipped order (``order_id``), half not (the order is then picked,
   or asked for). A question naming an order the buyer does not have ("订单1024…") is
   timed to its 404. Prints p50 / p95 / p99 / max in milliseconds, and the same for
   recognition alone; as references, a bare ``SELECT 1`` and ``order_get_for_buyer`` timed
   the same way in the same run; then one more pass counting the SQL statements of a turn and the
   time spent in them (PostgreSQL on this machine: the rest is Python).
4. Drops the database. Prints the load average: on a shared machine it moves every
   figure.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings.test")

INTENTS = ["order_status", "refund", "team", "rebate", "withdrawal", "handover", "unknown"]
SHORT = {"order_status": "status", "withdrawal": "withdraw"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def recognition_report(questions, *, matrix_too: bool = True) -> None:
    from assistant.intents import MONEY_INTENTS, intent_recognize

    matrix: Counter = Counter()
    wrong = []
    for text, want in questions:
        got = intent_recognize(text).intent
        matrix[want, got] += 1
        if got != want:
            wrong.append((text, want, got))
    right = len(questions) - len(wrong)
    print(f"questions: {len(questions)}, intents right: {right} ({right / len(questions):.1%})")
    money_wrong = [w for w in wrong if w[1] in MONEY_INTENTS and w[2] not in ("unknown", "handover")]
    into_money = [w for w in wrong if w[1] not in MONEY_INTENTS and w[2] in MONEY_INTENTS]
    print(
        f"money questions under a wrong intent: {len(money_wrong)}; others read as money: {len(into_money)}"
    )
    for text, want, got in wrong:
        print(f"  wrong: {text!r}: labelled {want}, recognised {got}")
    if not matrix_too:
        return
    names = [SHORT.get(i, i) for i in INTENTS]
    print("\nconfusion matrix (rows labelled, columns recognised)")
    print(f"{'':>10}" + "".join(f"{n:>10}" for n in names))
    for want, name in zip(INTENTS, names, strict=True):
        print(f"{name:>10}" + "".join(f"{matrix[want, got]:>10}" for got in INTENTS))


def build_shop():
    from assistant.tests.helpers import Shop

    shop = Shop()
    shipped = shop.order("shipped")
    shop.order("received")
    shop.team_order()
    return shop, shipped


def timing_report(questions, *, rounds: int) -> None:
    from assistant.intents import intent_recognize
    from assistant.services import assistant_message_post
    from shop.errors import NotFound

    shop, shipped = build_shop()
    for text, _ in questions[:20]:  # warm-up: jieba, the phrase table, connections
        assistant_message_post(asker=shop.buyer, text=text, order_id=shipped.pk)
    turns, reads = [], []
    for _ in range(rounds):
        for n, (text, _) in enumerate(questions):
            start = time.perf_counter()
            intent_recognize(text)
            reads.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            # "订单1024…" names an order this buyer does not have: the API's 404
            with contextlib.suppress(NotFound):
                assistant_message_post(asker=shop.buyer, text=text, order_id=shipped.pk if n % 2 else None)
            turns.append((time.perf_counter() - start) * 1000)
    _reference(shop=shop, order_id=shipped.pk, n=len(turns))
    statements, sql_ms, wall_ms = _sql_share(questions, shop=shop, order_id=shipped.pk)
    print(
        f"SQL per turn (one more pass): {statements / len(questions):.1f} statements, "
        f"{sql_ms / len(questions):.2f} ms in SQL of {wall_ms / len(questions):.2f} ms"
    )
    for label, values in (("whole turn", turns), ("recognition", reads)):
        print(
            f"{label}: n={len(values)} p50={statistics.median(values):.2f} ms "
            f"p95={percentile(values, 95):.2f} ms p99={percentile(values, 99):.2f} ms "
            f"max={max(values):.2f} ms"
        )


def _reference(*, shop, order_id: int, n: int) -> None:
    """What this box gives anything right now, in the same run: a bare ``SELECT 1`` and
    the buyer's order read through ``order_get_for_buyer`` (the first thing a turn does)."""
    from django.db import connection

    from orders.selectors import order_get_for_buyer

    for label, call in (
        ("reference SELECT 1", lambda: connection.cursor().execute("SELECT 1")),
        ("reference order_get_for_buyer", lambda: order_get_for_buyer(buyer=shop.buyer, order_id=order_id)),
    ):
        values = []
        for _ in range(n):
            start = time.perf_counter()
            call()
            values.append((time.perf_counter() - start) * 1000)
        print(f"{label}: n={n} p50={statistics.median(values):.2f} ms p95={percentile(values, 95):.2f} ms")


def _sql_share(questions, *, shop, order_id: int) -> tuple[int, float, float]:
    """Statements and time spent in the database over one pass (timed apart: capturing
    queries slows every one a little)."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from assistant.services import assistant_message_post
    from shop.errors import NotFound

    statements, sql_s, start = 0, 0.0, time.perf_counter()
    for n, (text, _) in enumerate(questions):
        reset_queries()  # the log is a bounded deque: a full one would count nothing
        with CaptureQueriesContext(connection) as captured, contextlib.suppress(NotFound):
            assistant_message_post(asker=shop.buyer, text=text, order_id=order_id if n % 2 else None)
        statements += len(captured.captured_queries)
        sql_s += sum(float(q["time"]) for q in captured.captured_queries)
    return statements, sql_s * 1000, (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import logging

    import django

    django.setup()
    logging.getLogger("celery").setLevel(logging.WARNING)  # eager tasks of the shop's setup
    from django.db import connection
    from django.test.utils import setup_test_environment

    from assistant.tests.questions import HELD_OUT, QUESTIONS

    setup_test_environment(debug=False)  # shop.settings.test has DEBUG on: no query log while timing
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    print(f"database: {name}")
    try:
        print("== the labelled set (the phrase table was written with it in view)")
        recognition_report(QUESTIONS)
        print("\n== held out (written after the table was frozen; never tuned on)")
        recognition_report(HELD_OUT, matrix_too=False)
        print()
        timing_report(QUESTIONS, rounds=args.rounds)
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
    print(
        "load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f} on {} cores".format(
            *os.getloadavg(), os.cpu_count()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
