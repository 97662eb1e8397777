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


def make_invitation_code(*, max_uses: int = 1, expires_at=None, batch: str = "test"):
    from groupstore.services import invitation_codes_generate

    return invitation_codes_generate(count=1, max_uses=max_uses, expires_at=expires_at, batch=batch)[0]


def make_leader(*, user=None, certified: bool = True):
    """A leader registered with a fresh code through the real services (certified by default)."""
    from groupstore.services import leader_certify, leader_register

    user = user or UserFactory()
    leader, _ = leader_register(user=user, invitation_code=make_invitation_code().code)
    if certified:
        leader = leader_certify(leader_id=leader.pk)
    return leader
