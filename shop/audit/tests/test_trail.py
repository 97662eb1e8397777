"""The trail itself: one writer that must run inside the decision's transaction, entries
that commit and roll back with it, and rows nobody can change or delete."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from shop.audit.admin_actions import audit_decision, audited
from shop.audit.models import AuditEntry, AuditEntryAlreadyWritten
from shop.audit.selectors import audit_entries_for
from shop.audit.services import audit_record

pytestmark = pytest.mark.django_db


class Refused(Exception):
    pass


@pytest.fixture
def ops():
    return get_user_model().objects.create_user(username="ops-li", password="x", is_staff=True)


@pytest.fixture
def person():
    return get_user_model().objects.create_user(username="shopper-wang", password="x")


def test_an_entry_says_who_what_on_which_object_when_and_why(ops, person):
    with transaction.atomic():
        entry = audit_record(
            actor=ops, action="user.freeze", obj=person, reason="  刷单  ", details={"tokens_revoked": 2}
        )

    entry.refresh_from_db()
    assert (entry.actor, entry.actor_name, entry.action) == (ops, "ops-li", "user.freeze")
    assert (entry.object_type, entry.object_id, entry.object_repr) == (
        "accounts.user",
        str(person.pk),
        str(person),
    )
    assert (entry.reason, entry.details) == ("刷单", {"tokens_revoked": 2})
    assert entry.at is not None
    assert list(audit_entries_for(person)) == [entry]


def test_the_system_is_an_actor_without_a_user(person):
    with transaction.atomic():
        entry = audit_record(actor=None, action="merchant.deposit_refund", obj=person)
    assert (entry.actor_id, entry.actor_name) == (None, "")


def _audited_request(ops, **post):
    request = RequestFactory().post("/admin/x/", post)
    request.user = ops
    return request


class _Admin:
    pass


def _refusing_decision(request) -> None:
    with audit_decision(request, get_user_model().objects.get(username="shopper-wang"), reason="second"):
        get_user_model().objects.filter(username="shopper-wang").update(first_name="changed")
        raise Refused  # the service refuses: its write and the entry roll back together


def test_a_decision_that_fails_leaves_no_entry_and_one_that_commits_always_has_one(ops, person):
    @audited("user.freeze")
    def action(modeladmin, request, queryset):
        with audit_decision(request, person, reason="first"):
            pass  # the decision's writes succeed
        with pytest.raises(Refused):
            _refusing_decision(request)

    action(_Admin(), _audited_request(ops), None)

    assert [e.reason for e in AuditEntry.objects.all()] == ["first"]
    person.refresh_from_db()
    assert person.first_name == ""


def test_a_skipped_decision_records_nothing(ops, person):
    @audited("coupon.withdraw")
    def action(modeladmin, request, queryset):
        with audit_decision(request, person) as decision:
            decision.skip()

    action(_Admin(), _audited_request(ops), None)
    assert AuditEntry.objects.count() == 0


def test_audit_decision_outside_an_audited_action_is_a_programming_error(ops, person):
    with pytest.raises(RuntimeError, match="@audited"), audit_decision(_audited_request(ops), person):
        pass


def test_an_action_asking_for_a_reason_runs_only_with_one(ops, person):
    ran = []

    @audited("user.freeze", ask_reason=True)
    def action(modeladmin, request, queryset):
        with audit_decision(request, person):
            ran.append(True)

    class Site:
        def each_context(self, request):
            return {}

    admin = _Admin()
    admin.admin_site, admin.model = Site(), get_user_model()
    asked = action(admin, _audited_request(ops, action="x"), [person])
    empty = action(admin, _audited_request(ops, audit_apply="1", audit_reason="  "), [person])
    done = action(admin, _audited_request(ops, audit_apply="1", audit_reason="冒用他人身份"), [person])

    assert asked.template_name == empty.template_name == "audit/reason_form.html"
    assert empty.context_data["form"].errors
    assert done is None
    assert ran == [True]
    assert AuditEntry.objects.get().reason == "冒用他人身份"


def test_entries_are_never_changed_or_deleted(ops, person):
    with transaction.atomic():
        entry = audit_record(actor=ops, action="user.freeze", obj=person, reason="why")

    entry.reason = "rewritten"
    with pytest.raises(AuditEntryAlreadyWritten):
        entry.save()
    with pytest.raises(AuditEntryAlreadyWritten):
        entry.delete()
    if connection.vendor == "postgresql":  # the trigger stops every other path too
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEntry.objects.filter(pk=entry.pk).delete()
    entry.refresh_from_db()
    assert entry.reason == "why"


def test_deleting_the_ops_user_keeps_their_entries_and_name(ops, person):
    with transaction.atomic():
        entry = audit_record(actor=ops, action="user.freeze", obj=person, reason="why")

    ops.delete()

    entry.refresh_from_db()
    assert (entry.actor_id, entry.actor_name, entry.reason) == (None, "ops-li", "why")


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused(person):
    with pytest.raises(RuntimeError, match="inside the decision's transaction"):
        audit_record(actor=None, action="user.freeze", obj=person)
    assert AuditEntry.objects.count() == 0
