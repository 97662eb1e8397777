from accounts.tests.factories import UserFactory
from groupstore.services import membership_get_or_create, store_create


def make_store(*, owner=None, name: str = "宝妈团购群", members: int = 0, wechat_group_id: str | None = None):
    """A store made through the real service (owner membership, stats row, share link)."""
    from django.utils import timezone

    owner = owner or UserFactory()
    result = store_create(owner=owner, name=name, wechat_group_id=wechat_group_id)
    joined = [
        membership_get_or_create(store=result.store, user=UserFactory(), via=None, now=timezone.now())[0].user
        for _ in range(members)
    ]
    return result.store, result.share_token, joined
