"""The catalog: categories (with deposit standards and commission bounds), products, SKUs, stock."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Q

from shop.models import BaseModel


class SearchGinIndex(GinIndex):
    """A GIN index on PostgreSQL; a plain index elsewhere, so the SQLite demo can migrate
    (search there falls back to ``icontains`` and never reads the column)."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return models.Index.create_sql(self, model, schema_editor, using=using, **kwargs)
        return super().create_sql(model, schema_editor, using=using, **kwargs)


class Category(BaseModel):
    name = models.CharField(max_length=60)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    deposit_fen = models.BigIntegerField(
        default=200_000, help_text="Margin deposit a merchant must hold to sell here (fen; ¥2,000 default)."
    )
    commission_min_bps = models.PositiveIntegerField(
        default=100, help_text="Lowest commission rate allowed (bps)."
    )
    commission_max_bps = models.PositiveIntegerField(
        default=2_940,
        help_text=(
            "Highest commission rate allowed (bps). With the platform fee it must stay within the "
            "merchant's maximum share ratio (profit sharing: 3,000 − 60 = 2,940 bps by default)."
        ),
    )
    sort_order = models.IntegerField(default=0)

    class Meta:
        verbose_name_plural = "categories"
        ordering = ("sort_order", "pk")
        constraints = [
            models.CheckConstraint(condition=Q(deposit_fen__gte=0), name="category_deposit_fen_gte_0"),
            models.CheckConstraint(
                condition=Q(commission_min_bps__lte=F("commission_max_bps"))
                & Q(commission_max_bps__lte=10_000),
                name="category_commission_bounds_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Bounds a share could not carry are refused (admin shows the message)."""
        from django.core.exceptions import ValidationError

        from .rules import commission_ceiling_bps

        ceiling = commission_ceiling_bps()
        if self.commission_max_bps > ceiling:
            raise ValidationError(
                {
                    "commission_max_bps": (
                        f"At most {ceiling} bps: commission plus the platform fee must stay within "
                        "the merchant's maximum profit-sharing ratio."
                    )
                }
            )


class OnSaleCount(models.Model):
    """How many products are on sale, in all (``category_id`` 0) and per category: the count
    the shop's home page (``GET /products`` without a query) shows, read as one row instead of
    counting the catalog on every request.

    Kept exact by a PostgreSQL trigger on the products table (migration
    ``0006_onsalecount``: every insert, delete and change of status or category, however it is
    made — ``save()``, ``update()``, raw SQL), in the same transaction as the change, so a
    reader sees a count that matches the products it can see. On SQLite (the embedded
    default) it is not kept and the listing counts as before."""

    category_id = models.BigIntegerField(primary_key=True, help_text="0: every category")
    products = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.products} on sale in {self.category_id or 'all'}"


class Product(BaseModel):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ON_SALE = "on_sale", "On sale"
        OFF_SALE = "off_sale", "Off sale"
        SUSPENDED = "suspended", "Suspended (deposit short)"
        BLOCKED = "blocked", "Blocked by ops"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.DRAFT: frozenset({Status.ON_SALE, Status.BLOCKED}),
        Status.ON_SALE: frozenset({Status.OFF_SALE, Status.SUSPENDED, Status.BLOCKED}),
        Status.OFF_SALE: frozenset({Status.ON_SALE, Status.BLOCKED}),
        Status.SUSPENDED: frozenset({Status.ON_SALE, Status.OFF_SALE, Status.BLOCKED}),
        Status.BLOCKED: frozenset({Status.OFF_SALE}),
    }

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="products")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    images = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    status_reason = models.CharField(
        max_length=255,
        blank=True,
        help_text="Why ops blocked it or why it was suspended; the merchant sees it.",
    )
    sales_count = models.BigIntegerField(default=0)
    min_price_fen = models.BigIntegerField(
        default=0, help_text="Lowest SKU price, kept for filters and sorting."
    )
    search_vector = SearchVectorField(
        null=True,
        editable=False,
        help_text="jieba words of the title (weight A) and category name (B); see products/search.py.",
    )

    class Meta:
        indexes = [
            # The shopper's orderings (docs/api.md) over on-sale products, newest id breaking ties;
            # a category's page (the mini-program's category tabs) in the default order and by
            # price read its first rows off an index too, however large the category.
            models.Index(
                fields=["status", "category", "-sales_count", "-id"], name="product_status_cat_sales_idx"
            ),
            models.Index(
                fields=["status", "category", "min_price_fen", "id"], name="product_status_cat_price_idx"
            ),
            models.Index(fields=["status", "-sales_count", "-id"], name="product_status_sales_idx"),
            models.Index(fields=["status", "min_price_fen", "id"], name="product_status_price_idx"),
            models.Index(fields=["status", "-created_at", "-id"], name="product_status_created_idx"),
            models.Index(fields=["merchant", "status"], name="product_merchant_status_idx"),
            SearchGinIndex(fields=["search_vector"], name="product_search_gin"),
        ]

    def __str__(self) -> str:
        return self.title

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, frozenset())


class Sku(BaseModel):
    """A sellable variant. Stock is two numbers: ``on_hand`` (not yet shipped) and
    ``reserved`` (held by unpaid or unshipped orders); available = on_hand − reserved."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="skus")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="skus")
    code = models.CharField(max_length=64, help_text="The merchant's own code; unique per merchant.")
    spec = models.JSONField(
        default=dict, blank=True, help_text='Spec values, e.g. {"颜色": "红", "尺码": "L"}.'
    )
    price_fen = models.BigIntegerField()
    team_price_fen = models.BigIntegerField(null=True, blank=True)
    team_size = models.PositiveSmallIntegerField(null=True, blank=True)
    on_hand = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)
    commission_bps = models.PositiveIntegerField(
        default=0, help_text="Promotion commission of the sale amount."
    )
    sales_count = models.BigIntegerField(default=0)

    class Meta:
        # Codes alone (any merchant): telling "not yours" from "unknown" in a stock upload.
        indexes = [models.Index(fields=["code"], name="sku_code_idx")]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="sku_code_unique_per_merchant"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="sku_on_hand_gte_0"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="sku_reserved_gte_0"),
            models.CheckConstraint(condition=Q(price_fen__gt=0), name="sku_price_fen_gt_0"),
            models.CheckConstraint(
                condition=Q(team_price_fen__isnull=True) | Q(team_price_fen__gt=0),
                name="sku_team_price_fen_gt_0",
            ),
            models.CheckConstraint(
                condition=Q(team_size__isnull=True) | (Q(team_size__gte=2) & Q(team_size__lte=10)),
                name="sku_team_size_2_to_10",
            ),
            models.CheckConstraint(
                condition=Q(commission_bps__lte=10_000), name="sku_commission_bps_lte_10000"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.product_id})"

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved)


class ProductStatusChange(models.Model):
    """The audit trail of a product's status: who moved it, from what, to what, why."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=Product.Status.choices)
    to_status = models.CharField(max_length=16, choices=Product.Status.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the system did it (e.g. a deposit deduction suspended the listing).",
    )
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["product", "-id"], name="product_status_change_idx")]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.from_status} → {self.to_status}"
