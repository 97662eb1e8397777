from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "shop.audit"
    label = "audit"
    verbose_name = "Audit trail"
