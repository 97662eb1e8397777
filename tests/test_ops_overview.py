"""The ops overview on the admin index (issue 16, step 2): each panel's selector against
known data, the SVG chart helper, and the index page for staff and for everyone else.

Orders are made by the real checkout and payment (``rebates.tests.helpers``), then placed
in time and state with ``update()``: the panels only read, and what they read is exact.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.utils import timezone

from groupstore.tests.factories import make_store
from merchants.models import Merchant
from merchants.overview import deposit_coverage_for_ops
from merchants.tests.factories import MerchantFactory, pay_deposit
from orders.models import AfterSale, Order
from orders.overview import after_sales_daily_for_ops, after_sales_figures_for_ops, order_daily_sales_for_ops
from products.tests.factories import CategoryFactory, SkuFactory
from rebates.models import OrderSettlement
from rebates.overview import settlement_backlog_for_ops
from rebates.tests.helpers import make_paid_order, make_pending_order
from shop.charts import bar_chart_svg
from shop.overview import CACHE_KEY, Chart, Series, local_days
from shop.payments.models import BillImport, FundsStep, PaymentPart, ReconciliationCase, Refund
from shop.payments.overview import funds_step_backlog_for_ops, reconciliation_open_for_ops

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=SHANGHAI)


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def shop():
    store, _, buyers = make_store(members=6)
    sku = SkuFactory(price_fen=1_000, on_hand=100)
    return store, buyers, sku


def _orders(shop, count: int) -> list[Order]:
    store, buyers, sku = shop
    return [make_paid_order(buyer=buyers[i], store=store, sku=sku) for i in range(count)]


def _set(order: Order, **fields) -> None:
    Order.objects.filter(pk=order.pk).update(**fields)


def test_local_days_are_the_last_30_shanghai_days():
    days, start = local_days(NOW)
    assert len(days) == 30
    assert days[-1] == date(2026, 12, 4)
    assert days[0] == date(2026, 11, 5)
    assert start == at(5, 0, month=11)


def test_sales_per_day_counts_paid_orders_on_the_local_day_of_payment(shop):
    early, late, old = _orders(shop, 3)
    store, buyers, sku = shop
    unpaid = make_pending_order(buyer=buyers[3], store=store, sku=sku)
    _set(early, paid_at=at(4, 1), paid_fen=1_000)  # 17:00 UTC on the 3rd: the 4th in Shanghai
    _set(late, paid_at=at(3, 23, 30), paid_fen=2_500, status=Order.Status.REFUNDED)  # still GMV
    _set(old, paid_at=at(1, 10, month=11), paid_fen=9_999)  # before the window

    sales = order_daily_sales_for_ops(since=local_days(NOW)[1])

    assert {d: (s.orders_count, s.gmv_fen) for d, s in sales.items()} == {
        date(2026, 12, 4): (1, 1_000),
        date(2026, 12, 3): (1, 2_500),
    }
    assert unpaid.paid_at is None


def test_settlement_backlog_is_completed_orders_without_settlement_or_share_and_due_receipts(shop):
    unsettled, settled, shared, due, not_due, old = _orders(shop, 6)
    done = NOW - timedelta(hours=1)
    _set(unsettled, status=Order.Status.COMPLETED, completed_at=done, paid_fen=1_000, refunded_fen=200)
    _set(settled, status=Order.Status.COMPLETED, completed_at=done)
    OrderSettlement.objects.create(
        order=settled,
        merchant_id=settled.merchant_id,
        commission_fen=0,
        merchant_payable_fen=0,
        platform_fee_fen=0,
        settled_at=done,
    )
    _set(shared, status=Order.Status.COMPLETED, completed_at=done)
    part = _part(shared)
    FundsStep.objects.create(
        kind=FundsStep.Kind.SHARE,
        part=part,
        order_id=shared.pk,
        merchant_id=shared.merchant_id,
        out_no=f"S{shared.pk}",
        amount_fen=0,
    )
    _set(due, status=Order.Status.RECEIVED, after_sales_closes_at=NOW - timedelta(minutes=1), paid_fen=1_500)
    _set(not_due, status=Order.Status.RECEIVED, after_sales_closes_at=NOW + timedelta(days=1))

    _set(old, status=Order.Status.COMPLETED, completed_at=NOW - timedelta(days=40))  # before the window

    backlog = settlement_backlog_for_ops(now=NOW, since=local_days(NOW)[1])

    assert (backlog.due_for_completion_count, backlog.due_for_completion_fen) == (1, 1_500)
    assert (backlog.unsettled_count, backlog.unsettled_fen) == (1, 800)
    assert backlog.unsettled_by_day == {date(2026, 12, 4): 1}
    assert backlog.oldest_unsettled_at == done


def _part(order: Order) -> PaymentPart:
    return PaymentPart.objects.create(
        payment=order.payment,
        order_id=order.pk,
        merchant_id=order.merchant_id,
        sub_mchid="1900000109",
        out_trade_no=f"P{order.pk}",
        amount_fen=order.paid_fen,
    )


def test_funds_step_backlog_counts_open_and_failed_steps_per_kind(shop):
    (order,) = _orders(shop, 1)
    part = _part(order)
    for no, (kind, status, fen) in enumerate(
        [
            (FundsStep.Kind.SHARE, FundsStep.Status.PENDING, 300),
            (FundsStep.Kind.SHARE, FundsStep.Status.PROCESSING, 20),
            (FundsStep.Kind.SHARE, FundsStep.Status.FAILED, 50),
            (FundsStep.Kind.SHARE, FundsStep.Status.CONFIRMED, 999),
            (FundsStep.Kind.UNFREEZE, FundsStep.Status.PROCESSING, 200),
        ]
    ):
        FundsStep.objects.create(
            kind=kind,
            status=status,
            part=part,
            order_id=order.pk,
            merchant_id=order.merchant_id,
            out_no=f"X{no}",
            amount_fen=fen,
            commission_fen=fen if kind == FundsStep.Kind.SHARE else 0,
        )

    backlog = {b.kind: b for b in funds_step_backlog_for_ops()}

    assert set(backlog) == set(FundsStep.Kind.values)  # every kind listed, zeros too
    share, unfreeze = backlog[FundsStep.Kind.SHARE], backlog[FundsStep.Kind.UNFREEZE]
    assert (share.open_count, share.open_fen, share.failed_count, share.failed_fen) == (2, 320, 1, 50)
    assert (unfreeze.open_count, unfreeze.open_fen, unfreeze.failed_count) == (1, 200, 0)
    assert backlog[FundsStep.Kind.SUBSIDY].open_count == 0


def _refund(order: Order, no: int, status: str, fen: int, finished_at=None, purpose="order_refund") -> Refund:
    return Refund.objects.create(
        payment=order.payment,
        purpose=purpose,
        amount_fen=fen,
        total_fen=order.paid_fen,
        key=f"k{no}",
        out_refund_no=f"R{no}",
        status=status,
        finished_at=finished_at,
    )


def test_refunds_and_disputes_open_now_and_per_day(shop):
    asked, disputed, closed = _orders(shop, 3)
    cases = {}
    for order, status, fen in (
        (asked, "requested", 100),
        (disputed, "disputed", 300),
        (closed, "closed", 50),
    ):
        cases[status] = AfterSale.objects.create(
            order=order,
            buyer=order.buyer,
            merchant=order.merchant,
            kind="refund",
            status=status,
            amount_fen=fen,
            reason="坏了",
        )
    AfterSale.objects.filter(pk=cases["requested"].pk).update(created_at=at(4, 9))
    AfterSale.objects.filter(pk=cases["disputed"].pk).update(created_at=at(2, 9), decided_at=at(3, 9))
    AfterSale.objects.filter(pk=cases["closed"].pk).update(created_at=at(1, 9, month=10))
    _refund(asked, 1, Refund.Status.PROCESSING, 100)
    _refund(asked, 2, Refund.Status.PENDING, 30, purpose="deposit_refund")  # every purpose is in flight
    _refund(disputed, 3, Refund.Status.FAILED, 70)
    _refund(closed, 4, Refund.Status.SUCCEEDED, 40, finished_at=at(4, 8))
    _refund(closed, 5, Refund.Status.SUCCEEDED, 999, finished_at=at(4, 8), purpose="deposit_refund")

    figures = after_sales_figures_for_ops()
    daily = after_sales_daily_for_ops(since=local_days(NOW)[1])

    assert (figures.open_count, figures.disputed_count, figures.disputed_fen) == (2, 1, 300)
    assert (figures.refunds_in_flight_count, figures.refunds_in_flight_fen) == (2, 130)
    assert (figures.refunds_failed_count, figures.refunds_failed_fen) == (1, 70)
    assert {
        d: (v.cases_opened, v.disputes_open, v.refunds_count, v.refunds_fen) for d, v in daily.items()
    } == {
        date(2026, 12, 4): (1, 0, 1, 40),  # only order refunds are charted
        date(2026, 12, 2): (1, 0, 0, 0),
        date(2026, 12, 3): (0, 1, 0, 0),
    }


def test_deposit_coverage_lists_trading_merchants_below_their_highest_category_standard():
    cheap, dear = (
        CategoryFactory(name="日用", deposit_fen=100_000),
        CategoryFactory(name="家电", deposit_fen=300_000),
    )
    both = MerchantFactory(company_name="两类商家")
    both.categories.set([cheap, dear])
    covered = MerchantFactory(company_name="达标商家")
    covered.categories.set([cheap])
    bare = MerchantFactory(company_name="未缴商家", status=Merchant.Status.SUSPENDED)
    bare.categories.set([dear])
    pending = MerchantFactory(company_name="待审商家", status=Merchant.Status.PENDING)
    pending.categories.set([dear])
    MerchantFactory(company_name="无类目商家")  # no category: nothing to cover
    pay_deposit(both, 200_000)
    pay_deposit(covered, 100_000)

    coverage = deposit_coverage_for_ops()

    assert coverage.merchants_count == 3
    assert [(s.company_name, s.balance_fen, s.required_fen, s.short_fen) for s in coverage.below] == [
        ("未缴商家", 0, 300_000, 300_000),
        ("两类商家", 200_000, 300_000, 100_000),
    ]
    assert [(c.name, c.merchants_count, c.below_count) for c in coverage.categories] == [
        ("日用", 2, 0),
        ("家电", 2, 2),
    ]


def test_reconciliation_counts_open_cases_and_the_money_that_differs():
    bill = BillImport.objects.create(
        gateway="sandbox", kind="trade", bill_date=date(2026, 12, 3), status="done"
    )
    BillImport.objects.create(gateway="sandbox", kind="refund", bill_date=date(2026, 12, 3), status="failed")

    def case(key, kind, ours, theirs, day, status="open"):
        ReconciliationCase.objects.create(
            kind=kind,
            gateway="sandbox",
            bill_kind="trade",
            key=key,
            bill_date=day,
            bill_import=bill,
            our_amount_fen=ours,
            bill_amount_fen=theirs,
            status=status,
        )

    case("A", "amount_differs", 100, 90, date(2026, 12, 3))
    case("B", "missing_ours", None, 500, date(2026, 10, 1))
    case("C", "amount_differs", 1_000, 0, date(2026, 12, 3), status="resolved")

    figures = reconciliation_open_for_ops()

    assert (figures.open_count, figures.difference_fen, figures.failed_imports) == (2, 510, 1)
    assert figures.by_kind == {"amount_differs": 1, "missing_ours": 1}
    assert figures.by_bill_date == {date(2026, 12, 3): 1, date(2026, 10, 1): 1}
    assert figures.oldest_bill_date == date(2026, 10, 1)


def test_bar_chart_scales_bars_and_escapes_text():
    svg = bar_chart_svg(Chart("<b>GMV</b>", ["a<", "b", "c"], [Series("x&y", [0, 50, 100])]))
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert "<b>" not in svg
    assert "&lt;b&gt;GMV&lt;/b&gt;" in svg
    assert "x&amp;y" in svg
    heights = [float(part.split('"')[0]) for part in svg.split('height="')[2:5]]  # after the svg's own
    assert heights == [0.0, 77.0, 154.0]  # the plot is 154 px tall; the axis top is 100


def test_bar_chart_money_axis_in_yuan():
    svg = bar_chart_svg(Chart("GMV", ["12-04"], [Series("GMV", [1_234_500_00], fen=True)]))
    # ¥1,234,500: the axis top is the next 1-2-5 step, ¥2,000,000 (200万), half-way 100万;
    # the bar's hover text is exact.
    assert "¥200.0万" in svg
    assert "¥100.0万" in svg
    assert "¥1234500.00" in svg


def test_admin_index_shows_the_overview_to_staff_only(admin_client, client, django_user_model, shop):
    cache.delete(CACHE_KEY)
    (order,) = _orders(shop, 1)
    AfterSale.objects.create(
        order=order,
        buyer=order.buyer,
        merchant=order.merchant,
        kind="refund",
        status="disputed",
        amount_fen=300,
        reason="坏了",
        decided_at=timezone.now(),
    )
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    page = response.content.decode()
    for title in (
        "GMV and orders per day",
        "Settlement and profit-sharing backlog",
        "Refunds and disputes",
        "Deposit coverage",
        "Reconciliation differences",
    ):
        assert title in page
    # 2 charts each for sales, settlement and after-sales; 1 each for deposits and reconciliation
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="ops-chart"') == 8
    assert "13800138000" not in page
    assert "世纪大道" not in page
    assert "app-orders" in page  # the list of apps is still there, below the overview

    django_user_model.objects.create_user(username="shopper", password="pw-not-staff")  # noqa: S106
    assert client.login(username="shopper", password="pw-not-staff")  # noqa: S106
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    client.logout()
    assert client.get("/admin/").status_code == 302


def test_admin_index_panels_are_cached_until_fresh_is_asked(admin_client, shop):
    cache.delete(CACHE_KEY)
    client = admin_client
    client.get("/admin/")
    (order,) = _orders(shop, 1)  # paid now: today's orders become 1
    cached = client.get("/admin/").context["ops_panels"][0]["panel"]
    fresh = client.get("/admin/?fresh=1").context["ops_panels"][0]["panel"]
    assert cached.key == fresh.key == "sales"
    assert (cached.figures[1].value, fresh.figures[1].value) == (0, 1)


def test_a_failing_panel_is_reported_and_the_index_still_opens(admin_client):
    from shop.overview import PANELS, PanelEntry

    def broken(now):
        raise RuntimeError("this app's data is broken")

    cache.delete(CACHE_KEY)
    with PANELS.override("orders.sales", PanelEntry(name="orders.sales", build=broken, order=10)):
        response = admin_client.get("/admin/?fresh=1")
    cache.delete(CACHE_KEY)
    assert response.status_code == 200
    page = response.content.decode()
    assert "This panel failed to load." in page
    assert "Deposit coverage" in page  # the other panels are there
