from shop.errors import Conflict, PermissionDenied


class NotMerchantStaff(PermissionDenied):
    code = "not_merchant_staff"
    default_message = "Only staff of an approved merchant may do this."


class MerchantAlreadyExists(Conflict):
    code = "merchant_already_exists"
    default_message = "You already work for a merchant."


class MerchantNotReviewable(Conflict):
    code = "merchant_not_reviewable"
    default_message = "This application has already been decided."
