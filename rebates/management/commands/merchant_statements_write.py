from __future__ import annotations

import time
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from rebates.services.statements import SHANGHAI, merchant_statements_write


class Command(BaseCommand):
    help = (
        "Write every merchant's daily statement for a day (Asia/Shanghai), or each day of a range; "
        "a re-run writes the same statements. Default: yesterday."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (default: yesterday, Asia/Shanghai).")
        parser.add_argument("--until", help="YYYY-MM-DD: write every day from --date to this one.")

    def handle(self, *args, date=None, until=None, **options):
        try:
            first = (
                date_parse(date) if date else timezone.now().astimezone(SHANGHAI).date() - timedelta(days=1)
            )
            last = date_parse(until) if until else first
        except ValueError as error:
            raise CommandError(str(error)) from None
        if last < first:
            raise CommandError("--until is before --date.")
        day = first
        while day <= last:
            started = time.monotonic()
            self.stdout.write(f"{day}:")

            def progress(stage: str, count: int, started=started) -> None:
                self.stdout.write(f"  {stage}: {count} ({time.monotonic() - started:.1f} s)")

            count = merchant_statements_write(date=day, progress=progress)
            self.stdout.write(self.style.SUCCESS(f"  {count} statements written"))
            day += timedelta(days=1)


def date_parse(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD).") from None
