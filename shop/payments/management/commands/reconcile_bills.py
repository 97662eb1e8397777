from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from shop.errors import ApplicationError
from shop.payments.models import BillImport
from shop.payments.reconciliation import BILL_KINDS, bill_reconcile, cases_open_count, matchers_for


class Command(BaseCommand):
    help = (
        "Fetch the gateway's bills of one day (Asia/Shanghai) and match them with our payments, "
        "refunds, shares and subsidies (and book WeChat's handling fees), now, whether imported "
        "before or not: differences become reconciliation cases in admin. Re-running changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, help="The bill's day, YYYY-MM-DD.")
        parser.add_argument(
            "--kind", action="append", help="A bill kind (repeatable; default: every kind matched)."
        )
        parser.add_argument("--sub-mchid", default="", help="A secondary merchant's own bill.")
        parser.add_argument("--gateway", default=None, help="Default: settings.ECOMMERCE_GATEWAY.")

    def handle(self, *args, date, kind=None, sub_mchid="", gateway=None, **options):
        day = parse_date(date)
        if day is None:
            raise CommandError(f"--date {date!r} is not YYYY-MM-DD.")
        gateway = gateway or settings.ECOMMERCE_GATEWAY
        kinds = kind or [name for name in BILL_KINDS.names() if matchers_for(name)]
        unknown = [name for name in kinds if name not in BILL_KINDS]
        if unknown:
            raise CommandError(f"Unknown bill kind(s) {unknown}; known: {BILL_KINDS.names()}.")
        failed = False
        runs = [
            (name, account)
            for name in kinds
            for account in ([sub_mchid] if sub_mchid else BILL_KINDS.get(name).accounts())
        ]
        for name, account in runs:
            started = time.perf_counter()

            def progress(lines: int, name=name, started=started) -> None:
                rate = lines / max(time.perf_counter() - started, 1e-9)
                self.stdout.write(f"  {name}: {lines:,} lines read ({rate:,.0f} lines/s)")

            self.stdout.write(f"{gateway} {name} bill of {day}{f' ({account})' if account else ''}:")
            try:
                bill = bill_reconcile(
                    gateway=gateway, kind=name, bill_date=day, sub_mchid=account, progress=progress
                )
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            seconds = time.perf_counter() - started
            if bill.status == BillImport.Status.DONE:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"  done: {bill.line_count:,} lines in {seconds:.1f} s, {bill.case_count} new case(s)"
                    )
                )
            else:
                failed = failed or bill.status == BillImport.Status.FAILED
                self.stdout.write(self.style.WARNING(f"  {bill.get_status_display()}: {bill.last_error}"))
        self.stdout.write(f"Open reconciliation cases: {cases_open_count()}")
        if failed:
            raise CommandError("A bill could not be read; see above.")
