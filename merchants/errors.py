from shop.errors import ApplicationError, Conflict, Gone, NotFound, PermissionDenied


class NotMerchantStaff(PermissionDenied):
    code = "not_merchant_staff"
    default_message = "Only staff of an approved merchant may do this."


class NotMerchantOwner(PermissionDenied):
    code = "not_merchant_owner"
    default_message = "Only the merchant's owner may do this."


class MerchantAlreadyExists(Conflict):
    code = "merchant_already_exists"
    default_message = "You already work for a merchant."


class MerchantNotReviewable(Conflict):
    code = "merchant_not_reviewable"
    default_message = "This application has already been decided."


class MerchantNotActive(Conflict):
    code = "merchant_not_active"
    default_message = "Your merchant account is not approved, or it is closing."


class DepositShort(Conflict):
    """Publishing refused: the deposit does not cover the product's category."""

    code = "deposit_short"
    default_message = "Your margin deposit does not cover this category."


class DepositInsufficient(Conflict):
    code = "deposit_insufficient"
    default_message = "The deposit holds less than this amount."


class DepositFrozen(Conflict):
    code = "deposit_frozen"
    default_message = "The deposit is frozen while a dispute is open."


class AfterSalesOpen(Conflict):
    code = "after_sales_open"
    default_message = "The deposit is refunded only when no after-sales case is open."


class ExitNotDue(Conflict):
    code = "exit_cool_off"
    default_message = "The deposit is refunded only after the cool-off period."


class MerchantNotExiting(Conflict):
    code = "merchant_not_exiting"
    default_message = "The merchant has not asked to leave."


class DepositRefundInProgress(Conflict):
    code = "deposit_refund_in_progress"
    default_message = "A refund of this deposit is already under way."


class StockFileRejected(ApplicationError):
    """The uploaded file cannot be used at all; nothing was applied."""

    code = "upload_unreadable"
    http_status = 400
    default_message = "The file could not be read."

    def __init__(self, message: str | None = None, **context):
        super().__init__(message, fields={"file": [message or self.default_message]}, **context)


class StockFileEmpty(StockFileRejected):
    code = "upload_empty"
    default_message = "The file is empty: it needs a header line (sku_code, stock) and at least one row."


class StockFileBadHeader(StockFileRejected):
    code = "upload_bad_header"
    default_message = "Line 1: the header must name the columns sku_code and stock."


class StockFileBadEncoding(StockFileRejected):
    code = "upload_bad_encoding"
    default_message = "The file is neither UTF-8 nor GBK text. Save it from Excel as CSV (UTF-8) or XLSX."


class StockFileTooLarge(StockFileRejected):
    code = "upload_too_large"
    default_message = "The file is too large."


class DepositRefundUnallocatable(Conflict):
    code = "deposit_refund_unallocatable"
    default_message = (
        "The deposit is larger than what its payments can refund; ops must refund the rest by hand."
    )


class InvitationNotFound(NotFound):
    code = "invitation_not_found"
    default_message = "No such invitation: check the code with the person who sent it."


class InvitationExpired(Gone):
    code = "invitation_expired"
    default_message = "This invitation has expired: ask the owner for a new one."


class InvitationUsed(Conflict):
    code = "invitation_used"
    default_message = "This invitation has already been used."


class StaffOfAnotherMerchant(Conflict):
    code = "staff_of_another_merchant"
    default_message = "You already work for another merchant: leave it first."


class AlreadyStaff(Conflict):
    code = "already_staff"
    default_message = "You are already on this merchant's staff."


class LastOwnerCannotLeave(Conflict):
    code = "last_owner"
    default_message = "You are the merchant's last owner: invite another owner before you leave."


class StaffNotFound(NotFound):
    code = "staff_not_found"
    default_message = "No such staff member."


class StaffRemoveSelf(PermissionDenied):
    code = "staff_remove_self"
    default_message = "To leave the merchant yourself, use DELETE /merchant/staff/me."


class StaffRoleNotAllowed(PermissionDenied):
    """The caller is the merchant's staff, but their role does not cover this work
    (merchants/roles.py has the matrix)."""

    code = "staff_role_not_allowed"
    default_message = "Your staff role does not allow this."
