from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "Customer service (assistant and handover)"

    def ready(self) -> None:
        from . import signals  # noqa: F401  the phrase table's cache invalidation
        from .privacy_sections import register_privacy

        register_privacy()  # PIPL: this app's part of GET /me/export and DELETE /me
