from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "shop.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the admin delete page's receiver
