from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from groupstore.selectors import (
    MEMBER_ORDERINGS,
    member_list_for_owner,
    savings_for_user,
    store_dashboard,
    store_flash_unlocked,
    store_get_for_member,
    store_get_for_owner,
    store_list_for_user,
    store_stats,
)
from groupstore.services import chat_group_resolve, share_link_create, store_create, store_join
from products.models import Product


class GroupTicket(serializers.Serializer):
    encrypted_data = serializers.CharField(max_length=4096)
    iv = serializers.CharField(max_length=64)


class MyStoreOutput(serializers.Serializer):
    id = serializers.IntegerField(source="store.id")
    name = serializers.CharField(source="store.name")
    owner_id = serializers.IntegerField(source="store.owner_id")
    role = serializers.CharField()
    joined_at = serializers.DateTimeField()


class StoreListCreateApi(ListAPIView):
    """``GET /stores``: stores I own or belong to; ``POST /stores``: create one."""

    serializer_class = MyStoreOutput

    def get_queryset(self):
        return store_list_for_user(user=self.request.user)

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=60)
        group = GroupTicket(required=False)
        wechat_group_id = serializers.CharField(max_length=128, required=False, help_text="SANDBOX only.")

    class OutputSerializer(serializers.Serializer):
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
    class InputSerializer(serializers.Serializer):
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
    class InputSerializer(serializers.Serializer):
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


class DashboardOutput(serializers.Serializer):
    gmv_fen = serializers.IntegerField()
    members_count = serializers.IntegerField()
    orders_count = serializers.IntegerField()
    commission_pending_fen = serializers.IntegerField()
    commission_settled_fen = serializers.IntegerField()
    commission_clawed_back_fen = serializers.IntegerField()
    flash_unlocked = serializers.BooleanField()


class StoreDashboardApi(APIView):
    @extend_schema(responses=DashboardOutput)
    def get(self, request, store_id: int):
        store = store_get_for_owner(store_id=store_id, user=request.user)
        return Response(DashboardOutput(store_dashboard(store=store)).data)


class MemberOutput(serializers.Serializer):
    """What an owner may know of a member: never a phone number or an address."""

    user_id = serializers.IntegerField()
    nickname = serializers.CharField(source="user.nickname")
    joined_at = serializers.DateTimeField()
    orders_count = serializers.IntegerField()
    paid_fen = serializers.IntegerField()
    saved_fen = serializers.IntegerField()


class StoreMemberListApi(ListAPIView):
    serializer_class = MemberOutput

    class FilterSerializer(serializers.Serializer):
        ordering = serializers.ChoiceField(
            choices=list(MEMBER_ORDERINGS), required=False, default="-saved_fen"
        )

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        store = store_get_for_owner(store_id=self.kwargs["store_id"], user=self.request.user)
        return member_list_for_owner(store=store, ordering=filters.validated_data["ordering"])


class SavingsApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Savings",
            {
                "saved_fen": serializers.IntegerField(),
                "rebate_fen": serializers.IntegerField(),
                "by_store": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    def get(self, request):
        return Response(savings_for_user(user=request.user))
