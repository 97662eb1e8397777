"""Withdrawals through the API, and their payouts through the gateway's callbacks."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.tests.factories import UserFactory
from rebates.models import Withdrawal
from rebates.selectors import wallet_get
from shop.ledger.models import Account, Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef, ledger_post
from shop.payments.errors import PayoutNotRetryable
from shop.payments.gateways.base import GatewayError
from shop.payments.gateways.sandbox import SandboxGateway
from shop.payments.models import Payout
from shop.payments.payouts import payout_retry, payouts_sweep
from shop.testing.asserts import assert_error

from .helpers import fund_wallet

pytestmark = pytest.mark.django_db

URL = "/api/v1/wallet/withdrawals"
GATEWAY_CLEARING = AccountRef.platform(Account.Kind.GATEWAY_CLEARING)


@pytest.fixture
def member():
    user = UserFactory()
    fund_wallet(user, 10_000)
    return user


@pytest.fixture
def client(make_client, member):
    return make_client(member)


def notify(api_client, payout: Payout, state: str, *, amount_fen: int | None = None):
    headers, body = SandboxGateway().build_transfer_callback(
        out_bill_no=payout.out_bill_no, amount_fen=amount_fen or payout.amount_fen, state=state
    )
    return api_client.post(
        "/api/v1/payouts/sandbox/notify",
        data=body,
        content_type="application/json",
        headers=headers,
    )


def test_a_withdrawal_holds_the_money_and_hands_back_the_package_to_confirm(client, member):
    response = client.post(URL, {"amount_fen": 3_000}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    payout = Payout.objects.get()
    assert body["status"] == "wait_user_confirm"
    assert body["package_info"] == f"sandbox-package-{payout.out_bill_no}"
    assert (payout.state, payout.amount_fen, payout.attempts) == ("wait_user_confirm", 3_000, 1)
    assert payout.expires_at == payout.sent_at + timedelta(hours=24)
    wallet = wallet_get(user_id=member.pk)
    assert (wallet.available_fen, wallet.held_fen) == (7_000, 3_000)
    assert client.get("/api/v1/wallet").json()["withdrawable_fen"] == 7_000
    listed = client.get(URL).json()
    assert [w["id"] for w in listed["results"]] == [body["id"]]


@pytest.mark.parametrize(
    ("amount_fen", "status", "code"),
    [(99, 400, "withdrawal_too_small"), (10_001, 409, "insufficient_balance"), (0, 400, "validation_error")],
)
def test_refused_withdrawals_write_nothing(client, member, amount_fen, status, code):
    before = Transaction.objects.count()

    response = client.post(URL, {"amount_fen": amount_fen}, format="json")

    assert_error(response, status, code)
    assert Withdrawal.objects.count() == 0
    assert Payout.objects.count() == 0
    assert Transaction.objects.count() == before
    assert wallet_get(user_id=member.pk).available_fen == 10_000


def test_a_negative_wallet_withdraws_nothing(make_client):
    user = UserFactory()
    ledger_post(  # a clawback after settlement left the wallet at −¥1.00
        key="clawback-test",
        kind="test_clawback",
        lines=[(AccountRef.user(Account.Kind.USER_AVAILABLE, user.pk), -100), (GATEWAY_CLEARING, 100)],
    )

    response = make_client(user).post(URL, {"amount_fen": 100}, format="json")

    assert_error(response, 409, "insufficient_balance")
    assert make_client(user).get("/api/v1/wallet").json()["withdrawable_fen"] == 0


def test_the_daily_limit_counts_what_is_already_on_its_way(client, member, settings):
    settings.SHOP_RULES = {**settings.SHOP_RULES, "WITHDRAWAL_DAILY_LIMIT_FEN": 5_000}

    assert client.post(URL, {"amount_fen": 3_000}, format="json").status_code == 201
    assert_error(client.post(URL, {"amount_fen": 2_001}, format="json"), 409, "withdrawal_daily_limit")
    assert client.post(URL, {"amount_fen": 2_000}, format="json").status_code == 201

    assert wallet_get(user_id=member.pk).held_fen == 5_000


def test_an_idempotency_key_replays_the_first_answer(client, member):
    headers = {"Idempotency-Key": "wd-1"}

    first = client.post(URL, {"amount_fen": 1_000}, format="json", headers=headers)
    again = client.post(URL, {"amount_fen": 1_000}, format="json", headers=headers)
    other = client.post(URL, {"amount_fen": 2_000}, format="json", headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert_error(other, 422, "idempotency_key_reused")
    assert Withdrawal.objects.count() == 1
    assert wallet_get(user_id=member.pk).held_fen == 1_000


def test_someone_elses_withdrawals_are_not_listed(client, make_client, member):
    client.post(URL, {"amount_fen": 1_000}, format="json")
    stranger = UserFactory()

    assert make_client(stranger).get(URL).json()["count"] == 0


def test_a_confirmed_transfer_pays_out_once(client, api_client, member):
    client.post(URL, {"amount_fen": 3_000}, format="json")
    payout = Payout.objects.get()

    assert notify(api_client, payout, "SUCCESS").json() == {"code": "SUCCESS"}
    count = Transaction.objects.count()
    assert notify(api_client, payout, "SUCCESS").status_code == 200  # WeChat retries: answered, no change
    assert notify(api_client, payout, "FAIL").status_code == 200  # a final payout ignores later news

    assert Transaction.objects.count() == count
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.status == "succeeded"
    wallet = wallet_get(user_id=member.pk)
    assert (wallet.available_fen, wallet.held_fen) == (7_000, 0)
    assert account_balance(ref=AccountRef.user(Account.Kind.PAYOUT_CLEARING, member.pk)) == 0
    # the 10,000 that funded the wallet came in through the gateway; 3,000 went out
    assert account_balance(ref=GATEWAY_CLEARING) == -10_000 + 3_000
    call_command("ledger_check")


def test_a_forged_callback_is_refused_and_changes_nothing(client, api_client, member):
    client.post(URL, {"amount_fen": 3_000}, format="json")
    payout = Payout.objects.get()
    _, body = SandboxGateway().build_transfer_callback(
        out_bill_no=payout.out_bill_no, amount_fen=3_000, state="SUCCESS"
    )

    response = api_client.post(
        "/api/v1/payouts/sandbox/notify",
        data=body,
        content_type="application/json",
        headers={"X-Sandbox-Signature": "0" * 64},
    )

    assert_error(response, 401, "invalid_callback")
    payout.refresh_from_db()
    assert payout.state == "wait_user_confirm"
    assert wallet_get(user_id=member.pk).held_fen == 3_000


@pytest.mark.parametrize("state", ["FAIL", "CANCELLED"])
def test_a_failed_or_cancelled_transfer_returns_the_money(client, api_client, member, state):
    client.post(URL, {"amount_fen": 3_000}, format="json")

    notify(api_client, Payout.objects.get(), state)

    assert Withdrawal.objects.get().status == "failed"
    wallet = wallet_get(user_id=member.pk)
    assert (wallet.available_fen, wallet.held_fen) == (10_000, 0)
    call_command("ledger_check")


def test_an_unconfirmed_transfer_expires_after_a_day_and_returns_the_money(client, member):
    client.post(URL, {"amount_fen": 3_000}, format="json")

    assert payouts_sweep(timezone.now() + timedelta(hours=1)) == 1  # polled: the sandbox knows nothing
    assert Payout.objects.get().state == "wait_user_confirm"  # ... and it is not yet expired
    assert wallet_get(user_id=member.pk).held_fen == 3_000
    assert payouts_sweep(timezone.now() + timedelta(hours=24, minutes=1)) == 1
    assert payouts_sweep(timezone.now() + timedelta(hours=24, minutes=2)) == 0

    payout = Payout.objects.get()
    assert (payout.state, payout.fail_reason) == ("cancelled", "expired")
    assert wallet_get(user_id=member.pk).available_fen == 10_000
    call_command("ledger_check")


def test_a_send_lost_in_transit_stays_processing_and_the_sweeper_sends_it(client, member):
    with mock.patch.object(SandboxGateway, "transfer", side_effect=GatewayError("timeout")):
        response = client.post(URL, {"amount_fen": 3_000}, format="json")

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["package_info"]) == ("processing", None)
    payout = Payout.objects.get()
    assert (payout.state, payout.attempts) == ("created", 1)

    assert payouts_sweep(timezone.now() + timedelta(minutes=2)) == 1

    payout.refresh_from_db()
    assert (payout.state, payout.attempts) == ("wait_user_confirm", 2)
    assert wallet_get(user_id=member.pk).held_fen == 3_000


def test_ops_retry_a_failed_payout_with_a_new_number_only_once_it_is_final(
    client, api_client, member, django_capture_on_commit_callbacks
):
    client.post(URL, {"amount_fen": 3_000}, format="json")
    first = Payout.objects.get()
    with pytest.raises(PayoutNotRetryable):
        payout_retry(payout_id=first.pk)  # still waiting for the member: the old number could pay
    notify(api_client, first, "FAIL")

    with django_capture_on_commit_callbacks(execute=True):  # the new payout is sent after commit
        second = payout_retry(payout_id=first.pk)

    assert second.out_bill_no != first.out_bill_no
    withdrawal = Withdrawal.objects.get()
    assert (withdrawal.payout_id, withdrawal.attempts, withdrawal.status) == (
        second.pk,
        2,
        "wait_user_confirm",
    )
    wallet = wallet_get(user_id=member.pk)
    assert (wallet.available_fen, wallet.held_fen) == (7_000, 3_000)
    notify(api_client, first, "SUCCESS")  # late news of the old, final number changes nothing
    assert wallet_get(user_id=member.pk).held_fen == 3_000
    notify(api_client, second, "SUCCESS")
    assert Withdrawal.objects.get().status == "succeeded"
    # the 10,000 that funded the wallet came in through the gateway; 3,000 went out
    assert account_balance(ref=GATEWAY_CLEARING) == -10_000 + 3_000
    call_command("ledger_check")
