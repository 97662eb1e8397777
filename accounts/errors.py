from shop.errors import ApplicationError, PermissionDenied


class LoginFailed(ApplicationError):
    code = "login_failed"
    http_status = 400
    default_message = "The login code was not accepted."


class AccountFrozen(PermissionDenied):
    code = "account_frozen"
    default_message = "This account is frozen."
