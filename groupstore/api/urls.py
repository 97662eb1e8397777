from django.urls import path

from .views import (
    SavingsApi,
    ShareLinkCreateApi,
    StoreDashboardApi,
    StoreDetailApi,
    StoreJoinApi,
    StoreListCreateApi,
    StoreMemberListApi,
)

urlpatterns = [
    path("stores", StoreListCreateApi.as_view(), name="stores"),
    path("stores/join", StoreJoinApi.as_view(), name="store-join"),
    path("stores/<int:store_id>", StoreDetailApi.as_view(), name="store-detail"),
    path("stores/<int:store_id>/share-links", ShareLinkCreateApi.as_view(), name="store-share-links"),
    path("stores/<int:store_id>/dashboard", StoreDashboardApi.as_view(), name="store-dashboard"),
    path("stores/<int:store_id>/members", StoreMemberListApi.as_view(), name="store-members"),
    path("savings", SavingsApi.as_view(), name="savings"),
]
