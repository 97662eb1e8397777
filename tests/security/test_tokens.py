"""Bearer tokens: tampered, expired, revoked, a frozen user's, malformed — all 401, in the
error shape, and the call does nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuthToken
from groupstore.models import Store
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db


def _flip_last_char(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


BAD_HEADERS = {
    "tampered": lambda token: f"Bearer {_flip_last_char(token)}",
    "truncated": lambda token: f"Bearer {token[:-4]}",
    "extended": lambda token: f"Bearer {token}x",
    "two-parts": lambda token: f"Bearer {token} {token}",
    "empty": lambda token: "Bearer ",
    "not-utf8": lambda token: b"Bearer \xff\xfe",
}


def _post_store(header) -> object:
    client = APIClient()
    return client.post("/api/v1/stores", {"name": "偷来的群"}, format="json", HTTP_AUTHORIZATION=header)


@pytest.mark.parametrize("kind", list(BAD_HEADERS))
def test_a_bad_token_is_refused_and_writes_nothing(world, kind):
    stores = Store.objects.count()

    response = _post_store(BAD_HEADERS[kind](world.token("shopper")))

    assert_error(response, 401)
    assert Store.objects.count() == stores


def test_an_expired_token_is_refused(world):
    token = world.token("shopper")
    AuthToken.objects.filter(user=world.shopper).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert_error(_post_store(f"Bearer {token}"), 401)
    assert not Store.objects.filter(name="偷来的群").exists()


def test_a_revoked_token_is_refused(world):
    token = world.token("shopper")
    AuthToken.objects.filter(user=world.shopper).update(revoked_at=timezone.now())

    assert_error(_post_store(f"Bearer {token}"), 401)


def test_a_frozen_users_token_is_refused(world):
    token = world.token("shopper")
    type(world.shopper).objects.filter(pk=world.shopper.pk).update(is_frozen=True)

    assert_error(_post_store(f"Bearer {token}"), 401)
    assert not Store.objects.filter(name="偷来的群").exists()


def test_the_token_is_not_stored_in_clear(world):
    token = world.token("shopper")

    assert not AuthToken.objects.filter(key_hash=token).exists()
    assert AuthToken.objects.filter(user=world.shopper).count() == 1
