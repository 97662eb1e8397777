"""Staff roles through the API (merchants/roles.py): each service refuses a role it is not
for with ``403 staff_role_not_allowed``, so the REST API and the console obey one matrix.

Where the role is allowed, the same call goes on to the service's next rule (here usually
``404`` for an object that does not exist), which shows the refusal came from the role.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from merchants.models import MerchantStaff
from merchants.roles import AREA_ROLES, staff_require_role
from merchants.tests.factories import MerchantStaffFactory
from products.tests.factories import CategoryFactory
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db

OWNER, OPERATOR, FINANCE = MerchantStaff.Role.OWNER, MerchantStaff.Role.OPERATOR, MerchantStaff.Role.FINANCE
MISSING = 987_654
TRACKING = "SF1234567890"


def _client(make_client, role):
    staff = MerchantStaffFactory(role=role)
    return staff, make_client(staff.user)


def _flash_body():
    starts = timezone.now() + timedelta(days=1)
    return {
        "sku_id": MISSING,
        "flash_price_fen": 100,
        "units": 5,
        "per_buyer_limit": 1,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
    }


# (name, method, path, body, the answer when the role is allowed)
CALLS = {
    "create product": ("post", "/api/v1/merchant/products", {"title": "t", "category_id": MISSING}, 400),
    "change sku": ("patch", f"/api/v1/merchant/skus/{MISSING}", {"price_fen": 100}, 404),
    "ship order": (
        "post",
        f"/api/v1/merchant/orders/{MISSING}/ship",
        {"carrier": "SF", "tracking_no": TRACKING},
        404,
    ),
    "approve after-sale": ("post", f"/api/v1/merchant/after-sales/{MISSING}/approve", {"reason": "ok"}, 404),
    "reject after-sale": ("post", f"/api/v1/merchant/after-sales/{MISSING}/reject", {"reason": "no"}, 404),
    "return received": ("post", f"/api/v1/merchant/after-sales/{MISSING}/return-received", {}, 404),
    "propose flash offer": ("post", "/api/v1/merchant/flash-offers", "flash", 404),
    "list statements": ("get", "/api/v1/merchant/statements", None, 200),
    "statement lines": ("get", f"/api/v1/merchant/statements/{MISSING}/lines", None, 404),
    "export statement": ("get", f"/api/v1/merchant/statements/{MISSING}/export", None, 404),
    "deposit movements": ("get", "/api/v1/merchant/deposit-movements", None, 200),
    "invite staff": ("post", "/api/v1/merchant/staff/invitations", {"role": "operator"}, 201),
}
ALLOWED = {
    OWNER: set(CALLS),
    OPERATOR: {
        "create product",
        "change sku",
        "ship order",
        "approve after-sale",
        "reject after-sale",
        "return received",
        "propose flash offer",
    },
    FINANCE: {"list statements", "statement lines", "export statement", "deposit movements"},
}


def _call(client, name):
    method, path, body, _ = CALLS[name]
    if body == "flash":
        body = _flash_body()
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


@pytest.mark.parametrize("role", [OWNER, OPERATOR, FINANCE])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_role_is_refused_exactly_what_it_is_not_for(make_client, role, name):
    _, client = _client(make_client, role)
    response = _call(client, name)
    if name in ALLOWED[role]:
        assert response.status_code == CALLS[name][3], (response.status_code, response.content[:300])
    else:
        code = "not_merchant_owner" if name == "invite staff" else "staff_role_not_allowed"
        assert_error(response, 403, code)


@pytest.mark.parametrize(("role", "allowed"), [(OWNER, True), (OPERATOR, True), (FINANCE, False)])
def test_stock_uploads_are_for_owner_and_operator(make_client, role, allowed):
    staff, client = _client(make_client, role)
    upload = SimpleUploadedFile("stock.csv", b"sku_code,stock\nNOPE,5\n", content_type="text/csv")
    response = client.post("/api/v1/merchant/stock-uploads", {"file": upload}, format="multipart")
    if allowed:
        assert response.status_code == 201, response.content[:300]
    else:
        assert_error(response, 403, "staff_role_not_allowed")
        assert not staff.merchant.stock_uploads.exists() if hasattr(staff.merchant, "stock_uploads") else True


@pytest.mark.parametrize(("role", "allowed"), [(OWNER, True), (OPERATOR, False), (FINANCE, False)])
def test_leaving_the_platform_is_for_the_owner(make_client, role, allowed):
    staff, client = _client(make_client, role)
    response = client.post("/api/v1/merchant/exit", {"confirm": "exit"}, format="json")
    if allowed:
        assert response.status_code != 403, response.content[:300]
    else:
        assert_error(response, 403)  # the view's owner check (not_merchant_owner) or the service's
        staff.merchant.refresh_from_db()
        assert staff.merchant.status == "approved"


@pytest.mark.parametrize(("role", "allowed"), [(OWNER, True), (OPERATOR, True), (FINANCE, False)])
def test_the_return_address_is_for_owner_and_operator(make_client, role, allowed):
    staff, client = _client(make_client, role)
    address = {"name": "退货组", "phone": "0571-1", "region": "浙江省杭州市", "detail": "1 号"}
    response = client.patch("/api/v1/merchant/profile", {"return_address": address}, format="json")
    staff.merchant.refresh_from_db()
    if allowed:
        assert response.status_code == 200, response.content[:300]
        assert staff.merchant.return_address["detail"] == "1 号"
    else:
        assert_error(response, 403, "staff_role_not_allowed")
        assert staff.merchant.return_address != address


@pytest.mark.parametrize(("role", "allowed"), [(OWNER, True), (OPERATOR, False), (FINANCE, True)])
def test_paying_the_deposit_is_for_owner_and_finance(make_client, role, allowed):
    _, client = _client(make_client, role)
    response = client.post(
        "/api/v1/merchant/deposits", {"amount_fen": 10_000}, format="json", HTTP_IDEMPOTENCY_KEY=f"dep-{role}"
    )
    if allowed:
        assert response.status_code == 201, response.content[:300]
    else:
        assert_error(response, 403, "staff_role_not_allowed")


def test_the_matrix_gives_every_area_to_the_owner():
    assert all(OWNER in roles for roles in AREA_ROLES.values())


def test_ops_and_system_calls_pass_and_staff_of_another_merchant_do_not():
    from accounts.tests.factories import UserFactory
    from merchants.errors import NotMerchantStaff

    staff = MerchantStaffFactory(role=FINANCE)
    staff_require_role(user=None, merchant_id=staff.merchant_id, area="catalog")
    staff_require_role(user=UserFactory(is_staff=True), merchant_id=staff.merchant_id, area="catalog")
    other = MerchantStaffFactory(role=OWNER)
    with pytest.raises(NotMerchantStaff):
        staff_require_role(user=other.user, merchant_id=staff.merchant_id, area="statements")


def test_a_product_create_by_finance_writes_nothing(make_client):
    staff, client = _client(make_client, FINANCE)
    category = CategoryFactory()
    staff.merchant.categories.add(category)
    response = client.post(
        "/api/v1/merchant/products", {"title": "t", "category_id": category.pk}, format="json"
    )
    assert_error(response, 403, "staff_role_not_allowed")
    assert not staff.merchant.products.exists()
