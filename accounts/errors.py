from shop.errors import ApplicationError, Conflict, PermissionDenied, ServiceUnavailable


class LoginFailed(ApplicationError):
    code = "login_failed"
    http_status = 400
    default_message = "The login code was not accepted."


class WechatUnavailable(ServiceUnavailable):
    """WeChat's login check could not be made (unreachable, an error page, busy): the code
    may still be good, so the client retries the same login after ``Retry-After``."""

    default_message = "WeChat could not be reached to check the login code. Try again shortly."
    retry_after_s = 5


class AccountFrozen(PermissionDenied):
    code = "account_frozen"
    default_message = "This account is frozen."


class ShareTicketInvalid(ApplicationError):
    """Share-ticket data that does not decrypt with the caller's session key, or is not for our app."""

    code = "share_ticket_invalid"
    http_status = 400
    default_message = "The share ticket could not be read. Open the card in the chat again."


class AccountDeletionRefused(Conflict):
    """Money or a duty is still open (an unpaid order, a wallet balance, merchant staff, …):
    the message names each, so the person knows what to settle first."""

    code = "account_deletion_refused"
    default_message = (
        "Your account cannot be deleted while orders, after-sales, money or staff duties are open."
    )


class WebLoginNoAccount(PermissionDenied):
    """A WeChat website sign-in whose ``unionid`` belongs to nobody here (or to more than one
    account, which a sign-in must not guess between)."""

    code = "web_login_no_account"
    default_message = "No account here belongs to this WeChat user."
