"""``bench/shares_drain.py``'s steps in a Django process: the sandbox scripted, the wait, the checks."""

from __future__ import annotations

import os
import time

SWEEP_EVERY_S = 60  # beat's period for the steps' sweeper


def script(*, limited: int, failures: int) -> dict:
    """The sandbox's answers scripted (step 2 of ``bench/shares_drain.py``)."""
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


def wait(*, timeout: int) -> dict:
    """Poll until no step is open; run the steps' sweeper every minute as beat would."""
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


def verify(*, failures: int, platform_before: int) -> dict:
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
