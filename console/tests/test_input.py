"""How a console page turns what the API's serializers and the services say into a page."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from merchants.errors import StaffRoleNotAllowed
from orders.api.flash_offers import MerchantFlashOfferListCreateApi
from orders.errors import FlashOfferOverlaps
from shop.errors import NotFound, ValidationFailed

from ..input import NON_FIELD, found, refusal, validated


def _raise(exc):
    def selector(**kwargs):
        raise exc

    return selector


def test_a_selectors_not_found_is_a_404_and_a_refused_role_a_403():
    with pytest.raises(Http404):
        found(_raise(NotFound()), merchant_id=1)
    with pytest.raises(PermissionDenied):
        found(_raise(StaffRoleNotAllowed("Your role (operator) does not allow this.")), merchant_id=1)
    assert found(lambda **kw: kw, merchant_id=1) == {"merchant_id": 1}


def test_a_refusal_keeps_its_status_and_its_fields():
    assert refusal(ValidationFailed(fields={"units": ["Too many."]})) == (
        {"units": ["Too many."]},
        400,
    )
    errors, status = refusal(FlashOfferOverlaps())
    assert status == 409
    assert errors == {NON_FIELD: [FlashOfferOverlaps.default_message]}
    assert refusal(StaffRoleNotAllowed("no"))[1] == 403


def test_form_text_is_read_as_a_form_not_as_json():
    data, errors = validated(
        MerchantFlashOfferListCreateApi.InputSerializer,
        {
            "sku_id": "7",
            "flash_price_fen": "990",
            "units": "5",
            "per_buyer_limit": "1",
            "starts_at": "2099-01-01T10:00",
            "ends_at": "2099-01-01T12:00",
        },
        as_form=True,
    )
    assert errors == {}
    assert (data["sku_id"], data["units"]) == (7, 5)

    _, errors = validated(MerchantFlashOfferListCreateApi.InputSerializer, {"units": "0"}, as_form=True)
    assert set(errors) == {"sku_id", "flash_price_fen", "units", "per_buyer_limit", "starts_at", "ends_at"}
