import factory

from accounts.models import User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"wx_user{n}")
    openid = factory.Sequence(lambda n: f"openid-{n}")
    nickname = factory.Sequence(lambda n: f"用户{n}")
    phone = factory.Sequence(lambda n: f"138{n:08d}")
    password = factory.PostGenerationMethodCall("set_unusable_password")
