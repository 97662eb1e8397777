"""Fixtures of the cross-app attack tests (tests/fuzz, tests/security): the seeded ``world``."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.world import World, world_for_module


@pytest.fixture(scope="module")
def _module_world(django_db_setup, django_db_blocker):
    with world_for_module(django_db_blocker) as world:
        yield world


@pytest.fixture
def world(_module_world, db) -> World:
    return _module_world


@pytest.fixture
def client_as(world):
    """``client_as("other_shopper")`` → an APIClient with that world user's real token;
    ``client_as(None)`` → no token at all."""

    def _make(name: str | None) -> APIClient:
        client = APIClient()
        if name is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.token(name)}")
        return client

    return _make
