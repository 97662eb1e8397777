"""Orders' models: orders and items, team purchase, flash offers, coupons."""

from .coupons import Coupon
from .flash import FlashBuyerCount, FlashOffer
from .orders import AfterSale, AfterSaleItem, Order, OrderEvent, OrderItem, Pickup, PickupCodeAttempt
from .teams import Team, TeamMember

__all__ = [
    "AfterSale",
    "AfterSaleItem",
    "Coupon",
    "FlashBuyerCount",
    "FlashOffer",
    "Order",
    "OrderEvent",
    "OrderItem",
    "Pickup",
    "PickupCodeAttempt",
    "Team",
    "TeamMember",
]
