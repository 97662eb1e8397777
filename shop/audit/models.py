"""One row per ops decision. Rows are only ever added (see ``AuditEntry``)."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditEntryAlreadyWritten(Exception):
    """An audit entry was about to be changed or deleted: the trail is append-only."""


class AuditEntry(models.Model):
    """Who (``actor``; empty for the system), when (``at``), what (``action``, a stable code
    such as ``merchant.approve``), on which object (``object_type`` = ``app_label.model``,
    ``object_id``, and ``object_repr`` as it read then) and why (``reason``, what ops typed;
    ``details`` holds the decision's figures, e.g. an amount in fen).

    Append-only: ``save()`` of an existing row and ``delete()`` raise here, and on PostgreSQL
    a trigger (migration 0001) refuses UPDATE and DELETE from any code path, except setting
    ``actor`` to NULL when that user is deleted (``actor_name`` keeps who it was).
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, help_text="The actor's username then.")
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        ordering = ("-at", "-id")
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at_idx"),
        ]

    def __str__(self) -> str:
        who = self.actor_name or "system"
        return f"{self.action} {self.object_type}#{self.object_id} by {who}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditEntryAlreadyWritten(f"audit entry {self.pk} cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditEntryAlreadyWritten(f"audit entry {self.pk} cannot be deleted")
