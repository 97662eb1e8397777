"""No personal data of members in anything the store's owner can read (docs/design.md: owners
see nicknames and figures, never phones or addresses; leaders are never sent a member's
phone or address).

Data-driven from the schema: every ``GET`` operation whose path parameters are all ones
the owner can fill (none, or the store) is called as the owner, and the raw JSON is
scanned for each member's phone, openid, unionid and the delivery address of their
orders. A new owner-facing endpoint is scanned as soon as it is in the schema.
"""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from groupstore.models import Membership
from tests.world import ADDRESS

pytestmark = pytest.mark.django_db

FILLABLE = {"store_id": lambda w: w.store.pk}
SKIP = {"/api/schema/", "/api/docs/", "/api/redoc/"}


@pytest.fixture(scope="module")
def get_paths(django_db_setup, django_db_blocker) -> list[str]:
    with django_db_blocker.unblock():
        schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    paths = []
    for path, item in schema["paths"].items():
        params = set(re.findall(r"{(\w+)}", path))
        if "get" in item and params <= set(FILLABLE) and path not in SKIP:
            paths.append(path)
    return sorted(paths)


def _secrets(world) -> dict[str, str]:
    found: dict[str, str] = {}
    for membership in (
        Membership.objects.filter(store=world.store).exclude(user=world.owner).select_related("user")
    ):
        user = membership.user
        for attr in ("phone", "openid", "unionid", "username"):
            value = getattr(user, attr, None)
            if value:
                found[f"member {user.pk} {attr}"] = value
    for key in ("phone", "detail"):
        found[f"order address {key}"] = ADDRESS[key]
    return found


def test_the_scan_covers_the_owner_facing_endpoints(get_paths):
    assert {
        "/api/v1/stores",
        "/api/v1/stores/{store_id}",
        "/api/v1/stores/{store_id}/dashboard",
        "/api/v1/stores/{store_id}/members",
        "/api/v1/notifications",
    } <= set(get_paths)


def test_no_member_personal_data_in_any_owner_facing_response(world, client_as, get_paths):
    secrets = _secrets(world)
    assert secrets, "the world must give members personal data to look for"
    client = client_as("owner")
    seen_members = False

    for template in get_paths:
        path = re.sub(r"{(\w+)}", lambda m: str(FILLABLE[m.group(1)](world)), template)
        response = client.get(path)
        text = response.content.decode()
        for what, value in secrets.items():
            assert value not in text, f"{what} leaks in GET {template}"
        seen_members |= template.endswith("/members") and response.status_code == 200

    assert seen_members, "the owner must actually read the members list"


def test_the_leaders_order_notification_names_no_phone_or_address(world, client_as):
    response = client_as("owner").get("/api/v1/notifications")

    assert response.status_code == 200
    assert response.json()["count"] >= 1, "a venue order notifies its leader"
    text = response.content.decode()
    assert ADDRESS["phone"] not in text
    assert ADDRESS["detail"] not in text
