from shop.errors import ApplicationError, Conflict, NotFound, PermissionDenied


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    default_message = "No such notification."


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    default_message = "No such webhook."


class WebhooksNotAllowed(PermissionDenied):
    code = "webhooks_not_allowed"
    default_message = "Only certified leaders and merchants' staff can register webhooks."


class TooManyWebhooks(Conflict):
    code = "too_many_webhooks"
    default_message = "You already have the most webhooks allowed; remove one first."


class WebhookUrlRefused(ApplicationError):
    """The URL is not an https URL to a public host (no server-side request forgery)."""

    code = "webhook_url_refused"
    http_status = 400
    default_message = "Webhook URLs must be https URLs of a public host."


class SubscribeResultInvalid(ApplicationError):
    """A subscription report names a template we do not send, or an answer WeChat never gives."""

    code = "subscribe_result_invalid"
    http_status = 400
    default_message = "Report the result of wx.requestSubscribeMessage for our templates."
