from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from rebates.selectors import red_envelope_list_for_member
from rebates.services.envelopes import red_envelope_claim
from shop.api.serializers import Serializer
from shop.api.throttling import UserScopedRateThrottle


class RedEnvelopeOutput(Serializer):
    id = serializers.IntegerField()
    total_fen = serializers.IntegerField()
    shares = serializers.IntegerField()
    claimed_count = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    my_claim_fen = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()


class StoreRedEnvelopeListApi(ListAPIView):
    """Envelopes of a store I belong to (someone else's store: 404)."""

    serializer_class = RedEnvelopeOutput

    def get_queryset(self):
        return red_envelope_list_for_member(store_id=self.kwargs["store_id"], user=self.request.user)


class RedEnvelopeClaimApi(APIView):
    """Claim one share: ``{amount_fen}``. 404 outside my stores, 403 if I joined after it
    was sent, 409 when already claimed, none left or expired. Throttled per user: a bot
    that claims in every store it joined is slowed down."""

    throttle_classes = [UserScopedRateThrottle]
    throttle_scope = "envelope_claim"

    @extend_schema(
        request=None,
        responses=inline_serializer("RedEnvelopeClaimed", {"amount_fen": serializers.IntegerField()}),
    )
    def post(self, request, envelope_id: int):
        claim = red_envelope_claim(envelope_id=envelope_id, user=request.user)
        return Response({"amount_fen": claim.amount_fen})
