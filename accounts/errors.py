from shop.errors import ApplicationError, PermissionDenied, ServiceUnavailable


class LoginFailed(ApplicationError):
    code = "login_failed"
    http_status = 400
    default_message = "The login code was not accepted."


class WechatUnavailable(ServiceUnavailable):
    """WeChat's login check could not be made (unreachable, an error page, busy): the code
    may still be good, so the client retries the same login after ``Retry-After``."""

    default_message = "WeChat could not be reached to check the login code. Try again shortly."


class AccountFrozen(PermissionDenied):
    code = "account_frozen"
    default_message = "This account is frozen."


class ShareTicketInvalid(ApplicationError):
    """Share-ticket data that does not decrypt with the caller's session key, or is not for our app."""

    code = "share_ticket_invalid"
    http_status = 400
    default_message = "The share ticket could not be read. Open the card in the chat again."
