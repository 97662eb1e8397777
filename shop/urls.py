"""The one file that includes every app's URLs (by string, so no upward imports)."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from shop.api.exception_handler import json_404
from shop.api.health import HealthApi
from shop.api.metrics import metrics_view

API_PREFIX = "api/v1/"

# Django tries these in order, one by one, on every request: the API comes first, its apps
# by traffic (checkout and orders, the catalog, stores, …; the merchant console last).
# Resolving POST /orders used to try 41 patterns first, ~7 % of a sold-out flash answer.
urlpatterns = [
    path(API_PREFIX, include("orders.api.urls")),
    path(API_PREFIX, include("products.api.urls")),
    path(API_PREFIX, include("groupstore.api.urls")),
    path(API_PREFIX, include("accounts.api.urls")),
    path(API_PREFIX, include("rebates.api.urls")),
    path(API_PREFIX, include("shop.payments.api.urls")),
    path(API_PREFIX, include("shop.notifications.api.urls")),
    path(API_PREFIX, include("assistant.api.urls")),
    path(API_PREFIX, include("merchants.api.urls")),
    path("healthz", HealthApi.as_view(), name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("console/", include("console.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # Last: any other URL is a JSON 404 in every mode. ``handler404`` alone is not enough: with
    # DEBUG on (``make run``) Django answers an unmatched URL with its HTML debug page.
    # ("/admin" is left out so that it still redirects to "/admin/".)
    re_path(r"^(?!admin$)", csrf_exempt(json_404), name="not-found"),  # a POST too: 404, not CSRF's 403
]

handler400 = "shop.api.exception_handler.json_400"
handler403 = "shop.api.exception_handler.json_403"
handler404 = "shop.api.exception_handler.json_404"
handler500 = "shop.api.exception_handler.json_500"
