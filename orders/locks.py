from django.db.models import QuerySet

from .models import FlashOffer, Order


def order_qs_for_update() -> QuerySet[Order]:
    """Orders locked FOR NO KEY UPDATE in pk order (joined rows are not locked), so two
    writers touching the same orders queue instead of deadlocking."""
    return Order.objects.order_by("pk").select_for_update(no_key=True, of=("self",))


def flash_offer_qs_for_update() -> QuerySet[FlashOffer]:
    """Flash offers locked FOR NO KEY UPDATE (ops' review; checkout's counters queue behind it
    only for the instant of the decision), joined rows unlocked."""
    return FlashOffer.objects.order_by("pk").select_for_update(no_key=True, of=("self",))
