"""Destructive calls run only on an explicit ``{"confirm": "<word>"}`` (issue 19, item 5).

``shop/api/confirm.py`` lists every destructive endpoint with its word. Here each of them is
sent what an attacker or a broken client sends (no body, an empty object, another word,
broken JSON, XML, a deeply nested body): a 400 and nothing done; then its word, by the
rightful caller, which reaches the action. And every ``DELETE`` route in the URLconf must be
on that list, so an endpoint added later cannot forget its confirmation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import User
from groupstore.models import PickupPoint
from merchants.models import Merchant, MerchantStaff
from merchants.tests.factories import MerchantStaffFactory
from orders.models import AfterSale
from shop.api.confirm import DESTRUCTIVE_ENDPOINTS
from shop.notifications.models import WebhookEndpoint
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db

BAD_BODIES = [
    pytest.param(None, None, id="no-body"),
    pytest.param(b"{}", "application/json", id="empty-object"),
    pytest.param(b'{"confirm": "yes"}', "application/json", id="another-word"),
    pytest.param(b'{"confirm": null}', "application/json", id="null"),
    pytest.param(b"{", "application/json", id="broken-json"),
    pytest.param(b"<confirm/>", "application/xml", id="xml"),
    pytest.param(b"[1, 2]", "application/json", id="a-list"),
    pytest.param(b'{"a":' * 3_000 + b"1" + b"}" * 3_000, "application/json", id="3000-deep"),
]


@dataclass
class Target:
    url: str
    caller: Any
    state: Any  # what must not change on a refused call
    reached: tuple[int, ...]  # the answers of a confirmed call: the action ran or its rule refused


def _target(world, method: str, path: str) -> Target:
    merchant = world.merchant_user.merchant
    if path == "/api/v1/merchant/exit":
        return Target(
            path,
            world.merchant_user.user,
            lambda: Merchant.objects.filter(pk=merchant.pk).values_list("status", flat=True).get(),
            (200,),
        )
    if path == "/api/v1/merchant/staff/{id}":
        member = MerchantStaffFactory(merchant=merchant, role="operator")
        return Target(
            f"/api/v1/merchant/staff/{member.pk}",
            world.merchant_user.user,
            lambda: MerchantStaff.objects.filter(pk=member.pk).exists(),
            (204,),
        )
    if path == "/api/v1/merchant/staff/me":
        member = MerchantStaffFactory(merchant=merchant, role="finance")
        return Target(path, member.user, lambda: MerchantStaff.objects.filter(pk=member.pk).exists(), (204,))
    if path == "/api/v1/me":
        shopper = world.shopper
        return Target(
            path,
            shopper,
            lambda: User.objects.filter(pk=shopper.pk).values_list("nickname", "is_active").get(),
            (409,),  # the shopper has orders open: reached, and refused by the rule
        )
    if path == "/api/v1/after-sales/{id}/withdraw":
        case = world.case
        return Target(
            f"/api/v1/after-sales/{case.pk}/withdraw",
            world.shopper,
            lambda: AfterSale.objects.filter(pk=case.pk).values_list("status", flat=True).get(),
            (200,),
        )
    if path == "/api/v1/webhooks/{id}":
        hook = world.webhook
        return Target(
            f"/api/v1/webhooks/{hook.pk}",
            world.merchant_user.user,
            lambda: WebhookEndpoint.objects.filter(pk=hook.pk).values_list("is_active", flat=True).get(),
            (204,),
        )
    if path == "/api/v1/leaders/me/pickup-point":
        point = world.pickup_point
        return Target(
            path,
            world.owner,
            lambda: PickupPoint.objects.filter(pk=point.pk).values_list("is_open", flat=True).get(),
            (200,),
        )
    raise AssertionError(f"no target for {method} {path}: add one here")


ENDPOINT_IDS = [f"{m} {p}" for m, p, _ in DESTRUCTIVE_ENDPOINTS]


@pytest.mark.parametrize(("method", "path", "word"), DESTRUCTIVE_ENDPOINTS, ids=ENDPOINT_IDS)
@pytest.mark.parametrize(("body", "content_type"), BAD_BODIES)
def test_a_destructive_call_without_its_word_is_a_400_and_does_nothing(
    world, make_client, method, path, word, body, content_type
):
    target = _target(world, method, path)
    before = target.state()
    client = make_client(target.caller)

    if body is None:
        response = client.generic(method, target.url)
    else:
        response = client.generic(method, target.url, body, content_type=content_type)

    error = assert_error(response, 400)
    assert error["code"] in {"confirmation_required", "parse_error", "validation_error"}, error
    assert target.state() == before


@pytest.mark.parametrize(("method", "path", "word"), DESTRUCTIVE_ENDPOINTS, ids=ENDPOINT_IDS)
def test_a_destructive_call_with_its_word_reaches_the_action(world, make_client, method, path, word):
    target = _target(world, method, path)

    response = make_client(target.caller).generic(
        method, target.url, f'{{"confirm": "{word}"}}'.encode(), content_type="application/json"
    )

    assert response.status_code in target.reached, response.content


def _routes(patterns, prefix: str = ""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.callback


def _normalised(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?\w+>", "{id}", route).lstrip("^").rstrip("$")


def test_every_delete_route_is_a_declared_destructive_endpoint():
    declared = {(m, p) for m, p, _ in DESTRUCTIVE_ENDPOINTS}
    deletes = set()
    for route, callback in _routes(get_resolver().url_patterns):
        view = getattr(callback, "cls", None)  # DRF views only: Django admin asks on its own page
        if view is not None and hasattr(view, "delete") and _normalised(route).startswith("/api/v1/"):
            deletes.add(("DELETE", _normalised(route)))

    assert ("DELETE", "/api/v1/me") in deletes, f"the walk is broken: {deletes}"
    assert deletes <= declared, deletes - declared
