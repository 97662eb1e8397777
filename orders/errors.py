from shop.errors import Conflict, NotFound, ValidationFailed


class OrderNotFound(NotFound):
    default_message = "No such order."


class IllegalOrderTransition(Conflict):
    code = "illegal_transition"
    default_message = "The order is not in a state that allows this."


class InvalidCheckout(ValidationFailed):
    code = "validation_error"
