"""``/merchant/statements`` (docs/api.md): a merchant's daily statements, their lines and exports.
Merchant staff only, their own merchant's statements only (anyone else's is a 404)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.views import APIView

from merchants.api.permissions import MERCHANT_STAFF
from rebates.models import MerchantStatementLine
from rebates.selectors import statement_get_for_merchant, statement_line_list, statement_list_for_merchant
from rebates.statement_export import FILE_TYPES, statement_file_response
from shop.api.serializers import QuerySerializer, Serializer


class StatementOutput(Serializer):
    id = serializers.IntegerField()
    date = serializers.DateField(help_text="The Asia/Shanghai day.")
    opening_fen = serializers.IntegerField(help_text="The day before's closing.")
    sales_fen = serializers.IntegerField()
    subsidy_fen = serializers.IntegerField(help_text="Net of the subsidies returned that day.")
    gateway_fee_fen = serializers.IntegerField()
    commission_fen = serializers.IntegerField()
    platform_fee_fen = serializers.IntegerField()
    refunds_fen = serializers.IntegerField(
        help_text="Refunds taken from frozen funds, net of the shares returned into them."
    )
    released_fen = serializers.IntegerField()
    closing_fen = serializers.IntegerField(
        help_text="opening + sales + subsidy − gateway_fee − commission − platform_fee − refunds − released"
    )
    held_fen = serializers.IntegerField(help_text="The part of closing held by open after-sales.")
    returned_fen = serializers.IntegerField(help_text="Shares returned for refunds (information).")
    refunds_after_release_fen = serializers.IntegerField(help_text="Information, not in the identity.")
    deductions_fen = serializers.IntegerField(help_text="Deposit deductions (information).")


class StatementLineOutput(Serializer):
    order_id = serializers.IntegerField(allow_null=True)
    kind = serializers.ChoiceField(choices=MerchantStatementLine.Kind.choices)
    amount_fen = serializers.IntegerField(help_text="Signed as it adds to its figure.")
    at = serializers.DateTimeField()


class MerchantStatementListApi(ListAPIView):
    reads_may_lag = True  # a read replica may answer (shop/replicas.py)

    serializer_class = StatementOutput
    permission_classes = MERCHANT_STAFF

    class FilterSerializer(QuerySerializer):
        ordering = serializers.ChoiceField(
            choices=["date", "-date"], required=False, help_text="-date (default): newest first."
        )

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return statement_list_for_merchant(
            merchant_id=self.request.merchant.pk,
            viewer=self.request.user,
            oldest_first=filters.validated_data.get("ordering") == "date",
        )


class MerchantStatementLineListApi(ListAPIView):
    reads_may_lag = True  # a read replica may answer (shop/replicas.py)

    serializer_class = StatementLineOutput
    permission_classes = MERCHANT_STAFF

    def get_queryset(self):
        statement = statement_get_for_merchant(
            merchant_id=self.request.merchant.pk,
            statement_id=self.kwargs["statement_id"],
            viewer=self.request.user,
        )
        return statement_line_list(statement=statement)


class MerchantStatementExportApi(APIView):
    reads_may_lag = True  # a read replica may answer (shop/replicas.py)

    permission_classes = MERCHANT_STAFF

    class FilterSerializer(QuerySerializer):
        # ``file``, not ``format``: DRF reserves ``format`` for its own content negotiation.
        file = serializers.ChoiceField(choices=FILE_TYPES, required=False, default="csv")

    @extend_schema(
        parameters=[FilterSerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The statement as CSV."),
            (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The statement as an XLSX workbook."
            ),
        },
    )
    def get(self, request, statement_id: int):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        statement = statement_get_for_merchant(
            merchant_id=request.merchant.pk, statement_id=statement_id, viewer=request.user
        )
        return statement_file_response(statement, filters.validated_data["file"])
