"""Ops' admin for teams, flash sales and coupons: pages render, actions call services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from groupstore.tests.factories import make_store
from orders.models import Coupon, Team
from shop.audit.models import AuditEntry

from .helpers import buy, coupon, flash_offer, team_sku

pytestmark = pytest.mark.django_db


def test_team_pages_and_closing_overdue_teams(admin_client):
    store, _, (a,) = make_store(members=1)
    sku = team_sku()
    buy(buyer=a, store=store, sku=sku, team={"open": True})
    team = Team.objects.get()
    for url in (
        "/admin/orders/team/",
        f"/admin/orders/team/{team.pk}/change/",
        "/admin/orders/team/?status=open",
    ):
        assert admin_client.get(url).status_code == 200
    assert admin_client.get("/admin/orders/team/", {"q": sku.code}).status_code == 200

    admin_client.post(
        "/admin/orders/team/", {"action": "close_overdue_teams", ACTION_CHECKBOX_NAME: [team.pk]}
    )
    team.refresh_from_db()
    assert team.status == "open"  # not overdue: left alone
    assert not AuditEntry.objects.exists()  # and nothing was decided

    Team.objects.filter(pk=team.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    admin_client.post(
        "/admin/orders/team/", {"action": "close_overdue_teams", ACTION_CHECKBOX_NAME: [team.pk]}
    )
    team.refresh_from_db()
    assert team.status == "failed"
    assert team.members.get().order.status == "cancelled"
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.actor_name) == ("team.fail", str(team.pk), "admin")


def test_flash_offer_pages_and_form_rules(admin_client):
    sku = team_sku(price_fen=2_000)
    offer = flash_offer(sku=sku, price_fen=990)
    assert admin_client.get("/admin/orders/flashoffer/").status_code == 200
    assert admin_client.get(f"/admin/orders/flashoffer/{offer.pk}/change/").status_code == 200
    now = timezone.now()
    bad = admin_client.post(
        "/admin/orders/flashoffer/add/",
        {
            "sku": sku.pk,
            "flash_price_fen": 2_500,
            "starts_at_0": now.date().isoformat(),
            "starts_at_1": "10:00:00",
            "ends_at_0": now.date().isoformat(),
            "ends_at_1": "11:00:00",
            "quantity": 10,
            "per_user_limit": 1,
        },
    )
    assert bad.status_code == 200
    assert b"below the list price" in bad.content
    resync = admin_client.post(
        "/admin/orders/flashoffer/", {"action": "resync_gate", ACTION_CHECKBOX_NAME: [offer.pk]}
    )
    assert resync.status_code == 302


def test_ops_withdraw_usable_coupons_only(admin_client):
    store, _, (a,) = make_store(members=1)
    unused, used = coupon(user=a, amount_fen=100), coupon(user=a, amount_fen=200)
    buy(buyer=a, store=store, sku=team_sku(), coupon_id=used.pk)
    assert admin_client.get("/admin/orders/coupon/?status=usable").status_code == 200

    admin_client.post(
        "/admin/orders/coupon/",
        {
            "action": "withdraw",
            ACTION_CHECKBOX_NAME: [unused.pk, used.pk],
            "audit_apply": "1",
            "audit_reason": "发错券",
        },
    )

    assert dict(Coupon.objects.values_list("pk", "status")) == {unused.pk: "withdrawn", used.pk: "locked"}
    # one entry: the locked coupon was left alone, so nothing was decided about it
    assert list(AuditEntry.objects.values_list("action", "object_id", "reason", "details")) == [
        ("coupon.withdraw", str(unused.pk), "发错券", {"amount_fen": 100})
    ]
