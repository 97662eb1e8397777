from django import forms
from django.contrib import admin, messages

from shop.audit.admin_actions import audit_decision, audited
from shop.money import fen_display

from .adminkit import action_form
from .models import Category, Product, ProductStatusChange, Sku
from .services import category_refresh_search, product_change_status, product_refresh_search


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "parent", "deposit", "commission_min_bps", "commission_max_bps", "sort_order")
    list_filter = ("parent",)
    search_fields = ("name",)
    fields = ("name", "parent", "deposit_fen", "commission_min_bps", "commission_max_bps", "sort_order")

    @admin.display(description="Deposit standard", ordering="deposit_fen")
    def deposit(self, obj):
        return fen_display(obj.deposit_fen)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "name" in form.changed_data:
            # Products are found by their category's name too: re-index them.
            category_refresh_search(category_id=obj.pk)


class SkuInline(admin.TabularInline):
    model = Sku
    fields = (
        "code",
        "spec",
        "price_fen",
        "team_price_fen",
        "team_size",
        "on_hand",
        "reserved",
        "commission_bps",
    )
    readonly_fields = ("reserved",)
    extra = 0


class StatusChangeInline(admin.TabularInline):
    model = ProductStatusChange
    extra = 0
    can_delete = False
    fields = ("created_at", "from_status", "to_status", "actor", "reason")
    readonly_fields = fields
    ordering = ("-id",)

    def has_add_permission(self, request, obj=None):
        return False


class BlockForm(forms.Form):
    reason = forms.CharField(
        max_length=255,
        help_text="The merchant sees this. Say what rule the listing breaks and what to fix.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    """Ops block listings that break the rules and lift blocks; status changes only
    through these actions (each leaves a row in the status history)."""

    list_display = (
        "title",
        "merchant",
        "category",
        "status",
        "status_reason",
        "min_price_fen",
        "sales_count",
        "created_at",
    )
    list_filter = ("status", "category")
    search_fields = ("title", "skus__code", "merchant__company_name")
    raw_id_fields = ("merchant",)
    readonly_fields = ("status", "status_reason", "sales_count", "min_price_fen")
    list_select_related = ("merchant", "category")
    inlines = [SkuInline, StatusChangeInline]
    actions = ("block", "unblock")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change or {"title", "category"} & set(form.changed_data):
            product_refresh_search(product_ids=[obj.pk])

    @admin.action(description="Block the selected products (asks for a reason)")
    @audited("product.block")
    def block(self, request, queryset):
        def apply(data):
            for product in queryset.order_by("pk"):
                with audit_decision(request, product, reason=data["reason"]) as decision:
                    if _status_locked(product.pk) == Product.Status.BLOCKED:
                        decision.skip()  # blocked already: nothing decided now
                        continue
                    product_change_status(
                        product_id=product.pk,
                        to_status=Product.Status.BLOCKED,
                        actor=request.user,
                        reason=data["reason"],
                    )
            self.message_user(request, f"Blocked {queryset.count()} product(s).", messages.WARNING)

        return action_form(
            self,
            request,
            queryset,
            form_class=BlockForm,
            title="Block products",
            submit_label="Block",
            apply=apply,
            action="block",
            intro="Blocked products leave the shop at once; the merchant cannot put them back on sale.",
        )

    @admin.action(description="Lift the block (products go off sale; the merchant may republish)")
    @audited("product.unblock")
    def unblock(self, request, queryset):
        done = 0
        for product in queryset.filter(status=Product.Status.BLOCKED).order_by("pk"):
            with audit_decision(request, product) as decision:
                if _status_locked(product.pk) != Product.Status.BLOCKED:
                    decision.skip()  # lifted meanwhile
                    continue
                product_change_status(
                    product_id=product.pk,
                    to_status=Product.Status.OFF_SALE,
                    actor=request.user,
                    reason="Block lifted",
                )
            done += 1
        self.message_user(request, f"Lifted the block on {done} product(s).", messages.SUCCESS)


@admin.register(Sku)
class SkuAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "product",
        "merchant",
        "price_fen",
        "on_hand",
        "reserved",
        "available",
        "commission_bps",
    )
    list_filter = ("product__category",)
    search_fields = ("code", "product__title")
    raw_id_fields = ("product", "merchant")
    readonly_fields = ("reserved", "sales_count")
    list_select_related = ("product", "merchant")


@admin.register(ProductStatusChange)
class ProductStatusChangeAdmin(admin.ModelAdmin):
    list_display = ("created_at", "product", "from_status", "to_status", "actor", "reason")
    list_filter = ("to_status",)
    search_fields = ("product__title", "reason")
    readonly_fields = ("product", "from_status", "to_status", "actor", "reason", "created_at")
    list_select_related = ("product", "actor")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _status_locked(product_id: int) -> str:
    """The product's status under the row lock ``product_change_status`` takes first (in the
    decision's transaction): whether there is anything to decide, without a race."""
    return Product.objects.select_for_update().values_list("status", flat=True).get(pk=product_id)
