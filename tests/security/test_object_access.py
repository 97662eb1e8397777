"""Someone else's object: the wrong shopper, the wrong merchant's staff, a member instead
of the owner, and no token at all are refused (401/403/404, the documented error shape)
and nothing changes. The endpoints and their intruders are data: ``probes.py``."""

from __future__ import annotations

import re

import pytest

from shop.testing.asserts import assert_error
from tests.security.probes import LIST_PROBES, PROBES, Probe, snapshot

pytestmark = pytest.mark.django_db

CASES = [(probe, name, status) for probe in PROBES for name, status in probe.intruders.items()]


def call(client, probe: Probe, world):
    return getattr(client, probe.method)(probe.url(world), probe.body, format="json")


@pytest.mark.parametrize(("probe", "intruder", "status"), CASES, ids=[f"{p.id}-{n}" for p, n, _ in CASES])
def test_an_intruder_is_refused_and_nothing_changes(world, client_as, probe, intruder, status):
    before = snapshot(probe, world)

    response = call(client_as(intruder), probe, world)

    assert_error(response, status)
    assert snapshot(probe, world) == before


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_no_token_is_401_and_nothing_changes(world, client_as, probe):
    before = snapshot(probe, world)

    response = call(client_as(None), probe, world)

    assert_error(response, 401, "not_authenticated")
    assert snapshot(probe, world) == before


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_the_rightful_caller_reaches_the_object(world, client_as, probe):
    """Proves each probe aims at a real object: the refusals above are not just 404s for all."""
    response = call(client_as(probe.rightful), probe, world)

    assert response.status_code == probe.rightful_status, response.content[:300]


@pytest.mark.parametrize(("name", "path", "caller", "hidden"), LIST_PROBES, ids=[p[0] for p in LIST_PROBES])
def test_lists_show_only_the_callers_own(world, client_as, name, path, caller, hidden):
    response = client_as(caller).get(path)

    assert response.status_code == 200, response.content[:300]
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    ids = {row.get("id", row.get("store_id")) for row in rows}
    assert not ids & hidden(world)


# Object-level operations anyone may call on any object, so no probe applies: the public
# catalogue, and gateway callbacks (the signature is the authentication).
PUBLIC = {
    ("get", "/api/v1/products/{}"),
    ("post", "/api/v1/payments/{}/notify"),
    ("post", "/api/v1/payouts/{}/notify"),
    ("post", "/api/v1/payments/{}/refund-notify"),
    ("post", "/api/v1/payments/{}/ecommerce-notify"),
    ("post", "/api/v1/payments/{}/ecommerce-refund-notify"),
    ("post", "/api/v1/payments/{}/ecommerce-profit-sharing-notify"),
    # A team is shared to recruit its members: any signed-in shopper sees its public figures.
    ("get", "/api/v1/teams/{}"),
    # A poster's mini-program code is posted into chat groups: any signed-in shopper who scans
    # it may learn the link it opens (a random 10-character scene, throttled per user).
    ("get", "/api/v1/share-scenes/{}"),
}


def _shape(path: str) -> str:
    return re.sub(r"{[^}]+}", "{}", path)


def test_every_object_level_operation_in_the_schema_has_a_probe(api_client):
    """A new endpoint on someone's object fails here until ``probes.py`` says who must be refused."""
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    object_level = {
        (method, _shape(path))
        for path, item in schema["paths"].items()
        if "{" in path
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    probed = {(probe.method, _shape(probe.path)) for probe in PROBES}

    missing = sorted(object_level - probed - PUBLIC)
    assert not missing, "add a Probe to tests/security/probes.py for: " + ", ".join(
        f"{m.upper()} {p}" for m, p in missing
    )
