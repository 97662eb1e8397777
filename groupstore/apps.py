from django.apps import AppConfig


class GroupstoreConfig(AppConfig):
    name = "groupstore"
    verbose_name = "Group stores"

    def ready(self) -> None:
        from accounts.profile import register_me_field
        from merchants.errors import NotMerchantStaff
        from merchants.selectors import merchant_get_for_staff
        from shop.notifications.registry import register_webhook_owner_check

        from .selectors import user_is_leader, user_is_leader_expression

        register_me_field(name="is_leader", expression=user_is_leader_expression)
        # Who may register webhooks (docs/design.md: "a URL the leader or merchant configures").
        # The merchant check is registered here too: merchants sits below groupstore, and
        # this keeps the whole rule in one place.
        register_webhook_owner_check(name="certified_leader", check=user_is_leader)

        def is_approved_merchant_staff(user) -> bool:
            try:
                merchant_get_for_staff(user=user, approved=True)
            except NotMerchantStaff:
                return False
            return True

        register_webhook_owner_check(name="merchant_staff", check=is_approved_merchant_staff)
        from .privacy import register_privacy

        register_privacy()  # PIPL: this app's part of GET /me/export and DELETE /me
