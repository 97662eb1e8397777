"""Subscriptions under concurrency, on PostgreSQL with one connection per thread: a
subscription is never spent twice, and a message is never sent twice."""

from __future__ import annotations

import pytest

from shop.notifications.models import SandboxSubscribeSend, SubscribeMessage
from shop.notifications.subscribe import subscribe_grant_take, subscribe_message_attempt
from shop.testing.concurrency import run_concurrently

from .subscribe_helpers import grant, make_user, remaining, subscribe_message, template_id

pytestmark = pytest.mark.django_db(transaction=True)


def test_three_subscriptions_are_spent_by_exactly_three_of_eight_takers():
    user = make_user()
    grant(user, count=3)

    taken = run_concurrently(
        lambda _: subscribe_grant_take(user_id=user.pk, template_id=template_id("order_paid")), times=8
    )

    assert sorted(taken) == [False] * 5 + [True] * 3
    assert remaining(user) == 0


def test_six_messages_racing_for_two_subscriptions_send_two():
    user = make_user()
    grant(user, count=2)
    messages = [subscribe_message(user=user) for _ in range(6)]

    outcomes = run_concurrently(lambda i: subscribe_message_attempt(message_id=messages[i].pk), times=6)

    assert sorted(outcomes) == ["sent", "sent", "skipped", "skipped", "skipped", "skipped"]
    assert SandboxSubscribeSend.objects.count() == 2
    assert remaining(user) == 0


def test_one_message_attempted_by_six_workers_at_once_is_sent_once():
    user = make_user()
    grant(user, count=5)
    message = subscribe_message(user=user)

    outcomes = run_concurrently(lambda _: subscribe_message_attempt(message_id=message.pk), times=6)

    assert sorted(outcomes) == ["not_due"] * 5 + ["sent"]
    assert SandboxSubscribeSend.objects.filter(message=message).count() == 1
    assert SubscribeMessage.objects.get().attempts == 1
    assert remaining(user) == 4
