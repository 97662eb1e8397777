from shop.errors import ApplicationError, Conflict, NotFound, PermissionDenied, ValidationFailed


class OrderNotFound(NotFound):
    default_message = "No such order."


class IllegalOrderTransition(Conflict):
    code = "illegal_transition"
    default_message = "The order is not in a state that allows this."


class InvalidCheckout(ValidationFailed):
    code = "validation_error"


class MerchantNotShareable(Conflict):
    """Profit sharing is on and a merchant of the basket has no ``sub_mchid`` yet: its money
    could only be paid into the platform's account, which the platform may not pool (二清)."""

    code = "merchant_not_payable"
    default_message = "A merchant in this basket cannot take payments yet. Try again later."


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


class ReturnAddressMissing(Conflict):
    code = "return_address_missing"
    default_message = (
        "Set a return address in the merchant profile first: the buyer needs it to send the goods back."
    )


class AfterSaleDeadlinePassed(Conflict):
    code = "after_sale_deadline_passed"
    default_message = "The time for this step of the after-sales case has passed."


# --- Team purchase ------------------------------------------------------------------


class TeamNotFound(NotFound):
    default_message = "No such team."


class TeamNotJoinable(Conflict):
    code = "team_not_joinable"
    default_message = "This team is no longer open."


class TeamFull(Conflict):
    code = "team_full"
    default_message = "This team has no free seat left."


class TeamAlreadyJoined(Conflict):
    code = "team_already_joined"
    default_message = "You are already in this team."


class TeamNewCustomersOnly(PermissionDenied):
    code = "team_new_customers_only"
    default_message = "This team is for new customers only (no earlier paid order)."


# --- Flash sales --------------------------------------------------------------------


class FlashSoldOut(Conflict):
    code = "flash_sold_out"
    default_message = "The flash sale of this item is sold out."


class FlashLimitReached(Conflict):
    code = "flash_limit_reached"
    default_message = "You already have as many of this flash offer as one buyer may."


class FlashOfferNotFound(NotFound):
    default_message = "No such flash offer."


class FlashOfferOverlaps(Conflict):
    code = "flash_offer_overlaps"
    default_message = (
        "This SKU already has a flash offer waiting for review or approved in an overlapping window."
    )


class FlashOfferNotReviewable(Conflict):
    code = "flash_offer_not_reviewable"
    default_message = "This flash offer has already been decided."


# --- Coupons ------------------------------------------------------------------------


class CouponNotFound(NotFound):
    default_message = "No such coupon."


class CouponNotUsable(Conflict):
    code = "coupon_not_usable"
    default_message = "This coupon cannot be used (locked by another order, used or expired)."


class CouponMinSpendNotMet(Conflict):
    code = "coupon_min_spend_not_met"
    default_message = "The basket does not reach this coupon's minimum spend."


class CouponCodeNotFound(NotFound):
    """A code no running campaign has (unknown, not launched yet, closed or past its end)."""

    default_message = "No such coupon code."


class CouponCodeAlreadyRedeemed(Conflict):
    code = "coupon_already_redeemed"
    default_message = "You have already redeemed this code."


class CouponCampaignExhausted(Conflict):
    code = "coupon_campaign_exhausted"
    default_message = "All coupons of this campaign have been given out."


class CouponCampaignNotLaunchable(Conflict):
    code = "coupon_campaign_not_launchable"
    default_message = "This campaign cannot be launched."


class MarketingBudgetShort(Conflict):
    """Launching a campaign would reserve more than the marketing budget holds."""

    code = "marketing_budget_short"
    default_message = "The marketing budget does not hold this campaign's cap."


class PickupNotFound(NotFound):
    """A code not among this leader's point's parcels, someone else's, or a wrong guess: one answer."""

    code = "pickup_not_found"
    default_message = "No parcel at your pickup point has this code."


class PickupNotReady(Conflict):
    code = "pickup_not_ready"
    default_message = "This parcel has not arrived at the pickup point yet."


class PickupAlreadyCollected(Conflict):
    code = "pickup_already_collected"
    default_message = "This parcel has already been collected."


class PickupTriesExhausted(ApplicationError):
    code = "pickup_tries_exhausted"
    http_status = 429
    default_message = "Too many wrong pickup codes: try again within the hour."
