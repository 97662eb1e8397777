"""Subscriptions and sending: what an accept allows, when a message is written, and that it
is sent once, spending one subscription, whatever WeChat answers and however often the task
runs. WeChat itself is the sandbox sender here, or a stub raising WeChat's outcomes."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from shop.errors import ApplicationError
from shop.notifications import subscribe as subscribe_module
from shop.notifications.errors import SubscribeResultInvalid
from shop.notifications.models import Notification, SandboxSubscribeSend, SubscribeMessage
from shop.notifications.services import notification_send
from shop.notifications.subscribe import (
    MAX_GRANTS_PER_TEMPLATE,
    SubscribeRetryLater,
    subscribe_counts_for_user,
    subscribe_message_attempt,
    subscribe_messages_due,
    subscribe_results_record,
    subscribe_retry_delay,
)
from shop.notifications.tasks import subscribe_message_send_task
from shop.notifications.wechat_subscribe import (
    SubscribeOutcomeUnknown,
    SubscribeRejected,
    SubscribeTransient,
    SubscriptionMissing,
)

from .subscribe_helpers import grant, make_user, remaining, subscribe_message, template_id

pytestmark = pytest.mark.django_db

PAID = template_id("order_paid")
SHIPPED = template_id("order_shipped")


def _paid(user, *, order_id: int = 7, dedupe: str | None = "order:7:paid:buyer") -> Notification:
    return notification_send(
        recipient_id=user.pk,
        kind="order_paid",
        title="订单已支付",
        body="订单 7 已支付 ¥53.80。",
        data={"order_id": order_id, "amount": "53.80元", "items": "一次性洗衣凝珠家庭装超大容量装 等 2 件"},
        dedupe_key=dedupe,
    )


# --- What the user accepted ------------------------------------------------------------


def test_each_accept_allows_one_more_message_and_reject_changes_nothing():
    user = make_user()

    subscribe_results_record(user=user, results={PAID: "accept", SHIPPED: "reject", "errMsg": "ok"})
    counts = subscribe_results_record(user=user, results={PAID: "accept", SHIPPED: "accept"})
    counts = subscribe_results_record(user=user, results={PAID: "reject"})

    assert counts[PAID] == 2
    assert counts[SHIPPED] == 1
    assert counts[template_id("refund_made")] == 0  # every template of ours is listed
    assert subscribe_counts_for_user(user=user) == counts


@pytest.mark.parametrize("answer", ["ban", "filter"])
def test_a_template_switched_off_leaves_no_message(answer):
    user = make_user()
    grant(user, count=3)

    counts = subscribe_results_record(user=user, results={PAID: answer})

    assert counts[PAID] == 0


def test_accepts_count_up_to_a_cap():
    user = make_user()
    grant(user, count=MAX_GRANTS_PER_TEMPLATE)

    assert subscribe_results_record(user=user, results={PAID: "accept"})[PAID] == MAX_GRANTS_PER_TEMPLATE


@pytest.mark.parametrize(
    "results",
    [
        {"not-our-template": "accept"},
        {PAID: "accept", SHIPPED: "maybe"},
        {"errMsg": "requestSubscribeMessage:ok"},
        {f"t{i}": "accept" for i in range(11)},
    ],
    ids=["unknown template", "unknown answer", "nothing answered", "too many"],
)
def test_a_report_with_anything_wrong_records_nothing(results):
    user = make_user()

    with pytest.raises(SubscribeResultInvalid) as refused:
        subscribe_results_record(user=user, results=results)

    assert isinstance(refused.value, ApplicationError)
    assert refused.value.http_status == 400
    assert remaining(user) == 0


# --- Writing the message ---------------------------------------------------------------


def test_a_notification_of_a_kind_with_a_template_queues_one_message_after_commit(
    django_capture_on_commit_callbacks,
):
    user = make_user()
    grant(user)

    with django_capture_on_commit_callbacks() as callbacks:
        notification = _paid(user)
        _paid(user)  # the same event again (a replayed callback): nothing more

    message = SubscribeMessage.objects.get()
    assert message.notification_id == notification.pk
    assert (message.recipient_id, message.template_id) == (user.pk, PAID)
    assert message.key == f"order:7:paid:buyer:{PAID}"
    assert message.page == "pages/order/detail?id=7"
    assert message.data["character_string1"] == {"value": "7"}
    assert message.data["amount2"] == {"value": "53.80元"}
    # A thing field holds 20 characters at most.
    assert message.data["thing3"] == {"value": "一次性洗衣凝珠家庭装超大容量装 等 2…"}
    assert len(message.data["time4"]["value"]) == len("2026-12-04 19:30")
    assert len(callbacks) == 1  # the task, handed over once the transaction commits
    assert SandboxSubscribeSend.objects.count() == 0  # nothing was sent inside it


def test_no_message_without_a_subscription_left_or_for_a_kind_without_a_template(settings):
    user = make_user()
    _paid(user)
    grant(user)
    notification_send(recipient_id=user.pk, kind="leader_certified", title="认证通过")
    settings.WECHAT_SUBSCRIBE_TEMPLATES = {
        **settings.WECHAT_SUBSCRIBE_TEMPLATES,
        "order_paid": {**settings.WECHAT_SUBSCRIBE_TEMPLATES["order_paid"], "template_id": ""},
    }
    _paid(user, order_id=8, dedupe="order:8:paid:buyer")  # its template id unset: no message

    assert Notification.objects.count() == 3
    assert not SubscribeMessage.objects.exists()


# --- Sending it ----------------------------------------------------------------------


def test_sending_spends_one_subscription_and_a_task_run_twice_sends_once(django_capture_on_commit_callbacks):
    user = make_user()
    grant(user, count=2)
    with django_capture_on_commit_callbacks(execute=True):
        _paid(user)  # eager Celery: the task runs on commit
    message = SubscribeMessage.objects.get()
    assert message.status == SubscribeMessage.Status.SENT

    subscribe_message_send_task.apply(args=(message.pk,))  # the task again (a redelivery)
    assert subscribe_message_attempt(message_id=message.pk) == "not_due"

    message.refresh_from_db()
    assert message.status == SubscribeMessage.Status.SENT
    assert message.sent_at is not None
    assert message.wechat_msgid.startswith("sandbox-")
    assert remaining(user) == 1
    send = SandboxSubscribeSend.objects.get()
    assert (send.touser, send.template_id, send.data) == (user.openid, PAID, message.data)


def test_a_message_whose_subscription_was_spent_meanwhile_is_skipped():
    user = make_user()
    message = subscribe_message(user=user)  # no grant

    assert subscribe_message_attempt(message_id=message.pk) == "skipped"

    message.refresh_from_db()
    assert (message.status, message.last_error) == ("skipped", "no subscription left")
    assert not SandboxSubscribeSend.objects.exists()


def test_a_user_without_an_openid_is_skipped_and_spends_nothing():
    user = make_user(openid=False)
    grant(user)
    message = subscribe_message(user=user)

    assert subscribe_message_attempt(message_id=message.pk) == "skipped"
    assert remaining(user) == 1


def _wechat_answers(*outcomes):
    sender = mock.Mock()
    sender.send.side_effect = list(outcomes)
    return mock.patch.object(subscribe_module, "subscribe_sender", return_value=sender)


def test_43101_sets_the_users_count_to_zero():
    user = make_user()
    grant(user, count=3)
    message = subscribe_message(user=user)

    with _wechat_answers(SubscriptionMissing("errcode 43101", errcode=43101)):
        assert subscribe_message_attempt(message_id=message.pk) == "refused"

    message.refresh_from_db()
    assert message.status == SubscribeMessage.Status.REFUSED
    assert "43101" in message.last_error
    assert remaining(user) == 0


def test_a_message_wechat_refuses_fails_and_gives_the_subscription_back():
    user = make_user()
    grant(user, count=1)
    message = subscribe_message(user=user)

    with _wechat_answers(SubscribeRejected("errcode 47003 argument invalid", errcode=47003)):
        assert subscribe_message_attempt(message_id=message.pk) == "failed"

    message.refresh_from_db()
    assert message.status == SubscribeMessage.Status.FAILED
    assert remaining(user) == 1


def test_network_trouble_retries_with_backoff_and_spends_one_subscription_in_all():
    user = make_user()
    grant(user, count=2)
    message = subscribe_message(user=user)
    now = timezone.now()

    with _wechat_answers(SubscribeTransient("ConnectionError"), SubscribeTransient("HTTP 502"), "msg-3"):
        with pytest.raises(SubscribeRetryLater) as first:
            subscribe_message_attempt(message_id=message.pk, now=now)
        assert first.value.delay == subscribe_retry_delay(attempts=1) == timedelta(seconds=30)
        # Not due before its backoff: a redelivered task does nothing.
        assert subscribe_message_attempt(message_id=message.pk, now=now + timedelta(seconds=29)) == "not_due"
        with pytest.raises(SubscribeRetryLater) as second:
            subscribe_message_attempt(message_id=message.pk, now=now + timedelta(seconds=30))
        assert second.value.delay == timedelta(seconds=60)
        assert subscribe_message_attempt(message_id=message.pk, now=now + timedelta(seconds=90)) == "sent"

    message.refresh_from_db()
    assert (message.status, message.attempts, message.wechat_msgid) == ("sent", 3, "msg-3")
    assert remaining(user) == 1


def test_a_send_that_may_have_arrived_is_never_sent_again_and_its_subscription_stays_spent():
    user = make_user()
    grant(user, count=2)
    message = subscribe_message(user=user)

    with _wechat_answers(SubscribeOutcomeUnknown("ReadTimeout")):
        assert subscribe_message_attempt(message_id=message.pk) == "failed"
    assert (
        subscribe_message_attempt(message_id=message.pk, now=timezone.now() + timedelta(hours=1)) == "not_due"
    )

    message.refresh_from_db()
    assert message.status == SubscribeMessage.Status.FAILED
    assert message.last_error.startswith("outcome unknown")
    assert remaining(user) == 1


def test_network_trouble_gives_up_after_the_last_attempt(settings):
    settings.SUBSCRIBE_MAX_ATTEMPTS = 2
    user = make_user()
    grant(user)
    message = subscribe_message(user=user)
    now = timezone.now()

    with _wechat_answers(SubscribeTransient("timeout"), SubscribeTransient("timeout")):
        with pytest.raises(SubscribeRetryLater):
            subscribe_message_attempt(message_id=message.pk, now=now)
        assert subscribe_message_attempt(message_id=message.pk, now=now + timedelta(minutes=5)) == "failed"

    message.refresh_from_db()
    assert message.status == SubscribeMessage.Status.FAILED
    assert message.last_error.startswith("gave up")


def test_the_task_asks_celery_to_retry_after_the_backoff():
    user = make_user()
    grant(user)
    message = subscribe_message(user=user)

    with (
        _wechat_answers(SubscribeTransient("timeout")),
        mock.patch.object(subscribe_message_send_task, "retry", side_effect=RuntimeError("retry")) as retry,
        pytest.raises(RuntimeError),
    ):
        subscribe_message_send_task.run(message.pk)

    retry.assert_called_once_with(countdown=30.0)


def test_the_sweeper_hands_over_due_messages_only():
    now = timezone.now()
    due = subscribe_message(next_attempt_at=now - timedelta(seconds=1))
    subscribe_message(next_attempt_at=now + timedelta(minutes=1))  # backing off
    subscribe_message(status=SubscribeMessage.Status.SENT)

    with mock.patch.object(subscribe_message_send_task, "delay") as delay:
        assert subscribe_messages_due(now) == 1

    delay.assert_called_once_with(due.pk)


def test_an_unconfigured_sender_is_retried_like_network_trouble(settings):
    settings.WECHAT_SUBSCRIBE_SENDER = "wechat"
    settings.WECHAT_APP_SECRET = ""
    user = make_user()
    grant(user)
    message = subscribe_message(user=user)

    with pytest.raises(SubscribeRetryLater):
        subscribe_message_attempt(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == SubscribeMessage.Status.PENDING
    assert "WECHAT_APP_SECRET" in message.last_error


def test_a_message_whose_attempts_keep_dying_is_given_up(settings):
    settings.SUBSCRIBE_MAX_ATTEMPTS = 3
    user = make_user()
    grant(user)
    message = subscribe_message(user=user, attempts=3)  # three attempts that died mid-way

    assert subscribe_message_attempt(message_id=message.pk) == "failed"

    assert not SandboxSubscribeSend.objects.exists()
    assert remaining(user) == 1
