"""Orders' models: orders and items, team purchase, flash offers, coupons."""

from .coupons import Coupon, CouponCampaign, MarketingBudgetAllocation
from .flash import FlashBuyerCount, FlashOffer
from .orders import AfterSale, AfterSaleItem, Order, OrderEvent, OrderItem, Pickup, PickupCodeAttempt
from .teams import Team, TeamMember

__all__ = [
    "AfterSale",
    "AfterSaleItem",
    "Coupon",
    "CouponCampaign",
    "FlashBuyerCount",
    "FlashOffer",
    "MarketingBudgetAllocation",
    "Order",
    "OrderEvent",
    "OrderItem",
    "Pickup",
    "PickupCodeAttempt",
    "Team",
    "TeamMember",
]
