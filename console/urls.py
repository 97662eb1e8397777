"""The merchant console's pages (``/console/``), one module per page under ``pages/``."""

from django.urls import path

from .pages import home, orders, products, signin, stock

app_name = "console"

urlpatterns = [
    path("", home.home, name="home"),
    path("signin", signin.signin, name="signin"),
    path("signout", signin.signout, name="signout"),
    path("products", products.product_list, name="products"),
    path("products/new", products.product_new, name="product-new"),
    path("products/<int:product_id>", products.product_detail, name="product"),
    path("products/<int:product_id>/skus", products.sku_new, name="sku-new"),
    path("skus/<int:sku_id>", products.sku_edit, name="sku"),
    path("stock", stock.stock_index, name="stock"),
    path("stock/uploads/<int:upload_id>", stock.stock_upload_detail, name="stock-upload"),
    path("stock/template.<str:file_format>", stock.stock_template, name="stock-template"),
    path("orders", orders.order_list, name="orders"),
    path("orders/<int:order_id>", orders.order_detail, name="order"),
    path("orders/shipping-list.<str:file_format>", orders.shipping_list, name="shipping-list"),
    path("orders/tracking", orders.tracking_upload, name="tracking-upload"),
]
