from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from shop.queues import URGENT


def touch_worker_heartbeat() -> None:
    cache.set("worker-heartbeat", timezone.now().isoformat(), 180)
    heartbeat = settings.VAR_DIR / "worker-heartbeat"
    heartbeat.parent.mkdir(parents=True, exist_ok=True)
    heartbeat.touch()


@shared_task(workload="payments", queue_priority=URGENT, acks_late=True, reject_on_worker_lost=True)
def sweepers_run_task() -> dict[str, int]:
    """Beat's minute tick: run every registered sweeper, then leave a worker heartbeat."""
    from shop.sweepers import run_all

    results = run_all(now=timezone.now())
    touch_worker_heartbeat()
    return results
