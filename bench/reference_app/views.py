"""``GET /bench/hello`` (DRF's ceiling), ``GET /bench/read_1`` (the authenticated floor),
``POST /bench/buy`` (the write path's ceiling) and ``GET /bench/ready`` (the readiness probe of
``bench/harness.py``).

The buy is one transaction of one SELECT of a price, one INSERT and one conditional
stock UPDATE (``stock >= 1``, issued last), as LIMITS.md row f+ measured it. No
authentication: both measure what every real request pays before its own work.
"""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.http import HttpResponse
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import BenchItem, BenchOrder


class HelloApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"hello": "world"})


class ReadOneApi(APIView):
    """The authenticated floor (issue 18): DRF with the API's own defaults — bearer-token
    authentication, ``IsAuthenticated``, the JSON renderer — and one indexed SELECT by primary
    key. Every authenticated read of the API does at least this much; what a real endpoint
    costs beyond it is its own work plus what the framework adds for it."""

    def get(self, request):
        row = get_user_model().objects.filter(pk=request.user.pk).values_list("pk", "nickname").first()
        return Response({"id": row[0], "nickname": row[1]})


class BuyApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        item_id = serializers.IntegerField(min_value=1)

    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        item_id = payload.validated_data["item_id"]
        with transaction.atomic():
            price = BenchItem.objects.filter(pk=item_id).values_list("price_fen", flat=True).first()
            if price is None:
                return Response({"error": {"code": "not_found", "message": "No such item."}}, status=404)
            order = BenchOrder.objects.create(item_id=item_id, price_fen=price)
            if not BenchItem.objects.filter(pk=item_id, stock__gte=1).update(stock=F("stock") - 1):
                transaction.set_rollback(True)
                return Response({"error": {"code": "out_of_stock", "message": "Sold out."}}, status=409)
        return Response({"id": order.pk, "price_fen": price}, status=status.HTTP_201_CREATED)


def ready(request):
    """``GET /bench/ready``: the token this server was started with (``BENCH_SERVER_TOKEN``), so
    that a bench knows the server answering on its port is the one it started."""
    return HttpResponse(os.environ.get("BENCH_SERVER_TOKEN", ""), content_type="text/plain")
