from django.db.models import QuerySet

from .models import Store


def store_qs_for_update() -> QuerySet[Store]:
    """Stores locked FOR NO KEY UPDATE in pk order."""
    return Store.objects.order_by("pk").select_for_update(no_key=True, of=("self",))
