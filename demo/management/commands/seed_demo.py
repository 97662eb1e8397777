from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand

from demo.bulk import MEMBERS_PER_STORE, ORDERS_PER_STORE, STORES_PER_SCALE, seed_scale
from demo.seed import (
    seed_catalog,
    seed_coupon_campaign,
    seed_leader,
    seed_ops_user,
    seed_promotions,
    seed_store,
)


class Command(BaseCommand):
    help = (
        "Fill the database with demo data (safe to run again: nothing is duplicated): an approved merchant "
        "with a paid deposit (login code sandbox:demo-merchant), products with stock and team prices, "
        "approved live flash offers, "
        "a group store owned by sandbox:demo-owner with members, and an ops superuser for /admin/. "
        f"--scale N adds N x {STORES_PER_SCALE} stores, each with {MEMBERS_PER_STORE} members and "
        f"{ORDERS_PER_STORE} orders, in bulk, for benchmarks."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=int, default=0, help="Add N× more stores, members and orders.")

    def handle(self, *args, scale: int = 0, **options):
        say = self.stdout.write
        say("Seeding demo data…")
        merchant = seed_catalog(say)
        store = seed_store(say)
        seed_leader(say)
        seed_promotions(say, store=store)
        seed_coupon_campaign(say)
        seed_ops_user(say)
        if scale > 0:
            started = time.monotonic()
            made = seed_scale(scale=scale, merchant=merchant, progress=self._progress(started))
            say("")
            say(
                f"  added {made['stores']:,} stores, {made['members']:,} members, {made['orders']:,} orders "
                f"in {time.monotonic() - started:.0f} s"
            )
        say(self.style.SUCCESS("Demo data is ready."))

    def _progress(self, started: float):
        def show(done: int, total: int) -> None:
            width = 30
            filled = width * done // total
            elapsed = time.monotonic() - started
            eta = elapsed / done * (total - done) if done else 0
            line = f"\r  [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} stores  ETA {eta:,.0f} s"
            self.stdout.write(line, ending="")
            if sys.stdout.isatty() or done == total:
                self.stdout.flush()

        return show
