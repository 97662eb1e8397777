from django.urls import path

from .views import (
    LeaderMeApi,
    LeaderPickupPointApi,
    LeaderRegisterApi,
    SavingsApi,
    ShareLinkCreateApi,
    ShareLinkPosterApi,
    ShareSceneApi,
    StoreDashboardApi,
    StoreDetailApi,
    StoreJoinApi,
    StoreListCreateApi,
    StoreMemberListApi,
    VenueSelectionApi,
)

urlpatterns = [
    path("stores", StoreListCreateApi.as_view(), name="stores"),
    path("stores/join", StoreJoinApi.as_view(), name="store-join"),
    path("stores/<int:store_id>", StoreDetailApi.as_view(), name="store-detail"),
    path("stores/<int:store_id>/share-links", ShareLinkCreateApi.as_view(), name="store-share-links"),
    path(
        "stores/<int:store_id>/share-links/<str:token>/poster",
        ShareLinkPosterApi.as_view(),
        name="store-share-link-poster",
    ),
    path("share-scenes/<str:scene>", ShareSceneApi.as_view(), name="share-scene"),
    path("stores/<int:store_id>/dashboard", StoreDashboardApi.as_view(), name="store-dashboard"),
    path("stores/<int:store_id>/members", StoreMemberListApi.as_view(), name="store-members"),
    path("stores/<int:store_id>/selection", VenueSelectionApi.as_view(), name="store-selection"),
    path("savings", SavingsApi.as_view(), name="savings"),
    path("leaders/register", LeaderRegisterApi.as_view(), name="leader-register"),
    path("leaders/me", LeaderMeApi.as_view(), name="leader-me"),
    path("leaders/me/pickup-point", LeaderPickupPointApi.as_view(), name="leader-pickup-point"),
]
