import factory

from accounts.tests.factories import UserFactory
from merchants.models import Merchant, MerchantStaff
from shop.payments.gateways.ecommerce_sandbox import sandbox_sub_mchid


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    company_name = factory.Sequence(lambda n: f"好物商贸有限公司{n}")
    licence_no = factory.Sequence(lambda n: f"91310000MA{n:08d}")
    contact_phone = "021-12345678"
    status = Merchant.Status.APPROVED
    applicant = factory.SubFactory(UserFactory)
    # An approved merchant is a secondary merchant at the gateway (the sandbox's stable id).
    sub_mchid = factory.Sequence(lambda n: sandbox_sub_mchid(f"factory-merchant-{n}"))


class MerchantStaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MerchantStaff

    merchant = factory.SubFactory(MerchantFactory)
    user = factory.SubFactory(UserFactory)
    role = MerchantStaff.Role.OWNER


def pay_deposit(merchant: Merchant, amount_fen: int, payer=None, gateway: str = "sandbox"):
    """Pay ``amount_fen`` into the merchant's deposit through the real flow: a deposit
    payment, a signed sandbox callback, the payment handler. Returns the payment.
    ``gateway`` may name a registered sandbox-like gateway (e.g. the tests' ``fakepay``)."""
    from django.db import transaction

    from merchants.services import deposit_payment_create
    from shop.payments.gateways.sandbox import SandboxGateway
    from shop.payments.services import Applied, payment_apply_result

    if payer is None:
        # Paying is for the owner or finance (merchants/roles.py): the applicant, as the
        # merchant's first owner (made staff here when a test built the merchant alone).
        payer = merchant.applicant
        MerchantStaff.objects.get_or_create(
            user=payer, defaults={"merchant": merchant, "role": MerchantStaff.Role.OWNER}
        )
    with transaction.atomic():
        payment = deposit_payment_create(
            merchant=merchant, payer=payer, amount_fen=amount_fen, gateway=gateway
        )
    gateway = SandboxGateway()
    headers, body = gateway.build_success_callback(payment)
    outcome = payment_apply_result(
        gateway=payment.gateway, result=gateway.parse_payment_callback(headers=headers, body=body)
    )
    assert outcome == Applied.APPLIED
    payment.refresh_from_db()
    return payment
