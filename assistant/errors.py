from shop.errors import NotFound, ValidationFailed


class ConversationNotFound(NotFound):
    default_message = "No such conversation."


class MessageInvalid(ValidationFailed):
    """Empty, too long, or not plain text."""
