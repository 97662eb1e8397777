"""The one file that includes every app's URLs (by string, so no upward imports)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from shop.api.health import HealthApi
from shop.api.metrics import metrics_view

API_PREFIX = "api/v1/"

urlpatterns = [
    path("healthz", HealthApi.as_view(), name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path(API_PREFIX, include("accounts.api.urls")),
    path(API_PREFIX, include("products.api.urls")),
    path(API_PREFIX, include("merchants.api.urls")),
    path(API_PREFIX, include("groupstore.api.urls")),
    path(API_PREFIX, include("orders.api.urls")),
    path(API_PREFIX, include("rebates.api.urls")),
    path(API_PREFIX, include("shop.payments.api.urls")),
    path(API_PREFIX, include("shop.notifications.api.urls")),
]

handler400 = "shop.api.exception_handler.json_400"
handler403 = "shop.api.exception_handler.json_403"
handler404 = "shop.api.exception_handler.json_404"
handler500 = "shop.api.exception_handler.json_500"
