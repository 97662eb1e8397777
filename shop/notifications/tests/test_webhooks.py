"""Signed webhooks: where they may go (no server-side request forgery), how they are
signed, when they are retried, and that a delivery is sent once however often its
task runs. Only the outbound HTTP request is replaced (it is outside our walls);
name resolution is replaced where a test needs a name to resolve somewhere."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from unittest import mock

import pytest
import urllib3
from django.contrib.auth import get_user_model
from django.utils import timezone

from shop.notifications import webhooks
from shop.notifications.models import Notification, WebhookDelivery, WebhookEndpoint
from shop.notifications.services import (
    notification_send,
    webhook_deliveries_due,
    webhook_delivery_attempt,
    webhook_delivery_retry_now,
    webhook_retry_delay,
)
from shop.notifications.tasks import webhook_deliver_task

pytestmark = pytest.mark.django_db

PUBLIC_IP = "93.184.215.14"
_users = iter(range(1, 10**6))


def make_user():
    # shop sits below accounts (import-linter): no accounts factories here
    n = next(_users)
    return get_user_model().objects.create(username=f"hook-owner-{n}", openid=f"hook-owner-{n}")


def resolving_to(*addresses: str):
    """``socket.getaddrinfo`` answering these addresses for any name."""

    def fake(host, port, *args, **kwargs):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return mock.patch.object(socket, "getaddrinfo", side_effect=fake)


@pytest.fixture
def sent():
    """The outbound HTTP boundary: records each request, answers 200 (or what a test sets)."""
    calls: list[dict] = []
    answer = {"status": 200, "raise": None}

    def post(*, target, body, headers, timeout):
        calls.append({"target": target, "body": body, "headers": headers, "timeout": timeout})
        if answer["raise"]:
            raise answer["raise"]
        return answer["status"]

    with mock.patch.object(webhooks, "webhook_post_pinned", side_effect=post):
        yield calls, answer


def make_endpoint(url: str = "https://hooks.example.com/shop?tenant=7", owner=None) -> WebhookEndpoint:
    # Created directly: these tests are about delivery, not about who may register.
    return WebhookEndpoint.objects.create(owner=owner or make_user(), url=url, secret="whsec_test-secret")


def make_delivery(endpoint: WebhookEndpoint, **fields) -> WebhookDelivery:
    defaults = {"event": "venue_order_paid", "payload": {"id": "ntf_1", "data": {"order_id": 7}}}
    return WebhookDelivery.objects.create(
        endpoint=endpoint, next_attempt_at=timezone.now(), **{**defaults, **fields}
    )


# --- Server-side request forgery ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.9/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data/",  # the cloud metadata service
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://100.64.0.1/hook",  # carrier-grade NAT
        "http://hooks.example.com/hook",  # not https
        "ftp://hooks.example.com/hook",
        "https://user:pw@hooks.example.com/hook",
    ],
)
def test_a_delivery_to_a_non_public_or_non_https_url_is_refused_without_a_request(url, sent):
    calls, _ = sent
    delivery = make_delivery(make_endpoint(url))

    with resolving_to(PUBLIC_IP):
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert outcome == "failed"
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error.startswith("refused:")
    assert calls == []


@pytest.mark.parametrize(
    "answers",
    [("10.0.0.5",), ("127.0.0.1",), ("169.254.169.254",), ("::1",), (PUBLIC_IP, "192.168.0.10")],
    ids=["private", "loopback", "metadata", "ipv6-loopback", "one-private-among-public"],
)
def test_a_hostname_resolving_to_a_private_address_is_refused_at_delivery(answers, sent):
    calls, _ = sent
    delivery = make_delivery(make_endpoint("https://rebind.attacker.example/hook"))

    with resolving_to(*answers):
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert outcome == "failed"
    assert "non-public address" in delivery.last_error
    assert calls == []


def test_the_request_goes_to_the_address_that_was_checked(sent):
    # A rebinding DNS answers public for the check, then private: we never resolve twice.
    calls, _ = sent
    delivery = make_delivery(make_endpoint("https://hooks.example.com:8443/in"))
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, 8443))],
                    [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 8443))]])  # fmt: skip

    with mock.patch.object(socket, "getaddrinfo", side_effect=lambda *a, **k: next(answers)):
        webhook_delivery_attempt(delivery_id=delivery.pk)

    (call,) = calls
    target = call["target"]
    assert (target.ip, target.hostname, target.port, target.path) == (
        PUBLIC_IP,
        "hooks.example.com",
        8443,
        "/in",
    )
    assert target.host_header == "hooks.example.com:8443"


def test_an_unresolvable_host_is_retried_later_not_given_up(sent):
    calls, _ = sent
    delivery = make_delivery(make_endpoint("https://not-yet.example/hook"))

    with mock.patch.object(socket, "getaddrinfo", side_effect=socket.gaierror("Name or service not known")):
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (outcome, delivery.status, delivery.attempts) == ("retry", "pending", 1)
    assert calls == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        (PUBLIC_IP, True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("2002:7f00:0001::1", False),  # 6to4 wrapping 127.0.0.1
        ("fc00::1", False),  # unique local
        ("192.0.2.1", False),  # documentation range
        ("255.255.255.255", False),
        ("not-an-ip", False),
    ],
)
def test_which_addresses_count_as_public(address, public):
    assert webhooks.address_is_public(address) is public


# --- Signing -------------------------------------------------------------------------


def test_the_body_is_signed_so_the_receiver_can_verify_it(sent):
    calls, _ = sent
    endpoint = make_endpoint()
    delivery = make_delivery(
        endpoint, payload={"id": "ntf_9", "event": "venue_order_paid", "data": {"分": 1}}
    )
    now = timezone.now()

    with resolving_to(PUBLIC_IP):
        webhook_delivery_attempt(delivery_id=delivery.pk, now=now)

    (call,) = calls
    body, headers = call["body"], call["headers"]
    assert json.loads(body) == {"id": "ntf_9", "event": "venue_order_paid", "data": {"分": 1}}
    assert headers["X-Shop-Event"] == "venue_order_paid"
    assert headers["X-Shop-Delivery"] == str(delivery.pk)
    signature = headers["X-Shop-Signature"]
    assert signature.startswith(f"t={int(now.timestamp())},v1=")
    ts = int(now.timestamp())
    assert (
        webhooks.webhook_signature_verify(secret=endpoint.secret, header=signature, body=body, now=ts) is True
    )
    # a changed body, another secret, or a replay ten minutes later all fail
    assert not webhooks.webhook_signature_verify(
        secret=endpoint.secret, header=signature, body=body + b" ", now=ts
    )
    assert not webhooks.webhook_signature_verify(secret="whsec_other", header=signature, body=body, now=ts)
    assert not webhooks.webhook_signature_verify(
        secret=endpoint.secret, header=signature, body=body, now=ts + 600
    )


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()

    assert webhooks.webhook_signature(secret="k", timestamp=1_700_000_000, body=b"{}") == (
        f"t=1700000000,v1={expected}"
    )


# --- Retries ---------------------------------------------------------------------------


def test_the_retry_schedule_doubles_from_thirty_seconds_and_is_capped(settings):
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 30
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 3_600

    delays = [webhook_retry_delay(attempts=n).total_seconds() for n in range(1, 9)]

    assert delays == [30, 60, 120, 240, 480, 960, 1_920, 3_600]


def test_a_failing_endpoint_is_retried_with_backoff_then_given_up(sent, settings):
    # given an endpoint that answers 500, and at most 4 attempts
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 30
    calls, answer = sent
    answer["status"] = 500
    delivery = make_delivery(make_endpoint())
    now = timezone.now()
    seen = []

    # when each attempt is made as soon as it is due
    with resolving_to(PUBLIC_IP):
        for _ in range(6):
            outcome = webhook_delivery_attempt(delivery_id=delivery.pk, now=now)
            delivery.refresh_from_db()
            wait = round((delivery.next_attempt_at - now).total_seconds()) if outcome == "retry" else None
            seen.append((outcome, delivery.attempts, wait))
            now = max(now, delivery.next_attempt_at)

    # then it waited 30 s, 60 s, 120 s between attempts, then gave up; nothing more was sent
    assert seen == [
        ("retry", 1, 30),
        ("retry", 2, 60),
        ("retry", 3, 120),
        ("failed", 4, None),
        ("not_due", 4, None),
        ("not_due", 4, None),
    ]
    assert len(calls) == 4
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == ("failed", 500, "HTTP 500")


def test_a_connection_error_is_retried(sent):
    _, answer = sent
    answer["raise"] = urllib3.exceptions.NewConnectionError(None, "connection refused")
    delivery = make_delivery(make_endpoint())

    with resolving_to(PUBLIC_IP):
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (outcome, delivery.status) == ("retry", "pending")
    assert "NewConnectionError" in delivery.last_error


def test_an_attempt_not_yet_due_sends_nothing(sent):
    calls, _ = sent
    delivery = make_delivery(make_endpoint())
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=1)
    )

    with resolving_to(PUBLIC_IP):
        assert webhook_delivery_attempt(delivery_id=delivery.pk) == "not_due"

    assert calls == []


# --- Idempotency and enqueueing --------------------------------------------------------


def test_running_the_delivery_task_twice_sends_once(sent):
    calls, _ = sent
    delivery = make_delivery(make_endpoint())

    with resolving_to(PUBLIC_IP):
        first = webhook_deliver_task.apply(args=[delivery.pk]).get()
        second = webhook_deliver_task.apply(args=[delivery.pk]).get()

    delivery.refresh_from_db()
    assert (first, second) == ("succeeded", "not_due")
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert len(calls) == 1


def test_a_notification_is_queued_to_each_active_webhook_of_its_recipient_on_commit(
    django_capture_on_commit_callbacks, sent
):
    calls, _ = sent
    owner = make_user()
    one = make_endpoint("https://a.example.com/h", owner=owner)
    two = make_endpoint("https://b.example.com/h", owner=owner)
    WebhookEndpoint.objects.create(owner=owner, url="https://off.example.com/h", secret="s", is_active=False)
    make_endpoint("https://someone-else.example.com/h")

    with resolving_to(PUBLIC_IP), django_capture_on_commit_callbacks(execute=True) as callbacks:
        notification = notification_send(
            recipient_id=owner.pk,
            kind="venue_order_paid",
            title="新订单",
            data={"order_id": 7},
            dedupe_key="k-1",
        )
        notification_send(recipient_id=owner.pk, kind="venue_order_paid", title="新订单", dedupe_key="k-1")

    deliveries = WebhookDelivery.objects.order_by("endpoint_id")
    assert [d.endpoint_id for d in deliveries] == [one.pk, two.pk]
    assert {d.status for d in deliveries} == {"succeeded"}
    assert len(callbacks) == 2
    assert sorted(c["target"].hostname for c in calls) == ["a.example.com", "b.example.com"]
    payload = json.loads(calls[0]["body"])
    assert payload["id"] == f"ntf_{notification.pk}"
    assert (payload["event"], payload["title"], payload["data"]) == (
        "venue_order_paid",
        "新订单",
        {"order_id": 7},
    )
    assert Notification.objects.filter(dedupe_key="k-1").count() == 1


def test_the_sweeper_hands_due_deliveries_to_the_workers(sent):
    calls, _ = sent
    endpoint = make_endpoint()
    due = make_delivery(endpoint)
    later = make_delivery(endpoint, event="later")
    WebhookDelivery.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))

    with resolving_to(PUBLIC_IP):
        handed = webhook_deliveries_due(timezone.now())

    assert handed == 1
    assert [c["headers"]["X-Shop-Delivery"] for c in calls] == [str(due.pk)]


def test_ops_can_send_a_failed_delivery_again(sent, django_capture_on_commit_callbacks):
    calls, _ = sent
    delivery = make_delivery(make_endpoint())
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8)

    with resolving_to(PUBLIC_IP), django_capture_on_commit_callbacks(execute=True):
        assert webhook_delivery_retry_now(delivery_id=delivery.pk) is True

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)
    assert len(calls) == 1


def test_the_real_transport_pins_the_address_and_verifies_the_hostname():
    # The one thing left: what webhook_post_pinned hands urllib3 (the socket itself is outside).
    target = webhooks.WebhookTarget(hostname="hooks.example.com", port=443, path="/in?x=1", ip=PUBLIC_IP)
    response = mock.Mock(status=204)
    with mock.patch.object(urllib3, "HTTPSConnectionPool") as pool_class:
        pool_class.return_value.urlopen.return_value = response
        status = webhooks.webhook_post_pinned(target=target, body=b"{}", headers={"X-A": "1"}, timeout=3)

    assert status == 204
    kwargs = pool_class.call_args.kwargs
    assert (kwargs["host"], kwargs["server_hostname"], kwargs["assert_hostname"]) == (
        PUBLIC_IP,
        "hooks.example.com",
        "hooks.example.com",
    )
    assert kwargs["cert_reqs"] == "CERT_REQUIRED"
    method, path = pool_class.return_value.urlopen.call_args.args
    sent_kwargs = pool_class.return_value.urlopen.call_args.kwargs
    assert (method, path, sent_kwargs["redirect"]) == ("POST", "/in?x=1", False)
    assert sent_kwargs["headers"]["Host"] == "hooks.example.com"
