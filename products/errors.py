from shop.errors import Conflict, NotFound


class OutOfStock(Conflict):
    code = "out_of_stock"
    default_message = "Not enough stock."


class ProductNotFound(NotFound):
    code = "not_found"
    default_message = "No such product."


class SkuNotFound(NotFound):
    code = "not_found"
    default_message = "No such SKU."


class SkuNotOnSale(Conflict):
    code = "sku_not_on_sale"
    default_message = "This item is not on sale."


class SkuCodeTaken(Conflict):
    code = "sku_code_taken"
    default_message = "You already have a SKU with this code."


class ProductStatusChangeRefused(Conflict):
    code = "illegal_status_change"
    default_message = "The product cannot move to that status from its current one."


class ProductBlocked(Conflict):
    code = "product_blocked"
    default_message = "Ops blocked this product; only ops can lift the block."


class ProductHasNoSkus(Conflict):
    code = "product_has_no_skus"
    default_message = "Add at least one SKU before putting the product on sale."


class CategoryChangeRefused(Conflict):
    code = "category_change_refused"
    default_message = "Take the product off sale before moving it to another category."
