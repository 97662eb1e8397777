from shop.errors import Conflict, NotFound, ValidationFailed


class OrderNotFound(NotFound):
    default_message = "No such order."


class IllegalOrderTransition(Conflict):
    code = "illegal_transition"
    default_message = "The order is not in a state that allows this."


class InvalidCheckout(ValidationFailed):
    code = "validation_error"


class InvalidRefund(ValidationFailed):
    code = "validation_error"
    default_message = "The refund is not possible as asked."


class AfterSaleNotFound(NotFound):
    default_message = "No such after-sales case."


class AfterSaleNotAllowed(Conflict):
    code = "after_sale_not_allowed"
    default_message = "An after-sales case cannot be opened on this order now."


class IllegalAfterSaleTransition(Conflict):
    code = "illegal_transition"
    default_message = "The after-sales case is not in a state that allows this."
