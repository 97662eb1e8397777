"""``bench/groupstore_dashboard.py``'s data, run in its Django process."""

from __future__ import annotations

import random


def prepare(*, owners: int, targets: str) -> dict:
    """Bearer tokens for ``owners`` bulk store owners chosen at random, written to ``targets`` as
    "<token> <store id>" lines; the database's size and the members page's plan."""
    from django.db import connection

    from accounts.models import User
    from accounts.services import token_issue
    from groupstore.models import Membership, Store
    from groupstore.selectors import member_list_for_owner
    from orders.models import Order

    pairs = list(Store.objects.filter(name__startswith="团购群 ").values_list("owner_id", "pk"))
    random.Random(7).shuffle(pairs)
    chosen = pairs[:owners]
    users = {u.pk: u for u in User.objects.filter(pk__in=[o for o, _ in chosen])}
    lines = [f"{token_issue(user=users[o])} {s}" for o, s in chosen]
    with open(targets, "w") as out:
        out.write("\n".join(lines) + "\n")
    store = Store.objects.get(pk=chosen[0][1])
    plan = member_list_for_owner(store_id=store.pk).explain(analyze=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cursor.fetchone()[0]
    return {
        "stores": Store.objects.count(),
        "members": Membership.objects.filter(role="member").count(),
        "orders": Order.objects.count(),
        "database_size": size,
        "members_page_plan": plan,
    }
