from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from shop.sweepers import run_all


class Command(BaseCommand):
    help = (
        "Run every periodic job once, as Celery beat would: unpaid-order time-outs, auto-receipt, "
        "closing after-sales windows, settlement catch-up. Use --now to catch up as of a given time."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", help="Act as of this ISO-8601 time (default: the current time).")

    def handle(self, *args, now=None, **options):
        when = timezone.now()
        if now:
            when = parse_datetime(now)
            if when is None:
                raise CommandError(f"--now {now!r} is not an ISO-8601 date and time.")
            if timezone.is_naive(when):
                when = timezone.make_aware(when)
        self.stdout.write(f"Running periodic jobs as of {when.isoformat()}")

        def report(name: str, description: str, count: int) -> None:
            outcome = "FAILED (see log)" if count < 0 else f"{count} handled"
            self.stdout.write(f"  {description}: {outcome}")

        results = run_all(now=when, on_result=report)
        if any(count < 0 for count in results.values()):
            raise CommandError("Some periodic jobs failed; see the log above.")
        self.stdout.write(self.style.SUCCESS("All periodic jobs ran."))
