"""A webhook delivery handed to several workers at once is sent once."""

from __future__ import annotations

import socket
import threading
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from shop.notifications import webhooks
from shop.notifications.models import WebhookDelivery, WebhookEndpoint
from shop.notifications.services import webhook_delivery_attempt
from shop.testing.concurrency import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def test_eight_workers_attempting_one_delivery_send_one_request():
    owner = get_user_model().objects.create(username="hook-race", openid="hook-race")
    endpoint = WebhookEndpoint.objects.create(owner=owner, url="https://hooks.example.com/in", secret="s")
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event="e", payload={"id": "ntf_1"}, next_attempt_at=timezone.now()
    )
    sent, lock = [], threading.Lock()

    def post(*, target, body, headers, timeout):
        with lock:
            sent.append(headers["X-Shop-Delivery"])
        return 200

    fake_dns = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
    with (
        mock.patch.object(webhooks, "webhook_post_pinned", side_effect=post),
        mock.patch.object(socket, "getaddrinfo", return_value=fake_dns),
    ):
        outcomes = run_concurrently(lambda i: webhook_delivery_attempt(delivery_id=delivery.pk), times=8)

    assert sorted(outcomes) == ["not_due"] * 7 + ["succeeded"]
    assert sent == [str(delivery.pk)]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)
