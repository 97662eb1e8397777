"""Reads of the audit trail."""

from __future__ import annotations

from django.db import models
from django.db.models import QuerySet

from .models import AuditEntry
from .services import audit_object_label


def audit_entries_for(obj: models.Model) -> QuerySet[AuditEntry]:
    """Every decision recorded about ``obj``, newest first."""
    object_type, object_id, _ = audit_object_label(obj)
    return AuditEntry.objects.filter(object_type=object_type, object_id=object_id).order_by("-at", "-id")
