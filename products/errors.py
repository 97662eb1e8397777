from shop.errors import Conflict, NotFound


class OutOfStock(Conflict):
    code = "out_of_stock"
    default_message = "Not enough stock."


class ProductNotFound(NotFound):
    code = "not_found"
    default_message = "No such product."


class SkuNotOnSale(Conflict):
    code = "sku_not_on_sale"
    default_message = "This item is not on sale."
