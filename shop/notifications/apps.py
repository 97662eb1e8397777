from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "shop.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from shop import sweepers

        from .services import webhook_deliveries_due

        sweepers.register(
            name="notifications.webhooks",
            description="Send webhook deliveries that are due (retries after backoff, lost messages)",
            run=webhook_deliveries_due,
            order=90,
        )
