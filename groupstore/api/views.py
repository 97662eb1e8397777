from __future__ import annotations

from dataclasses import asdict

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from groupstore.models import Membership
from groupstore.selectors import (
    MEMBER_ORDERINGS,
    leader_get_for_user,
    member_rows_for_owner,
    pickup_point_of_leader,
    savings_for_user,
    store_dashboard_for_owner,
    store_flash_unlocked,
    store_get_for_member,
    store_list_for_user,
    store_members_count_for_owner,
    store_stats,
    venue_selection_product_ids,
    venue_selection_products,
)
from groupstore.services import (
    chat_group_resolve,
    leader_register,
    pickup_point_close,
    pickup_point_put,
    share_link_create,
    share_poster,
    share_scene_resolve,
    store_create,
    store_join,
    venue_selection_set,
)
from products.models import Product
from shop.api.confirm import confirmation_schema, require_confirmation
from shop.api.pagination import KnownCountPagination
from shop.api.serializers import QuerySerializer, Serializer
from shop.api.throttling import UserScopedRateThrottle
from shop.errors import NotFound


class GroupTicket(Serializer):
    encrypted_data = serializers.CharField(max_length=4096)
    iv = serializers.CharField(max_length=64)


class MyStoreOutput(Serializer):
    id = serializers.IntegerField(source="store.id")
    name = serializers.CharField(source="store.name")
    owner_id = serializers.IntegerField(source="store.owner_id")
    role = serializers.CharField()
    joined_at = serializers.DateTimeField()


class StoreListCreateApi(ListAPIView):
    """``GET /stores``: stores I own or belong to; ``POST /stores``: create one."""

    serializer_class = MyStoreOutput
    queryset = Membership.objects.none()  # for the schema; get_queryset gives the caller's
    throttle_scope = "store_create"  # per user, on POST only (anti-spam)

    def get_queryset(self):
        return store_list_for_user(user=self.request.user)

    def get_throttles(self):
        return [UserScopedRateThrottle()] if self.request.method == "POST" else []

    class InputSerializer(Serializer):
        name = serializers.CharField(max_length=60)
        group = GroupTicket(required=False)
        wechat_group_id = serializers.CharField(max_length=128, required=False, help_text="SANDBOX only.")

    class OutputSerializer(Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        owner_id = serializers.IntegerField()
        share_token = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, 200: OutputSerializer})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        group_id = chat_group_resolve(
            user=request.user, group=data.get("group"), wechat_group_id=data.get("wechat_group_id")
        )
        result = store_create(owner=request.user, name=data["name"], wechat_group_id=group_id)
        body = {
            "id": result.store.pk,
            "name": result.store.name,
            "owner_id": result.store.owner_id,
            "share_token": result.share_token,
        }
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class StoreJoinApi(APIView):
    throttle_classes = [UserScopedRateThrottle]
    throttle_scope = "store_join"

    class InputSerializer(Serializer):
        share_token = serializers.CharField(max_length=64)
        group = GroupTicket(required=False)
        wechat_group_id = serializers.CharField(max_length=128, required=False, help_text="SANDBOX only.")

    @extend_schema(
        request=InputSerializer,
        responses=inline_serializer(
            "StoreJoined",
            {
                "store_id": serializers.IntegerField(),
                "role": serializers.CharField(),
                "joined_at": serializers.DateTimeField(),
            },
        ),
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        group_id = chat_group_resolve(
            user=request.user, group=data.get("group"), wechat_group_id=data.get("wechat_group_id")
        )
        membership = store_join(user=request.user, share_token=data["share_token"], wechat_group_id=group_id)
        return Response(
            {"store_id": membership.store_id, "role": membership.role, "joined_at": membership.joined_at}
        )


class StoreDetailApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "StoreDetail",
            {
                "id": serializers.IntegerField(),
                "name": serializers.CharField(),
                "owner_id": serializers.IntegerField(),
                "members_count": serializers.IntegerField(),
                "flash_unlocked": serializers.BooleanField(),
                "is_venue": serializers.BooleanField(),
            },
        )
    )
    def get(self, request, store_id: int):
        store, _ = store_get_for_member(store_id=store_id, user=request.user)
        stats = store_stats(store_id=store.pk)
        return Response(
            {
                "id": store.pk,
                "name": store.name,
                "owner_id": store.owner_id,
                "members_count": stats.members_count,
                "flash_unlocked": store_flash_unlocked(stats=stats),
                "is_venue": store.is_venue,
            }
        )


class ShareLinkCreateApi(APIView):
    throttle_classes = [UserScopedRateThrottle]
    throttle_scope = "share_link_create"

    class InputSerializer(Serializer):
        product_id = serializers.PrimaryKeyRelatedField(
            queryset=Product.objects.filter(status=Product.Status.ON_SALE), required=False
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: inline_serializer("ShareLink", {"share_token": serializers.CharField()})},
    )
    def post(self, request, store_id: int):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        store, _ = store_get_for_member(store_id=store_id, user=request.user)
        product = payload.validated_data.get("product_id")
        link = share_link_create(
            store=store, created_by=request.user, product_id=product.pk if product else None
        )
        return Response({"share_token": link.token}, status=status.HTTP_201_CREATED)


class PNGRenderer(BaseRenderer):
    """Lets a client that asks for ``Accept: image/png`` have the poster; a refusal is still
    the JSON error shape, with its own Content-Type."""

    media_type = "image/png"
    format = "png"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return JSONRenderer().render(data)


class ShareLinkPosterApi(APIView):
    """``GET /stores/{id}/share-links/{token}/poster``: the link's share poster (PNG)."""

    renderer_classes = [JSONRenderer, PNGRenderer]
    throttle_classes = [UserScopedRateThrottle]
    throttle_scope = "share_poster"

    @extend_schema(
        responses={
            (200, "image/png"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The poster: the product's picture or title (or the store's name), the "
                "price a member pays now (a live flash price where the store has unlocked it), the "
                "sharer's nickname and the mini-program code that opens the link.",
            )
        }
    )
    def get(self, request, store_id: int, token: str):
        png = share_poster(store_id=store_id, token=token, user=request.user)
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class ShareSceneApi(APIView):
    """``GET /share-scenes/{scene}``: what a scanned poster code opens (then ``POST /stores/join``)."""

    throttle_classes = [UserScopedRateThrottle]
    throttle_scope = "share_scene"

    @extend_schema(
        responses=inline_serializer(
            "ShareScene",
            {
                "store_id": serializers.IntegerField(),
                "share_token": serializers.CharField(),
                "product_id": serializers.IntegerField(allow_null=True),
            },
        )
    )
    def get(self, request, scene: str):
        target = share_scene_resolve(scene=scene)
        return Response(asdict(target))


class DashboardOutput(Serializer):
    gmv_fen = serializers.IntegerField()
    members_count = serializers.IntegerField()
    orders_count = serializers.IntegerField()
    commission_pending_fen = serializers.IntegerField()
    commission_settled_fen = serializers.IntegerField()
    commission_clawed_back_fen = serializers.IntegerField()
    flash_unlocked = serializers.BooleanField()


class StoreDashboardApi(APIView):
    reads_may_lag = True  # a read replica may answer (shop/replicas.py)

    @extend_schema(responses=DashboardOutput)
    def get(self, request, store_id: int):
        return Response(asdict(store_dashboard_for_owner(store_id=store_id, user=request.user)))


class MemberOutput(Serializer):
    """What an owner may know of a member: never a phone number or an address."""

    user_id = serializers.IntegerField()
    nickname = serializers.CharField()
    joined_at = serializers.DateTimeField()
    orders_count = serializers.IntegerField()
    paid_fen = serializers.IntegerField()
    saved_fen = serializers.IntegerField()


class StoreMemberListApi(ListAPIView):
    """Owner only. Sorted by ``-saved_fen`` (default), ``-paid_fen`` or ``-joined_at``; paginated,
    one indexed range read per page and the count from the store's aggregate row."""

    reads_may_lag = True  # a read replica may answer (shop/replicas.py)

    serializer_class = MemberOutput
    queryset = Membership.objects.none()  # for the schema; get_queryset gives the store's
    pagination_class = KnownCountPagination

    class FilterSerializer(QuerySerializer):
        ordering = serializers.ChoiceField(
            choices=list(MEMBER_ORDERINGS), required=False, default="-saved_fen"
        )

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        store_id = self.kwargs["store_id"]
        self.known_count = store_members_count_for_owner(store_id=store_id, user=self.request.user)
        return member_rows_for_owner(store_id=store_id, ordering=filters.validated_data["ordering"])

    _joined_at = serializers.DateTimeField()

    def list(self, request, *args, **kwargs):
        # The rows are plain dicts of exactly the documented fields (``MemberOutput``); only the
        # time needs rendering. Skipping the serializer per row is a third of this hot call's cost.
        page = self.paginate_queryset(self.get_queryset())
        for row in page:
            row["joined_at"] = self._joined_at.to_representation(row["joined_at"])
        return self.get_paginated_response(page)


class StoreSavingsOutput(Serializer):
    store_id = serializers.IntegerField()
    store_name = serializers.CharField()
    saved_fen = serializers.IntegerField()
    rebate_fen = serializers.IntegerField()
    discount_fen = serializers.IntegerField()
    envelope_fen = serializers.IntegerField()
    paid_fen = serializers.IntegerField()
    orders_count = serializers.IntegerField()


class SavingsApi(APIView):
    reads_may_lag = True  # a read replica may answer (shop/replicas.py)

    @extend_schema(
        responses=inline_serializer(
            "Savings",
            {
                "saved_fen": serializers.IntegerField(),
                "rebate_fen": serializers.IntegerField(),
                "by_store": StoreSavingsOutput(many=True),
            },
        )
    )
    def get(self, request):
        return Response(savings_for_user(user=request.user))


class LeaderOutput(Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    certified_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class LeaderRegisterApi(APIView):
    """``POST /leaders/register``: apply to be a leader with an invitation code; ops certify.
    ``201`` for a new application, ``200`` with the existing one if already applied."""

    throttle_classes = [UserScopedRateThrottle]
    throttle_scope = "leader_register"

    class InputSerializer(Serializer):
        invitation_code = serializers.CharField(max_length=40)

    @extend_schema(request=InputSerializer, responses={201: LeaderOutput, 200: LeaderOutput})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        leader, created = leader_register(
            user=request.user, invitation_code=payload.validated_data["invitation_code"]
        )
        return Response(
            LeaderOutput(leader).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class LeaderMeApi(APIView):
    """``GET /leaders/me``: my leader application and its status (404 if none)."""

    @extend_schema(responses=LeaderOutput)
    def get(self, request):
        leader = leader_get_for_user(user=request.user)
        if leader is None:
            raise NotFound("You have not applied to be a leader.")
        return Response(LeaderOutput(leader).data)


class VenueProductOutput(Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    cover_image = serializers.CharField(allow_null=True)
    price_fen = serializers.IntegerField(allow_null=True, help_text="The lowest list price of its SKUs.")


class VenueSelectionOutput(Serializer):
    store_id = serializers.IntegerField()
    is_venue = serializers.BooleanField()
    product_ids = serializers.ListField(child=serializers.IntegerField())
    products = VenueProductOutput(many=True, help_text="The selected products on sale, leader's order.")


class VenueSelectionApi(APIView):
    """``GET``: the venue's curated products (members); ``PUT``: replace them (the store's
    owner as a certified leader; on-sale products only)."""

    class InputSerializer(Serializer):
        product_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), allow_empty=True, max_length=200
        )

    @extend_schema(responses=VenueSelectionOutput)
    def get(self, request, store_id: int):
        store, _ = store_get_for_member(store_id=store_id, user=request.user)
        return Response(
            {
                "store_id": store.pk,
                "is_venue": store.is_venue,
                "product_ids": venue_selection_product_ids(store_id=store.pk),
                "products": venue_selection_products(store_id=store.pk),
            }
        )

    @extend_schema(request=InputSerializer, responses=VenueSelectionOutput)
    def put(self, request, store_id: int):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        product_ids = venue_selection_set(
            store_id=store_id, user=request.user, product_ids=payload.validated_data["product_ids"]
        )
        return Response(
            {
                "store_id": store_id,
                "is_venue": True,
                "product_ids": product_ids,
                "products": venue_selection_products(store_id=store_id),
            }
        )


class LeaderPickupPointOutput(Serializer):
    """The leader's own point, with the contact carriers call (buyers never see it)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    region = serializers.CharField()
    address = serializers.CharField()
    opening_hours = serializers.CharField()
    contact_name = serializers.CharField()
    contact_phone = serializers.CharField()
    is_open = serializers.BooleanField()
    closed_at = serializers.DateTimeField(allow_null=True)


class LeaderPickupPointApi(APIView):
    """``/leaders/me/pickup-point``: a certified leader's pickup point. ``PUT`` opens or changes
    it (``201`` when new); ``DELETE`` with ``{"confirm": "close"}`` closes it for new orders
    (parcels on their way are still handed out; ``PUT`` reopens it); ``GET`` shows it (404
    when none)."""

    class InputSerializer(Serializer):
        name = serializers.CharField(max_length=60)
        region = serializers.CharField(max_length=100)
        address = serializers.CharField(max_length=200)
        opening_hours = serializers.CharField(max_length=100)
        contact_name = serializers.CharField(max_length=40)
        contact_phone = serializers.RegexField(r"^\+?[0-9][0-9 -]{5,19}$", max_length=20)

    @extend_schema(responses=LeaderPickupPointOutput)
    def get(self, request):
        return Response(LeaderPickupPointOutput(pickup_point_of_leader(user=request.user)).data)

    @extend_schema(
        request=InputSerializer, responses={200: LeaderPickupPointOutput, 201: LeaderPickupPointOutput}
    )
    def put(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        point, created = pickup_point_put(leader=request.user, **payload.validated_data)
        return Response(
            LeaderPickupPointOutput(point).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        request=confirmation_schema("close", name="PickupPointCloseInput"),
        responses={200: LeaderPickupPointOutput},
    )
    def delete(self, request):
        pickup_point_of_leader(user=request.user)  # no point: 404 before the body is asked for
        require_confirmation(request, word="close")
        return Response(LeaderPickupPointOutput(pickup_point_close(leader=request.user)).data)
