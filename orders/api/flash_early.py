"""The flash crowd's sold-out answer, in front of the framework (issue 18 step 2).

Once a flash offer has sold out, four in five of its buyers are still to come, each with a
``POST /api/v1/orders`` of one item. The answer they all get is ``409 flash_sold_out``, and
it is already known: the first buyer told so left the store's sold-out mark in Redis
(``orders/services/flash.py``). ``FlashSoldOutMiddleware`` gives that answer from the mark —
one Redis read — before the token is looked up, before the body is validated, before any
database read and before the rest of the middleware and DRF run. Everything else passes on
untouched, and the view gives the same answer itself when the middleware did not (it reads
the same mark after the token and the idempotency key).

It answers only a request that has all of:

- ``POST`` to the checkout path, ``Content-Type: application/json``, a body of at most
  ``PEEK_MAX_BYTES`` that parses to one item outside a team (``one_item_basket``);
- an ``Authorization: Bearer`` header holding a token of the right shape — not looked up:
  a request without one still gets its ``401`` from the view;
- no ``Idempotency-Key``: a retry of an order that was placed must be replayed by the view
  (``shop/api/idempotency.py``), never told "sold out";
- a live mark for that store and SKU (``flash_sold_out_early``).

What a caller may get that the view would not have given: ``409`` before a ``400`` for a
body that would fail validation (the API's description of ``POST /orders`` says so), and
``409`` instead of ``401`` or ``403`` for a well-shaped but unknown token or a non-member.
The answer says only that the offer is sold out — what any signed-in shopper is told —
writes nothing, and starts nothing. Throttles do not count these answers.
"""

from __future__ import annotations

import json

from django.http import JsonResponse
from django.urls import NoReverseMatch, reverse

from accounts.authentication import bearer_token_shaped
from orders.errors import FlashSoldOut
from orders.services.flash import flash_sold_out_early
from shop.api.exception_handler import error_body
from shop.api.idempotency import HEADER as IDEMPOTENCY_HEADER

IDEMPOTENCY_HEADER_META = "HTTP_" + IDEMPOTENCY_HEADER.upper().replace("-", "_")
PEEK_MAX_BYTES = 2048  # a one-item order with its address is about 300 bytes
METRICS_VIEW = "orders"  # the checkout view's URL name: /metrics counts both answers together


def one_item_basket(data) -> tuple[int, int] | None:
    """``(store_id, sku_id)`` of a body that buys one item outside a team, from a glance
    at its shape (nothing validated): the question a flash crowd's sold-out answer needs."""
    if not isinstance(data, dict) or data.get("team"):
        return None
    items, store_id = data.get("items"), data.get("store_id")
    if not (isinstance(items, list) and len(items) == 1 and isinstance(items[0], dict)):
        return None
    sku_id = items[0].get("sku_id")
    if type(store_id) is not int or type(sku_id) is not int:
        return None
    return store_id, sku_id


def _peek(request) -> tuple[int, int] | None:
    """The basket of a checkout request the mark may answer, or None (the view answers)."""
    meta = request.META
    if (
        IDEMPOTENCY_HEADER_META in meta
        or request.content_type != "application/json"
        or not bearer_token_shaped(meta.get("HTTP_AUTHORIZATION", ""))
    ):
        return None
    try:
        if not 0 < int(meta.get("CONTENT_LENGTH") or 0) <= PEEK_MAX_BYTES:
            return None
        return one_item_basket(json.loads(request.body))
    except (ValueError, RecursionError):  # not JSON, or not a length: the view says what is wrong
        return None


class FlashSoldOutMiddleware:
    """Answers a sold-out flash offer's crowd from the mark (see the module's docstring).
    Placed after the request id, metrics, header and security middleware, so the answer is
    counted, carries its request id and the security headers, like any other."""

    def __init__(self, get_response):
        self.get_response = get_response
        try:
            self.path = reverse(METRICS_VIEW)
        except NoReverseMatch:  # a URL conf without checkout (a test's own): nothing to answer
            self.path = None

    def __call__(self, request):
        if request.method == "POST" and request.path == self.path:
            basket = _peek(request)
            if basket is not None:
                try:
                    flash_sold_out_early(store_id=basket[0], sku_id=basket[1])
                except FlashSoldOut as exc:
                    request.metrics_view = METRICS_VIEW
                    return JsonResponse(error_body(exc.code, exc.message), status=exc.http_status)
                request.flash_mark_read = True  # no mark: the view need not read it again
        return self.get_response(request)
