from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "shop.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from shop import sweepers

        from .services import webhook_deliveries_due
        from .subscribe import subscribe_messages_due

        sweepers.register(
            name="notifications.webhooks",
            description="Send webhook deliveries that are due (retries after backoff, lost messages)",
            run=webhook_deliveries_due,
            order=90,
        )
        sweepers.register(
            name="notifications.subscribe_messages",
            description="Send WeChat subscribe messages that are due (retries, lost messages)",
            run=subscribe_messages_due,
            order=91,
        )
