"""The OpenAPI schema as a table of contents: each operation gets one tag, by audience and area,
and a one-line summary (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``).

Tags are given here, by path, rather than on each view, so that one table says how
``/api/docs/`` is organised and a new endpoint lands in its section without anyone
remembering to tag it (``tests/test_schema.py`` fails on an operation no rule covers).
"""

from __future__ import annotations

import re

# (tag, description), in the order /api/docs/ shows them.
TAGS: list[tuple[str, str]] = [
    ("Shopper · account", "Log in, my profile, my data and account, my notifications."),
    ("Shopper · catalog", "Categories and on-sale products, with Chinese-aware search."),
    ("Shopper · group stores", "Create, join and share group stores; savings; red envelopes."),
    ("Shopper · orders", "Quote, check out, pay, cancel, receive; team purchase; after-sales."),
    ("Shopper · wallet", "Rebates and commission in the wallet; withdrawals; my coupons."),
    ("Shopper · customer service", "Ask the assistant; my conversations, with the merchant's answers."),
    ("Owner & leader", "A store owner's dashboard and members; a leader's venue."),
    ("Merchant · onboarding", "Apply, profile, margin deposit, staff, leaving."),
    ("Merchant · catalog", "Products, SKUs and bulk stock uploads."),
    ("Merchant · orders", "Orders to ship and invoice; after-sales to answer."),
    ("Merchant · money", "Daily statements of the money frozen at the gateway, with lines and downloads."),
    ("Merchant · customer service", "Conversations the assistant handed over, and the answers."),
    ("Webhooks", "Signed webhooks for leaders and merchants."),
    ("Payments · callbacks", "Gateway notifications (the signature is the auth); the sandbox's pay."),
    ("Operations", "Health and metrics."),
]

# First match wins: (tag, path pattern after /api/v1/ (or the whole path for the rest)).
_RULES: list[tuple[str, str]] = [
    ("Payments · callbacks", r"^/api/v1/(payments|payouts|sandbox)/"),
    ("Webhooks", r"^/api/v1/webhooks"),
    ("Merchant · catalog", r"^/api/v1/merchant/(products|skus|stock-uploads|flash-offers)"),
    ("Merchant · orders", r"^/api/v1/merchant/(orders|after-sales)"),
    ("Merchant · money", r"^/api/v1/merchant/statements"),
    ("Merchant · customer service", r"^/api/v1/merchant/conversations"),
    ("Merchant · onboarding", r"^/api/v1/(merchant/|staff-invitations/)"),
    ("Owner & leader", r"^/api/v1/(leaders/|stores/\{[^}]+\}/(dashboard|members|selection))"),
    ("Shopper · account", r"^/api/v1/(auth/|me\b|notifications)"),
    ("Shopper · catalog", r"^/api/v1/(categories|products)"),
    ("Shopper · wallet", r"^/api/v1/(wallet|coupons)"),
    ("Shopper · customer service", r"^/api/v1/assistant/"),
    ("Shopper · group stores", r"^/api/v1/(stores|savings|red-envelopes|share-scenes)"),
    ("Shopper · orders", r"^/api/v1/(checkout|orders|after-sales|teams)"),
    ("Operations", r"^/(healthz|metrics)"),
]
# One line per operation, as the table of contents shows it (``tests/test_schema.py`` fails
# on an operation without one, so a new endpoint gets its line when it is added).
SUMMARIES: dict[tuple[str, str], str] = {
    ("post", "/api/v1/auth/wechat-login"): "Log in with a wx.login code",
    ("get", "/api/v1/me"): "My profile",
    ("delete", "/api/v1/me"): "Erase my account",
    ("get", "/api/v1/me/export"): "Export my personal data",
    ("get", "/api/v1/me/subscriptions"): "My subscribe messages left per template",
    ("post", "/api/v1/me/subscriptions"): "Report what I accepted in wx.requestSubscribeMessage",
    ("get", "/api/v1/notifications"): "My notifications",
    ("post", "/api/v1/notifications/{notification_id}/read"): "Mark a notification read",
    ("get", "/api/v1/categories"): "Product categories",
    ("get", "/api/v1/products"): "Search and list on-sale products",
    ("get", "/api/v1/products/{product_id}"): "A product with its SKUs and prices",
    ("get", "/api/v1/stores"): "Stores I own or belong to",
    ("post", "/api/v1/stores"): "Create a group store (or join the chat group's)",
    ("post", "/api/v1/stores/join"): "Join a store through its share link",
    ("get", "/api/v1/stores/{store_id}"): "A store I belong to",
    ("post", "/api/v1/stores/{store_id}/share-links"): "Make a share link",
    ("get", "/api/v1/stores/{store_id}/share-links/{token}/poster"): "A share link's poster (PNG)",
    ("get", "/api/v1/share-scenes/{scene}"): "The share link a scanned poster code opens",
    ("get", "/api/v1/stores/{store_id}/red-envelopes"): "A store's red envelopes",
    ("get", "/api/v1/stores/{store_id}/flash-offers"): "A store's flash offers, live and coming",
    ("post", "/api/v1/red-envelopes/{envelope_id}/claim"): "Claim a red envelope share",
    ("get", "/api/v1/savings"): "What I saved, by store",
    ("post", "/api/v1/checkout/quote"): "Price a basket",
    ("get", "/api/v1/orders"): "My orders",
    ("post", "/api/v1/orders"): "Check out: orders and their payment",
    ("get", "/api/v1/orders/{order_id}"): "One of my orders",
    ("post", "/api/v1/orders/{order_id}/cancel"): "Cancel an unpaid order",
    ("post", "/api/v1/orders/{order_id}/confirm-receipt"): "Confirm receipt",
    ("post", "/api/v1/orders/{order_id}/after-sales"): "Ask for a refund or a return",
    ("get", "/api/v1/orders/{order_id}/pickup"): "My pickup code and where to collect",
    ("get", "/api/v1/after-sales/{case_id}"): "One of my after-sales cases",
    ("post", "/api/v1/after-sales/{case_id}/escalate"): "Ask the platform to decide a rejected case",
    ("post", "/api/v1/after-sales/{case_id}/return-shipment"): "Post the return's tracking number",
    ("post", "/api/v1/after-sales/{case_id}/withdraw"): "Withdraw an after-sales case",
    ("get", "/api/v1/teams/{team_id}"): "A team purchase's progress",
    ("get", "/api/v1/wallet"): "My wallet balances",
    ("get", "/api/v1/coupons"): "My coupons, by status",
    ("post", "/api/v1/coupons/redeem"): "Redeem a campaign's coupon code",
    ("get", "/api/v1/wallet/entries"): "My wallet's lines",
    ("get", "/api/v1/wallet/withdrawals"): "My withdrawals",
    ("post", "/api/v1/wallet/withdrawals"): "Withdraw to WeChat",
    ("post", "/api/v1/assistant/messages"): "Ask the assistant",
    ("get", "/api/v1/assistant/conversations/{conversation_id}"): "One of my conversations",
    ("get", "/api/v1/stores/{store_id}/dashboard"): "Owner: the store's figures",
    ("get", "/api/v1/stores/{store_id}/members"): "Owner: members and what each saved",
    ("get", "/api/v1/stores/{store_id}/selection"): "A venue's curated products",
    ("put", "/api/v1/stores/{store_id}/selection"): "Leader: set the venue's products",
    ("get", "/api/v1/leaders/me"): "Leader: my application and status",
    ("post", "/api/v1/leaders/register"): "Apply to be a leader with an invitation code",
    ("get", "/api/v1/leaders/me/orders"): "Leader: my venues' orders",
    ("get", "/api/v1/leaders/me/pickup-point"): "Leader: my pickup point",
    ("put", "/api/v1/leaders/me/pickup-point"): "Leader: open or change my pickup point",
    ("delete", "/api/v1/leaders/me/pickup-point"): "Leader: close my pickup point to new orders",
    ("post", "/api/v1/leaders/me/orders/{order_id}/arrived"): "Leader: a parcel is at my point",
    ("post", "/api/v1/leaders/me/pickups"): "Leader: redeem a buyer's pickup code",
    ("post", "/api/v1/merchant/applications"): "Apply to sell",
    ("get", "/api/v1/merchant/profile"): "The merchant's profile and deposit coverage",
    ("patch", "/api/v1/merchant/profile"): "Set the return address",
    ("post", "/api/v1/merchant/deposits"): "Pay margin deposit",
    ("get", "/api/v1/merchant/deposit-movements"): "Deposit movements",
    ("post", "/api/v1/merchant/exit"): "Leave the platform",
    ("post", "/api/v1/merchant/exit/cancel"): "Withdraw a request to leave",
    ("get", "/api/v1/merchant/staff"): "Staff",
    ("post", "/api/v1/merchant/staff/invitations"): "Invite staff",
    ("delete", "/api/v1/merchant/staff/me"): "Leave the merchant's staff",
    ("delete", "/api/v1/merchant/staff/{staff_id}"): "Remove a staff member",
    ("post", "/api/v1/staff-invitations/accept"): "Accept a staff invitation",
    ("get", "/api/v1/merchant/products"): "Products",
    ("post", "/api/v1/merchant/products"): "Create a product with its SKUs",
    ("get", "/api/v1/merchant/products/{product_id}"): "A product",
    ("patch", "/api/v1/merchant/products/{product_id}"): "Change or publish a product",
    ("post", "/api/v1/merchant/products/{product_id}/skus"): "Add a SKU",
    ("get", "/api/v1/merchant/skus/{sku_id}"): "A SKU",
    ("patch", "/api/v1/merchant/skus/{sku_id}"): "Change a SKU",
    ("get", "/api/v1/merchant/flash-offers"): "Flash offers proposed and their review",
    ("post", "/api/v1/merchant/flash-offers"): "Propose a flash offer (ops review it)",
    ("get", "/api/v1/merchant/stock-uploads"): "Stock uploads",
    ("post", "/api/v1/merchant/stock-uploads"): "Upload stock (CSV or XLSX)",
    ("get", "/api/v1/merchant/stock-uploads/{upload_id}"): "A stock upload and its bad rows",
    ("get", "/api/v1/merchant/orders"): "Orders",
    ("post", "/api/v1/merchant/orders/{order_id}/ship"): "Ship an order",
    ("post", "/api/v1/merchant/orders/{order_id}/invoice"): "Record an invoice",
    ("get", "/api/v1/merchant/after-sales"): "After-sales cases",
    ("post", "/api/v1/merchant/after-sales/{case_id}/approve"): "Approve an after-sales case",
    ("post", "/api/v1/merchant/after-sales/{case_id}/reject"): "Reject an after-sales case",
    ("post", "/api/v1/merchant/after-sales/{case_id}/return-received"): "Confirm a return arrived: refund",
    ("get", "/api/v1/merchant/statements"): "Daily statements",
    ("get", "/api/v1/merchant/statements/{statement_id}/lines"): "A statement's lines, by order",
    ("get", "/api/v1/merchant/statements/{statement_id}/export"): "Download a statement (CSV or XLSX)",
    ("get", "/api/v1/merchant/conversations"): "Conversations handed over to us",
    ("post", "/api/v1/merchant/conversations/{conversation_id}/messages"): "Answer a conversation",
    ("get", "/api/v1/webhooks"): "My webhooks",
    ("post", "/api/v1/webhooks"): "Register a webhook",
    ("delete", "/api/v1/webhooks/{webhook_id}"): "Stop a webhook",
    ("post", "/api/v1/payments/{gateway}/notify"): "Payment notification from the gateway",
    ("post", "/api/v1/payments/{gateway}/refund-notify"): "Refund notification from the gateway",
    ("post", "/api/v1/payments/{gateway}/ecommerce-notify"): "Partner or combined payment notification",
    ("post", "/api/v1/payments/{gateway}/ecommerce-refund-notify"): "Refund notification of a shared payment",
    ("post", "/api/v1/payments/{gateway}/ecommerce-profit-sharing-notify"): "Profit-sharing notification",
    ("post", "/api/v1/payouts/{gateway}/notify"): "Transfer notification from the gateway",
    ("post", "/api/v1/sandbox/payments/{payment_id}/pay"): "Sandbox: pay a payment",
    ("get", "/healthz"): "Health of the database, cache and worker",
}

_COMPILED = [(tag, re.compile(pattern)) for tag, pattern in _RULES]
_PATH_PREFIX = re.compile(r"^``[A-Z]+ [^`]+``\s*[:—-]?\s*")


def tag_for(path: str) -> str | None:
    return next((tag for tag, pattern in _COMPILED if pattern.match(path)), None)


def _summary(method: str, path: str, operation: dict) -> str:
    """The operation's first sentence (without a leading ``METHOD /path``), or its method and path."""
    text = _PATH_PREFIX.sub("", (operation.get("description") or "").strip())
    first = re.split(r"(?<=[.:;])\s|\n\n", text, maxsplit=1)[0].strip().rstrip(".:;")
    if first:
        first = first.replace("``", "")
        return first[0].upper() + first[1:] if len(first) <= 120 else first[:117] + "…"
    return f"{method.upper()} {path}"


def postprocess_tags(result: dict, generator, request, public) -> dict:
    """Set each operation's tag and summary; list the tags in ``TAGS``' order."""
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            tag = tag_for(path)
            if tag is not None:
                operation["tags"] = [tag]
            operation["summary"] = SUMMARIES.get((method, path)) or _summary(method, path, operation)
    result["tags"] = [{"name": name, "description": description} for name, description in TAGS]
    return result
