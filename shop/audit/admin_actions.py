"""How admin actions write the audit trail.

Every admin action is decorated with ``@audited("<code>")`` (below ``@admin.action``). The
decorator marks the action (``shop/audit/tests/test_guard.py`` fails for an unmarked one),
optionally asks ops for a reason on an intermediate page first (``ask_reason=True``: for
decisions about money or a person that have no form of their own), and makes the action's
code and reason available to ``audit_decision``.

Inside the action, each decision on one object runs as::

    with audit_decision(request, merchant, details={"amount_fen": 100}) as decision:
        if not some_service(...):
            decision.skip()          # nothing happened: no entry

``audit_decision`` opens ``transaction.atomic()`` around the service call (the service's own
``atomic`` becomes a savepoint; its on-commit work runs when this commits) and writes the
entry at the end of that block: an ``ApplicationError`` from the service rolls both back,
and the action reports it as before. A service that cannot run inside an outer transaction
(a gateway call outside any transaction, a ``durable`` block) records itself instead, taking
``actor`` and ``reason`` (see ``shop/payments/reconciliation.py``'s case resolution): record
each decision once, one way or the other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib.admin import helpers
from django.contrib.admin.actions import delete_selected
from django.db import models, transaction
from django.http import HttpRequest
from django.template.response import TemplateResponse

from .services import audit_object_label, audit_record
from .signals import deletions_recorded_by_action

REASON_TEMPLATE = "audit/reason_form.html"
_SCOPE_ATTR = "_audit_scope"


@dataclass
class AuditScope:
    """The audited action running for this request: its code and the reason ops gave."""

    action: str
    reason: str = ""


@dataclass
class Decision:
    """Handed to the body of ``audit_decision``: ``skip()`` when nothing was decided after all
    (e.g. the coupon was already used); ``details`` may be filled in with the outcome."""

    details: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False

    def skip(self) -> None:
        self.skipped = True


class AuditReasonForm(forms.Form):
    audit_reason = forms.CharField(
        label="Reason",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why you take this decision. It is kept in the audit trail with your name.",
    )


def audited(action: str, *, ask_reason: bool = False) -> Callable:
    """Mark a ModelAdmin action as an audited ops decision named ``action`` (``<thing>.<verb>``).

    ``ask_reason``: show a page asking for the reason first; the action runs when it is
    submitted with one (an empty reason shows the page again with an error)."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(modeladmin, request: HttpRequest, queryset):
            reason = ""
            if ask_reason:
                form = AuditReasonForm(request.POST if "audit_apply" in request.POST else None)
                if not form.is_valid():
                    return _reason_page(modeladmin, request, queryset, form, fn.__name__, wrapper)
                reason = form.cleaned_data["audit_reason"]
            setattr(request, _SCOPE_ATTR, AuditScope(action=action, reason=reason))
            try:
                return fn(modeladmin, request, queryset)
            finally:
                delattr(request, _SCOPE_ATTR)

        wrapper.audit_action = action
        wrapper.audit_asks_reason = ask_reason
        return wrapper

    return decorate


def audit_scope(request: HttpRequest) -> AuditScope:
    """The running audited action's scope; ``RuntimeError`` outside one (a missing ``@audited``)."""
    scope = getattr(request, _SCOPE_ATTR, None)
    if scope is None:
        raise RuntimeError("audit_decision() runs only inside an action decorated with @audited")
    return scope


@contextmanager
def audit_decision(
    request: HttpRequest,
    obj: models.Model | None,
    *,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    action: str | None = None,
    object_type: str = "",
    object_id: str | int = "",
) -> Iterator[Decision]:
    """One decision of the running audited action on ``obj``, in one transaction with its
    entry. ``reason`` defaults to the one asked by ``@audited(ask_reason=True)``; ``action``
    to the decorator's code (give one for an action that decides two things)."""
    scope = audit_scope(request)
    decision = Decision(details=dict(details or {}))
    with transaction.atomic():
        yield decision
        if not decision.skipped:
            audit_record(
                actor=request.user,
                action=action or scope.action,
                obj=obj,
                object_type=object_type,
                object_id=object_id,
                reason=scope.reason if reason is None else reason,
                details=decision.details,
            )


def _reason_page(modeladmin, request, queryset, form, action_name: str, fn: Callable) -> TemplateResponse:
    # ``@admin.action`` sets the description on the wrapper it decorates (``fn`` here).
    description = getattr(fn, "short_description", action_name)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": description,
        "form": form,
        "queryset": queryset,
        "action": action_name,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, REASON_TEMPLATE, context)


def audited_delete_selected(modeladmin, request, queryset):
    """Django's "Delete selected" with one audit entry per deleted object (``admin.delete``),
    in the same transaction as the deletion. The confirmation page is Django's own."""
    if not request.POST.get("post"):
        return delete_selected(modeladmin, request, queryset)
    labels = [audit_object_label(obj) for obj in queryset]
    token = deletions_recorded_by_action.set(True)  # recorded here, not from the admin log
    try:
        with transaction.atomic():
            response = _record_deletions(modeladmin, request, queryset, labels)
    finally:
        deletions_recorded_by_action.reset(token)
    return response


def _record_deletions(modeladmin, request, queryset, labels):
    response = delete_selected(modeladmin, request, queryset)
    if response is None:  # Django deleted them (else it shows the page again: protected objects)
        for object_type, object_id, object_repr in labels:
            audit_record(
                actor=request.user,
                action="admin.delete",
                object_type=object_type,
                object_id=object_id,
                object_repr=object_repr,
            )
    return response


audited_delete_selected.short_description = delete_selected.short_description
audited_delete_selected.allowed_permissions = delete_selected.allowed_permissions
audited_delete_selected.audit_action = "admin.delete"
