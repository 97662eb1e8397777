"""The merchant console's catalog: a merchant creates and changes only its own products
and SKUs (anyone else's is 404), and puts a product on sale only in a category its
deposit covers (the publish rule)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from products.errors import ProductBlocked
from products.models import Category, Product, Sku
from products.selectors import product_get_for_merchant, sku_get_for_merchant
from products.services import product_change_status, product_create, product_update, sku_create, sku_update
from shop.errors import ValidationFailed
from shop.money import fen_display

from ..errors import DepositShort, MerchantNotActive
from ..locks import merchant_qs_for_update
from ..models import Merchant
from ..roles import CATALOG, staff_require_role
from ..selectors import merchant_deposit_balance

MERCHANT_STATUS_TARGETS = (Product.Status.ON_SALE, Product.Status.OFF_SALE)


def _require_approved(merchant: Merchant) -> None:
    if merchant.status != Merchant.Status.APPROVED:
        raise MerchantNotActive()


def _category_for(merchant: Merchant, category_id: int) -> Category:
    category = merchant.categories.filter(pk=category_id).first()
    if category is None:
        raise ValidationFailed(
            fields={"category_id": ["Not one of your shop's categories; ask ops to add it to your shop."]}
        )
    return category


@transaction.atomic
def merchant_product_create(
    *,
    merchant: Merchant,
    category_id: int,
    title: str,
    description: str = "",
    images: Sequence[str] = (),
    skus: Sequence[dict] = (),
    actor=None,
) -> Product:
    """A draft product with its SKUs, in one of the merchant's categories."""
    staff_require_role(user=actor, merchant_id=merchant.pk, area=CATALOG)
    _require_approved(merchant)
    category = _category_for(merchant, category_id)
    return product_create(
        merchant_id=merchant.pk,
        category=category,
        title=title,
        description=description,
        images=images,
        skus=skus,
        actor=actor,
    )


@transaction.atomic
def merchant_product_publish(*, merchant_id: int, product_id: int, actor=None) -> Product:
    """Put a product on sale: only while the merchant is approved, the product is not
    blocked, and the deposit covers the product's category (409 ``deposit_short``
    otherwise, saying how much is missing).

    The merchant row is locked before the balance is read, the same lock a deduction
    takes, so a deduction and a publish cannot pass each other.
    """
    staff_require_role(user=actor, merchant_id=merchant_id, area=CATALOG)
    merchant = merchant_qs_for_update().get(pk=merchant_id)
    product = product_get_for_merchant(merchant_id=merchant.pk, product_id=product_id)
    if product.status == Product.Status.ON_SALE:
        return product
    _require_approved(merchant)
    if product.status == Product.Status.BLOCKED:
        raise ProductBlocked()
    category = product.category
    balance = merchant_deposit_balance(merchant_id=merchant.pk)
    if balance < category.deposit_fen:
        raise DepositShort(
            f"{category.name} needs a deposit of {fen_display(category.deposit_fen)}; yours is "
            f"{fen_display(balance)}. Pay {fen_display(category.deposit_fen - balance)} more to sell here.",
            category_id=category.pk,
        )
    return product_change_status(product_id=product.pk, to_status=Product.Status.ON_SALE, actor=actor)


@transaction.atomic
def merchant_product_update(
    *,
    merchant: Merchant,
    product_id: int,
    actor=None,
    title: str | None = None,
    description: str | None = None,
    images: Sequence[str] | None = None,
    category_id: int | None = None,
    status: str | None = None,
) -> Product:
    """Change content and/or status (``on_sale`` publishes, ``off_sale`` takes it off).
    All or nothing: a refused status change leaves the content unchanged too."""
    staff_require_role(user=actor, merchant_id=merchant.pk, area=CATALOG)
    if status is not None and status not in MERCHANT_STATUS_TARGETS:
        raise ValidationFailed(fields={"status": ["A merchant sets on_sale or off_sale."]})
    if status == Product.Status.ON_SALE:
        merchant_qs_for_update().get(pk=merchant.pk)  # merchant before product, as deductions lock
    product = product_get_for_merchant(merchant_id=merchant.pk, product_id=product_id)
    category = _category_for(merchant, category_id) if category_id is not None else None
    product_update(
        product_id=product.pk, title=title, description=description, images=images, category=category
    )
    if status == Product.Status.ON_SALE:
        merchant_product_publish(merchant_id=merchant.pk, product_id=product.pk, actor=actor)
    elif status == Product.Status.OFF_SALE:
        product_change_status(product_id=product.pk, to_status=Product.Status.OFF_SALE, actor=actor)
    return product_get_for_merchant(merchant_id=merchant.pk, product_id=product.pk)


def merchant_sku_create(*, merchant: Merchant, product_id: int, data: dict, actor=None) -> Sku:
    staff_require_role(user=actor, merchant_id=merchant.pk, area=CATALOG)
    product = product_get_for_merchant(merchant_id=merchant.pk, product_id=product_id)
    return sku_create(product_id=product.pk, data=data)


def merchant_sku_update(*, merchant: Merchant, sku_id: int, changes: dict, actor=None) -> Sku:
    staff_require_role(user=actor, merchant_id=merchant.pk, area=CATALOG)
    sku = sku_get_for_merchant(merchant_id=merchant.pk, sku_id=sku_id)
    return sku_update(sku_id=sku.pk, changes=changes)
