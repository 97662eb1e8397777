import factory

from accounts.tests.factories import UserFactory
from merchants.models import Merchant, MerchantStaff


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    company_name = factory.Sequence(lambda n: f"好物商贸有限公司{n}")
    licence_no = factory.Sequence(lambda n: f"91310000MA{n:08d}")
    contact_phone = "021-12345678"
    status = Merchant.Status.APPROVED
    applicant = factory.SubFactory(UserFactory)


class MerchantStaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MerchantStaff

    merchant = factory.SubFactory(MerchantFactory)
    user = factory.SubFactory(UserFactory)
    role = MerchantStaff.Role.OWNER
