from django.urls import path

from .views import CategoryListApi, ProductDetailApi, ProductListApi

urlpatterns = [
    path("categories", CategoryListApi.as_view(), name="category-list"),
    path("products", ProductListApi.as_view(), name="product-list"),
    path("products/<int:product_id>", ProductDetailApi.as_view(), name="product-detail"),
]
