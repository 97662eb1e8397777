"""The bench's URL conf: every real URL of ``shop.urls`` plus the reference endpoints
and the readiness probe."""

from django.urls import path

from shop.urls import handler400, handler403, handler404, handler500
from shop.urls import urlpatterns as shop_urlpatterns

from .views import BuyApi, HelloApi, ReadOneApi, ready

# The reference endpoints first: ``shop.urls`` ends with its catch-all JSON 404.
urlpatterns = [
    path("bench/hello", HelloApi.as_view(), name="bench-hello"),
    path("bench/read_1", ReadOneApi.as_view(), name="bench-read-1"),
    path("bench/buy", BuyApi.as_view(), name="bench-buy"),
    path("bench/ready", ready, name="bench-ready"),
    *shop_urlpatterns,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
