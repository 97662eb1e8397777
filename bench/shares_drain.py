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
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.harness import REDIS, load  # noqa: E402
from bench.settlement import EXTRA_ENV, parked_queue, redis_cleanup, shared_env, start_workers, step  # noqa: E402


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
    opts = parser.parse_args()
    say = print  # noqa: T201
    db = opts.database
    if not opts.reuse:
        say(f"settlement of {opts.orders} shared orders (bench/settlement.py) … {load()}")
        settle = ["bench/settlement.py", "--funds", "profit_sharing", "--orders", str(opts.orders)]
        harness.run([harness.PYTHON, *settle, "--database", db, "--keep"])
    EXTRA_ENV.update(shared_env(db))
    target, parked = f"{db}_b", parked_queue(f"{db}_b")
    scripted = step(target, "shares_drain:script", {"limited": opts.limited, "failures": opts.failures})
    say(f"scripted sandbox: {scripted}")

    queue = f"bench-drain-{os.getpid()}"
    log_dir = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    say(f"draining {target} with 1 worker prefork -c 2 … {load()}")
    workers = start_workers(target, queue, False, log_dir)
    try:
        import redis

        client = redis.Redis.from_url(REDIS)
        from shop.api.metrics import priority_lists, queue_length

        messages = queue_length(client, parked)
        # The clock starts: the workers see settlement's sends (each priority's list moved).
        for source, target_list in zip(priority_lists(parked), priority_lists(queue), strict=True):
            if client.exists(source):
                client.rename(source, target_list)
        waited = step(target, "shares_drain:wait", {"timeout": opts.timeout}, CELERY_TASK_DEFAULT_QUEUE=queue)
    finally:
        for worker in workers:
            harness.stop(worker)
    waited["messages_from_settlement"] = messages
    waited["load_after"] = load()
    timeline = waited.pop("timeline_every_10")
    say(f"drained: {waited}")
    say(f"timeline (s, shares done, steps open) every 10 s: {timeline}")
    checked = {"failures": opts.failures, "platform_before": scripted["platform_released_before"]}
    verified = step(target, "shares_drain:verify", checked)
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
        redis_cleanup(queues=[queue, parked], namespace=f"bench-{db}")
        for name in (f"{db}_a", f"{db}_b", f"{db}_seed"):
            harness.database_drop(name)
    sys.exit(1 if verified["problems"] else 0)


if __name__ == "__main__":
    os.chdir(harness.ROOT)
    main()
