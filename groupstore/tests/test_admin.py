"""Ops' admin: the freeze, certify, reject and generate-codes decisions go through the
services (so owners and leaders are told, and venues follow certification)."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from groupstore.models import InvitationCode, Leader, Store
from groupstore.tests.factories import make_leader, make_store
from shop.audit.models import AuditEntry
from shop.notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_ops_freeze_a_store_with_a_reason_and_its_owner_is_told(admin_client):
    store, _, _ = make_store()
    url = "/admin/groupstore/store/"

    form_page = admin_client.post(url, {"action": "freeze", ACTION_CHECKBOX_NAME: [store.pk]})
    done = admin_client.post(
        url, {"action": "freeze", ACTION_CHECKBOX_NAME: [store.pk], "apply": "1", "reason": "刷屏广告"}
    )

    assert form_page.status_code == 200
    assert b"reason" in form_page.content
    assert done.status_code == 302
    store.refresh_from_db()
    assert (store.is_frozen, store.frozen_reason) == (True, "刷屏广告")
    assert Notification.objects.get(recipient=store.owner, kind="store_frozen").body == "刷屏广告"

    asked = admin_client.post(url, {"action": "unfreeze", ACTION_CHECKBOX_NAME: [store.pk]})
    store.refresh_from_db()
    assert asked.status_code == 200  # the reason is asked first
    assert store.is_frozen is True
    admin_client.post(
        url,
        {
            "action": "unfreeze",
            ACTION_CHECKBOX_NAME: [store.pk],
            "audit_apply": "1",
            "audit_reason": "已整改",
        },
    )
    store.refresh_from_db()
    assert store.is_frozen is False
    trail = AuditEntry.objects.filter(object_type="groupstore.store", object_id=str(store.pk)).order_by("id")
    assert [(e.action, e.reason, e.actor_name) for e in trail] == [
        ("store.freeze", "刷屏广告", "admin"),
        ("store.unfreeze", "已整改", "admin"),
    ]


def test_ops_certify_a_leader_and_their_store_becomes_a_venue(admin_client):
    leader = make_leader(certified=False)
    store, _, _ = make_store(owner=leader.user)

    response = admin_client.post(
        "/admin/groupstore/leader/", {"action": "certify", ACTION_CHECKBOX_NAME: [leader.pk]}
    )

    assert response.status_code == 302
    assert Leader.objects.get(pk=leader.pk).status == "certified"
    assert Store.objects.get(pk=store.pk).is_venue is True
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.actor_name) == ("leader.certify", str(leader.pk), "admin")


def test_ops_reject_an_application_with_a_reason(admin_client):
    leader = make_leader(certified=False)

    admin_client.post(
        "/admin/groupstore/leader/",
        {"action": "reject", ACTION_CHECKBOX_NAME: [leader.pk], "apply": "1", "reason": "资料不全"},
    )

    leader.refresh_from_db()
    assert (leader.status, leader.rejection_reason) == ("rejected", "资料不全")
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.reason) == ("leader.reject", str(leader.pk), "资料不全")


def test_ops_generate_a_batch_of_codes_and_land_on_it(admin_client):
    page = admin_client.get("/admin/groupstore/invitationcode/generate/")
    response = admin_client.post(
        "/admin/groupstore/invitationcode/generate/",
        {"count": "25", "max_uses": "3", "expires_on": "2099-12-31", "batch": "杭州线下活动", "apply": "1"},
    )

    assert page.status_code == 200
    assert response.status_code == 302
    assert "batch__exact=" in response["Location"]
    codes = InvitationCode.objects.filter(batch="杭州线下活动")
    assert codes.count() == 25
    assert set(codes.values_list("max_uses", flat=True)) == {3}
    # valid through the whole last day, China time
    assert timezone.localtime(codes.first().expires_at).isoformat() == "2099-12-31T23:59:59.999999+08:00"
    listing = admin_client.get(response["Location"])
    assert listing.status_code == 200
    assert b"Generate a batch" in listing.content
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_type, entry.actor_name) == (
        "invitation_code.generate",
        "groupstore.invitationcode",
        "admin",
    )
    assert entry.details == {"count": 25, "max_uses": 3, "batch": "杭州线下活动", "expires_on": "2099-12-31"}


def test_a_bad_batch_form_is_shown_again_and_makes_nothing(admin_client):
    response = admin_client.post(
        "/admin/groupstore/invitationcode/generate/", {"count": "0", "max_uses": "1", "apply": "1"}
    )

    assert response.status_code == 200
    assert InvitationCode.objects.exists() is False
    assert AuditEntry.objects.exists() is False


def test_every_group_store_admin_page_opens(admin_client):
    leader = make_leader()
    make_store(owner=leader.user, members=2)
    for model in ("store", "membership", "sharelink", "invitationcode", "leader", "sharereward"):
        assert admin_client.get(f"/admin/groupstore/{model}/").status_code == 200, model
    store = Store.objects.get()
    assert admin_client.get(f"/admin/groupstore/store/{store.pk}/change/").status_code == 200


def test_ops_withdraw_a_share_link_and_opening_it_is_gone(admin_client):
    from accounts.tests.factories import UserFactory
    from groupstore.errors import ShareLinkRevoked
    from groupstore.models import ShareLink
    from groupstore.services import store_join

    store, token, _ = make_store()
    link = ShareLink.objects.get(token=token)

    admin_client.post("/admin/groupstore/sharelink/", {"action": "revoke", ACTION_CHECKBOX_NAME: [link.pk]})

    link.refresh_from_db()
    assert link.is_revoked is True
    with pytest.raises(ShareLinkRevoked):
        store_join(user=UserFactory(), share_token=token)
