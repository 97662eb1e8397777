from django.db.models import QuerySet

from .models import Order


def order_qs_for_update() -> QuerySet[Order]:
    """Orders locked FOR NO KEY UPDATE in pk order (joined rows are not locked), so two
    writers touching the same orders queue instead of deadlocking."""
    return Order.objects.order_by("pk").select_for_update(no_key=True, of=("self",))
