"""Deletions on admin's own delete page (the object's "Delete" button) are ops decisions too.

Django logs each in its admin log (``LogEntry``, action DELETION) inside the delete view's
transaction; the receiver below turns that log row into an ``admin.delete`` audit entry in
the same transaction. "Delete selected" records its objects itself
(``admin_actions.audited_delete_selected``), so while it runs this receiver stands aside.
"""

from __future__ import annotations

from contextvars import ContextVar

from django.contrib.admin.models import DELETION, LogEntry
from django.db.models.signals import post_save
from django.dispatch import receiver

from .services import audit_record

deletions_recorded_by_action: ContextVar[bool] = ContextVar("deletions_recorded_by_action", default=False)


@receiver(post_save, sender=LogEntry, dispatch_uid="audit_admin_deletion")
def admin_deletion_recorded(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created or instance.action_flag != DELETION or deletions_recorded_by_action.get():
        return
    content_type = instance.content_type
    audit_record(
        actor=instance.user,
        action="admin.delete",
        object_type=f"{content_type.app_label}.{content_type.model}" if content_type else "",
        object_id=instance.object_id or "",
        object_repr=instance.object_repr,
    )
