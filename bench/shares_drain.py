"""Draining the shares a settlement wrote: every share row (``FundsStep`` ``S<order>``) sent
to the e-commerce sandbox, polled, confirmed (the order settles), its unfreeze written,
sent, polled and confirmed — by 2 Celery worker processes through Redis, as in production.

    /work/main/.venv/bin/python bench/shares_drain.py --orders 10000
    # or drain a kept settlement run:
    /work/main/.venv/bin/python bench/settlement.py --funds profit_sharing --orders 10000 \\
        --database bench_sh --keep
    /work/main/.venv/bin/python bench/shares_drain.py --database bench_sh --reuse

What it does, step by step:
1. Unless ``--reuse``: runs ``bench/settlement.py --funds profit_sharing --keep`` (its seed,
   its two measured settlements); what is drained is ``<db>_b``, settled by 2 workers, with
   the after-commit send messages settlement enqueued still waiting on their parked queue.
2. Scripts the sandbox (its ``control``, shared through Redis with the workers): every share
   and unfreeze answers ``PROCESSING`` on its first poll (``processing_polls(2)``); the next
   ``--limited`` share requests and ``--limited`` queries answer ``FREQUENCY_LIMITED``; then
   ``--failures`` share requests are accepted and ``CLOSED`` (the receiver refused: the money
   goes back, the step becomes an ops case). The per-merchant limit is WeChat's documented
   one for the e-commerce share request (请求分账, pay.weixin.qq.com/docs/partner/apis/
   ecommerce-profit-sharing/orders/create-order.html): 300 QPS per trade-receiving merchant
   (our ``sub_mchid``; the sandbox's ``rate_per_s``), 2,000 QPS per platform; our sender
   keeps to ``FUNDS_STEP_RATE_PER_S`` (250) per ``sub_mchid`` across workers.
3. Starts one worker ``prefork -c 2`` on ``<db>_b`` consuming an empty queue; once it is up,
   renames the parked queue onto it (atomic in Redis): the clock starts with the first
   message the workers can see. The delayed polls and retries go to the same queue. Beat's
   steps sweeper is run every 60 s, as beat would.
4. Waits until no step is open, then checks, from the sandbox's own records and ours:
   every share applied exactly once per ``out_order_no`` at the gateway (its share journal:
   one line per confirmed share, none for a closed one), the platform received exactly the
   confirmed shares, each merchant released exactly its confirmed unfreezes and still has
   frozen exactly the parts of its closed shares; every share ``confirmed`` except the
   scripted failures (``failed``, ops cases), none lost (one share per order, one confirmed
   unfreeze and one settlement per confirmed share), every scripted answer consumed;
   ``ledger_check`` passes. Prints shares/s, steps/s, gateway calls/s and the totals.
5. Drops the databases and the Redis keys (``--keep`` keeps them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from settlement import (
    EXTRA_ENV,
    REDIS,
    ROOT,
    _redis_cleanup,
    _start_workers,
    load,
    parked_queue,
    psql,
    run,
    shared_env,
)
from settlement import step as settlement_step

SWEEP_EVERY_S = 60  # beat's period for the steps' sweeper


def step(database: str, name: str, *args: str, **env: str) -> dict:
    """One step of this script in a fresh Django process (``settlement.step``)."""
    return settlement_step(database, name, *args, script=__file__, **env)


# --- steps run inside Django --------------------------------------------------------------


def _script(limited: int, failures: int) -> dict:
    import django

    django.setup()
    from django.conf import settings

    from shop.payments.gateways.ecommerce_sandbox import DEFAULT_RATE_PER_S, SandboxEcommerceGateway
    from shop.payments.models import FundsStep

    gateway = SandboxEcommerceGateway()
    control = gateway.control
    control.processing_polls(2)  # PROCESSING on the first poll, FINISHED on the second
    control.rate_limit(DEFAULT_RATE_PER_S)
    control.answer("profit_share_create", "FREQUENCY_LIMITED", times=limited)
    control.answer("profit_share_query", "FREQUENCY_LIMITED", times=limited)
    control.answer("profit_share_create", "CLOSED", times=failures)
    return {
        "shares": FundsStep.objects.filter(kind=FundsStep.Kind.SHARE).count(),
        "open_steps": FundsStep.objects.filter(status__in=FundsStep.OPEN).count(),
        "platform_released_before": gateway.balances(gateway.platform_mchid)["released"],
        "sandbox_rate_per_s": DEFAULT_RATE_PER_S,
        "our_rate_per_s": settings.FUNDS_STEP_RATE_PER_S,
        "lease_s": settings.FUNDS_STEP_LEASE_S,
    }


def _wait(timeout: int) -> dict:
    """Poll until no step is open; run the steps' sweeper every minute as beat would."""
    import django

    django.setup()
    from django.db.models import Count, Q
    from django.utils import timezone

    from shop.payments.models import FundsStep
    from shop.payments.steps import funds_steps_sweep

    started = time.perf_counter()
    swept_at, sweeps, shares_done_s, timeline = started, 0, None, []
    total = FundsStep.objects.filter(kind=FundsStep.Kind.SHARE).count()
    while time.perf_counter() - started < timeout:
        time.sleep(1)
        counts = FundsStep.objects.aggregate(
            open=Count("pk", filter=Q(status__in=FundsStep.OPEN)),
            shares_done=Count("pk", filter=Q(kind="share", status__in=("confirmed", "failed"))),
        )
        elapsed = time.perf_counter() - started
        if len(timeline) < 2000:
            timeline.append((round(elapsed, 1), counts["shares_done"], counts["open"]))
        if shares_done_s is None and counts["shares_done"] == total:
            shares_done_s = elapsed
        if counts["open"] == 0 and shares_done_s is not None:
            break
        if time.perf_counter() - swept_at >= SWEEP_EVERY_S:
            funds_steps_sweep(timezone.now())
            swept_at, sweeps = time.perf_counter(), sweeps + 1
    return {
        "shares": total,
        "shares_done_s": round(shares_done_s, 1) if shares_done_s else None,
        "all_done_s": round(time.perf_counter() - started, 1),
        "sweeps": sweeps,
        "timeline_every_10": timeline[::10],
    }


def _verify(failures: int, platform_before: int) -> dict:
    import django

    django.setup()
    from collections import Counter, defaultdict
    from datetime import timedelta

    from django.core.management import call_command
    from django.db.models import Count, Sum
    from django.utils import timezone

    from rebates.models import OrderSettlement
    from shop.ledger.models import Transaction
    from shop.payments.gateways.ecommerce_sandbox import SHANGHAI, SandboxEcommerceGateway
    from shop.payments.models import FundsStep, PaymentPart

    gateway = SandboxEcommerceGateway()
    steps = FundsStep.objects
    shares = {s.out_no: s for s in steps.filter(kind=FundsStep.Kind.SHARE).select_related("part")}
    confirmed = {no: s for no, s in shares.items() if s.status == FundsStep.Status.CONFIRMED}
    failed = {no: s for no, s in shares.items() if s.status == FundsStep.Status.FAILED}
    problems: list[str] = []

    # The sandbox's share journal (its bill's source): one line per applied share.
    today = timezone.now().astimezone(SHANGHAI).date()
    applied: Counter = Counter()
    for day in {today - timedelta(days=1), today}:
        for line in gateway._journal(day.strftime("%Y%m%d"), "profitsharing"):  # its own records
            if not line["return"]:
                applied[line["row"][5]] += 1  # 商户分账单号: our out_order_no
    twice = [no for no, n in applied.items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} shares applied more than once at the gateway, e.g. {twice[:5]}")
    if set(applied) != set(confirmed):
        problems.append(
            f"applied at the gateway {len(applied)} vs confirmed {len(confirmed)}: "
            f"{len(set(applied) - set(confirmed))} applied, not confirmed; "
            f"{len(set(confirmed) - set(applied))} confirmed, not applied"
        )
    for no, share in confirmed.items():
        record = gateway._s.get(f"share:{share.part.sub_mchid}:{no}")
        if record is None or record["status"] != "FINISHED" or record["total"] != share.amount_fen:
            problems.append(f"{no}: the sandbox's record {record and record['status']} differs")
            break
    platform = gateway.balances(gateway.platform_mchid)["released"] - platform_before
    shared_fen = sum(s.amount_fen for s in confirmed.values())
    if platform != shared_fen:
        problems.append(f"the platform received {platform} fen for {shared_fen} fen of confirmed shares")
    # Each merchant: released exactly its confirmed unfreezes, frozen exactly its closed shares' parts.
    released: dict[str, int] = defaultdict(int)
    for sub, amount in steps.filter(kind="unfreeze", status="confirmed").values_list(
        "part__sub_mchid", "amount_fen"
    ):
        released[sub] += amount
    frozen: dict[str, int] = defaultdict(int)
    for s in failed.values():
        frozen[s.part.sub_mchid] += s.part.amount_fen
    subs = set(PaymentPart.objects.values_list("sub_mchid", flat=True))
    for sub in sorted(subs):
        have = gateway.balances(sub)
        if have != {"frozen": frozen[sub], "released": released[sub]}:
            problems.append(
                f"sub_mchid {sub}: {have}, expected frozen {frozen[sub]}, released {released[sub]}"
            )

    # Ours: nothing lost, nothing twice, only the scripted failures failed.
    open_steps = steps.filter(status__in=FundsStep.OPEN).count()
    if open_steps:
        problems.append(f"{open_steps} steps still open")
    if len(failed) != failures:
        problems.append(f"{len(failed)} shares failed, {failures} scripted")
    if any(not s.last_error.startswith("share closed") for s in failed.values()):
        problems.append("a share failed for another reason than the scripted CLOSED")
    orders_with_parts = PaymentPart.objects.count()
    per_order = steps.filter(kind="share").values("order_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    if len(shares) != orders_with_parts or per_order:
        problems.append(f"{len(shares)} shares for {orders_with_parts} orders, {per_order} with two")
    unfrozen = steps.filter(kind="unfreeze", status="confirmed").count()
    settled = OrderSettlement.objects.count()
    postings = {
        kind: Transaction.objects.filter(kind=kind).count()
        for kind in ("share_finished", "unfreeze_confirmed")
    }
    if (
        not unfrozen
        == settled
        == postings["share_finished"]
        == postings["unfreeze_confirmed"]
        == len(confirmed)
    ):
        problems.append(
            f"confirmed {len(confirmed)}, unfrozen {unfrozen}, settled {settled}, postings {postings}"
        )
    left = {op: gateway.control.get(f"q:{op}", []) for op in ("profit_share_create", "profit_share_query")}
    if any(left.values()):
        problems.append(f"scripted answers not consumed: { {k: len(v) for k, v in left.items()} }")
    started = time.perf_counter()
    try:
        call_command("ledger_check", stdout=open(os.devnull, "w"))  # noqa: SIM115
        ledger = "passes"
    except Exception as exc:  # noqa: BLE001 - reported
        ledger = f"FAILS: {exc}"
        problems.append(ledger)
    calls = steps.aggregate(n=Sum("attempts"))["n"] or 0
    return {
        "shares": len(shares),
        "confirmed": len(confirmed),
        "failed_ops_cases": len(failed),
        "applied_at_gateway": sum(applied.values()),
        "unfreezes_confirmed": unfrozen,
        "orders_settled": settled,
        "platform_received_fen": platform,
        "steps": steps.count(),
        "claims": calls,  # each claim is one gateway call (send or poll), or a wait
        "ledger_check": ledger,
        "ledger_check_s": round(time.perf_counter() - started, 1),
        "problems": problems,
    }


# --- the driver ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_drain", help="settlement.py's --database")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--reuse", action="store_true", help="drain <db>_b of a settlement.py --keep run")
    parser.add_argument("--limited", type=int, default=50, help="share requests (and queries) rate-limited")
    parser.add_argument("--failures", type=int, default=20, help="shares the gateway closes (ops cases)")
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--keep", action="store_true", help="keep the databases and the Redis keys")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.step:
        answer = {"script": _script, "wait": _wait, "verify": _verify}[opts.step]
        print(json.dumps(answer(*[int(x) for x in opts.args])))  # noqa: T201
        return

    say = print  # noqa: T201
    db = opts.database
    if not opts.reuse:
        say(f"settlement of {opts.orders} shared orders (bench/settlement.py) … {load()}")
        run([sys.executable, "bench/settlement.py", "--funds", "profit_sharing", "--orders", str(opts.orders),
             "--database", db, "--keep"])  # fmt: skip
    EXTRA_ENV.update(shared_env(db))
    target, parked = f"{db}_b", parked_queue(f"{db}_b")
    scripted = step(target, "script", str(opts.limited), str(opts.failures))
    say(f"scripted sandbox: {scripted}")

    queue = f"bench-drain-{os.getpid()}"
    log_dir = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    say(f"draining {target} with 1 worker prefork -c 2 … {load()}")
    workers = _start_workers(target, queue, False, log_dir)
    try:
        import redis

        client = redis.Redis.from_url(REDIS)
        messages = client.llen(parked)
        if messages:
            client.rename(parked, queue)  # the clock starts: the workers see settlement's sends
        waited = step(target, "wait", str(opts.timeout), CELERY_TASK_DEFAULT_QUEUE=queue)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
    waited["messages_from_settlement"] = messages
    waited["load_after"] = load()
    timeline = waited.pop("timeline_every_10")
    say(f"drained: {waited}")
    say(f"timeline (s, shares done, steps open) every 10 s: {timeline}")
    verified = step(target, "verify", str(opts.failures), str(scripted["platform_released_before"]))
    say(f"verified: {verified}")
    shares_s = waited["shares_done_s"] or waited["all_done_s"]
    say(
        f"RESULT shares={verified['shares']} confirmed={verified['confirmed']} "
        f"failed(ops)={verified['failed_ops_cases']} in {shares_s} s = "
        f"{verified['shares'] / shares_s:.0f} shares/s; "
        f"all {verified['steps']} steps (shares + unfreezes) in {waited['all_done_s']} s = "
        f"{verified['steps'] / waited['all_done_s']:.0f} steps/s, {verified['claims']} claims = "
        f"{verified['claims'] / waited['all_done_s']:.0f} calls/s; ledger_check {verified['ledger_check']}; "
        f"problems: {verified['problems'] or 'none'}; {load()} (logs {log_dir})"
    )
    if not opts.keep:
        _redis_cleanup(queues=[queue, parked], namespace=f"bench-{db}")
        for name in (f"{db}_a", f"{db}_b", f"{db}_seed"):
            psql(f"DROP DATABASE IF EXISTS {name}")
    sys.exit(1 if verified["problems"] else 0)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
