"""Recompute every product's search vector (after a jieba dictionary change, or a bulk load)."""

import time

from django.core.management.base import BaseCommand
from django.db import connection

from products.services import product_refresh_search


class Command(BaseCommand):
    help = "Re-segment every product title with jieba and rewrite the search index (PostgreSQL)."

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            self.stdout.write("Not PostgreSQL: search uses a plain text match here; nothing to rebuild.")
            return
        started = time.monotonic()
        count = product_refresh_search()
        self.stdout.write(f"Re-indexed {count} products in {time.monotonic() - started:.1f} s.")
