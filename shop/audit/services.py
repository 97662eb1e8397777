"""The one writer of the audit trail."""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection, models

from .models import AuditEntry

logger = logging.getLogger(__name__)

MAX_REASON = 2000


def audit_object_label(obj: models.Model) -> tuple[str, str, str]:
    """``(object_type, object_id, object_repr)`` of a model instance, as the trail keeps them."""
    return obj._meta.label_lower, str(obj.pk), str(obj)[:200]


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    object_repr: str = "",
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record one ops decision: ``actor`` (a user; ``None`` for the system) took ``action`` on
    ``obj`` (or on the object named by ``object_type``/``object_id`` when there is no instance)
    because of ``reason``; ``details`` holds its figures (JSON: fen as integers, ids).

    Call it INSIDE the transaction that makes the decision, after the decision's writes
    succeeded: the entry then commits and rolls back with the decision. Called outside any
    transaction it raises ``RuntimeError`` (an entry committed alone could record a decision
    that then failed, or a decision could commit with no entry).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record() must run inside the decision's transaction.atomic()")
    if obj is not None:
        object_type, object_id, object_repr = audit_object_label(obj)
    username = getattr(actor, "get_username", lambda: "")() if actor is not None else ""
    entry = AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=username[:150],
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_repr=object_repr[:200],
        reason=(reason or "").strip()[:MAX_REASON],
        details=details or {},
    )
    logger.info("audit: %s", entry)
    return entry


def audit_form_changes(form) -> dict[str, Any]:
    """The fields an admin form changed, as JSON for ``details`` (a model instance as its pk)."""
    changes: dict[str, Any] = {}
    for name in form.changed_data:
        value = form.cleaned_data.get(name)
        if isinstance(value, models.Model):
            value = value.pk
        elif hasattr(value, "values_list"):  # a many-to-many field's queryset
            value = sorted(value.values_list("pk", flat=True))
        changes[name] = value
    return changes
