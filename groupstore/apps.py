from django.apps import AppConfig


class GroupstoreConfig(AppConfig):
    name = "groupstore"
    verbose_name = "Group stores"

    def ready(self) -> None:
        from accounts.profile import register_me_field

        from .selectors import user_is_leader

        register_me_field(name="is_leader", compute=user_is_leader, default=False)
