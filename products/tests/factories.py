import factory

from products.models import Category, Product, Sku


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"日用百货{n}")
    deposit_fen = 200_000


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    merchant = factory.SubFactory("merchants.tests.factories.MerchantFactory")
    category = factory.SubFactory(CategoryFactory)
    title = factory.Sequence(lambda n: f"维达抽纸 3层100抽 纸巾 {n}")
    status = Product.Status.ON_SALE
    min_price_fen = 1_990


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku

    product = factory.SubFactory(ProductFactory)
    merchant = factory.SelfAttribute("product.merchant")
    code = factory.Sequence(lambda n: f"SKU-{n}")
    spec = factory.LazyFunction(lambda: {"规格": "10包"})
    price_fen = 1_990
    on_hand = 100
    commission_bps = 1_000


class SellerFactory(factory.django.DjangoModelFactory):
    """An approved merchant for catalog tests, named by string: products sits below merchants."""

    class Meta:
        model = "merchants.Merchant"

    company_name = factory.Sequence(lambda n: f"卖家商贸{n}")
    licence_no = factory.Sequence(lambda n: f"91440000SE{n:08d}")
    contact_phone = "020-12345678"
    status = "approved"
    applicant = factory.SubFactory("accounts.tests.factories.UserFactory")
