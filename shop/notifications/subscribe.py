"""WeChat subscribe messages (订阅消息): who may be sent what, and sending it once.

The rules (WeChat's one-time subscriptions, docs/subscribe-messages.md):

- the mini-program asks the user with ``wx.requestSubscribeMessage`` and reports the
  answers (``subscribe_results_record``, ``POST /me/subscriptions``): each ``accept`` allows
  one message of that template (``SubscribeGrant.remaining_count`` + 1); ``ban`` / ``filter``
  (the user switched the template off, or WeChat filtered it) leave none; ``reject`` changes
  nothing (earlier accepts still stand);
- ``notification_send`` calls ``subscribe_message_enqueue`` for every notification whose
  kind has a template in ``settings.WECHAT_SUBSCRIBE_TEMPLATES``: in the caller's
  transaction it writes one ``SubscribeMessage`` row (unique key: the notification's dedupe
  key and the template, so an event notified twice is one message) and hands its id to
  Celery once that transaction commits; nothing here blocks or calls out in it;
- the task (``subscribe_message_attempt``) claims the row, spends one of the user's
  subscriptions (a conditional UPDATE: two workers can never spend the same one; a message
  spends at most one, however many attempts it takes), sends it with no transaction or lock
  held, and records the outcome: sent; ``43101`` → the user's count is 0; a message WeChat
  refuses for good → failed and the subscription given back; network trouble → retried with
  exponential backoff up to ``SUBSCRIBE_MAX_ATTEMPTS`` attempts.
"""

from __future__ import annotations

import logging
import string
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Least
from django.utils import timezone

from .errors import SubscribeResultInvalid
from .models import Notification, SubscribeGrant, SubscribeMessage
from .wechat_subscribe import (
    HTTP_TIMEOUT_S,
    SubscribeOutcomeUnknown,
    SubscribeRejected,
    SubscribeSendError,
    SubscriptionMissing,
    subscribe_sender,
)

logger = logging.getLogger("shop.notifications.subscribe")

ACCEPT, REJECT, BAN, FILTER = "accept", "reject", "ban", "filter"
RESULTS = (ACCEPT, REJECT, BAN, FILTER)
MAX_TEMPLATES_PER_REPORT = 10  # WeChat asks about at most 3 templates per call
MAX_GRANTS_PER_TEMPLATE = 50  # a client inflating its accepts buys nothing past this
LAST_ERROR_CHARS = 300
SHANGHAI = ZoneInfo("Asia/Shanghai")
# WeChat's length limits per field type (the key's prefix: thing1 → thing).
FIELD_MAX_CHARS = {
    "thing": 20,
    "name": 10,
    "phrase": 5,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "car_number": 8,
    "phone_number": 17,
}


class SubscribeRetryLater(Exception):
    """The attempt failed for now: the task retries after ``delay``."""

    def __init__(self, delay: timedelta) -> None:
        super().__init__(f"retry in {delay}")
        self.delay = delay


def subscribe_templates() -> dict[str, dict]:
    """Notification kind → template, for the kinds whose template id is configured."""
    return {kind: t for kind, t in settings.WECHAT_SUBSCRIBE_TEMPLATES.items() if t.get("template_id")}


# --- What the user accepted -------------------------------------------------------


def subscribe_results_record(*, user, results: dict[str, str]) -> dict[str, int]:
    """Record the answers of one ``wx.requestSubscribeMessage`` call (``{template_id:
    "accept"|"reject"|"ban"|"filter"}``; WeChat's ``errMsg`` key is ignored) and return
    the user's count left per template. Templates we do not send, or other answers: 400,
    nothing recorded."""
    known = {t["template_id"] for t in subscribe_templates().values()}
    answers = {key: value for key, value in results.items() if key != "errMsg"}
    problems = {}
    for template_id, answer in answers.items():
        if template_id not in known:
            problems[template_id] = ["Not one of our subscribe message templates."]
        elif answer not in RESULTS:
            problems[template_id] = [f"One of {', '.join(RESULTS)}."]
    if len(answers) > MAX_TEMPLATES_PER_REPORT:
        problems["non_field_errors"] = [f"At most {MAX_TEMPLATES_PER_REPORT} templates per report."]
    if problems or not answers:
        raise SubscribeResultInvalid(fields=problems or {"non_field_errors": ["No template answered."]})
    with transaction.atomic():
        for template_id, answer in sorted(answers.items()):  # one row order: no deadlock
            if answer == REJECT:
                continue
            grant, _ = SubscribeGrant.objects.get_or_create(user=user, template_id=template_id)
            if answer == ACCEPT:
                SubscribeGrant.objects.filter(pk=grant.pk).update(
                    remaining_count=Least(F("remaining_count") + 1, MAX_GRANTS_PER_TEMPLATE),
                    updated_at=timezone.now(),
                )
            else:  # ban / filter: the user switched it off, WeChat would answer 43101
                SubscribeGrant.objects.filter(pk=grant.pk).update(
                    remaining_count=0, updated_at=timezone.now()
                )
    return subscribe_counts_for_user(user=user)


def subscribe_counts_for_user(*, user) -> dict[str, int]:
    """``{template_id: count left}`` for each of our templates (0 where none)."""
    counts = dict(SubscribeGrant.objects.filter(user=user).values_list("template_id", "remaining_count"))
    return {t["template_id"]: counts.get(t["template_id"], 0) for t in subscribe_templates().values()}


def subscribe_grant_take(*, user_id: int, template_id: str) -> bool:
    """Spend one of the user's subscriptions to the template; False when none is left.
    One conditional UPDATE: concurrent takers never spend the same one."""
    return bool(
        SubscribeGrant.objects.filter(user_id=user_id, template_id=template_id, remaining_count__gt=0).update(
            remaining_count=F("remaining_count") - 1, updated_at=timezone.now()
        )
    )


# --- Writing the message -------------------------------------------------------------


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _clip(key: str, value: str) -> str:
    kind = key.rstrip(string.digits)
    limit = FIELD_MAX_CHARS.get(kind)
    if limit is not None and len(value) > limit:
        return value[: limit - 1] + "…" if kind in ("thing", "name") else value[:limit]
    return value


def subscribe_message_fields(*, template: dict, notification: Notification) -> tuple[str, dict]:
    """The page and WeChat ``data`` of a notification's message: the template's patterns
    filled from the notification (missing fields are blank), each clipped to WeChat's limit."""
    context = _Blank(
        {key: str(value) for key, value in notification.data.items() if not isinstance(value, (dict, list))}
    )
    context.update(
        title=notification.title,
        body=notification.body,
        time=notification.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
    )
    data = {
        key: {"value": _clip(key, pattern.format_map(context)) or "-"}
        for key, pattern in template["data"].items()
    }
    return template["page"].format_map(context), data


def subscribe_message_enqueue(notification: Notification) -> SubscribeMessage | None:
    """In the transaction of ``notification_send``: the notification's subscribe message,
    when its kind has a template and the user has a subscription left for it (looked at
    again, and spent, when it is sent), handed to Celery after commit. Once per key."""
    template = subscribe_templates().get(notification.kind)
    if template is None:
        return None
    template_id = template["template_id"]
    if not SubscribeGrant.objects.filter(
        user_id=notification.recipient_id, template_id=template_id, remaining_count__gt=0
    ).exists():
        return None  # nothing could be sent: no row, no task
    page, data = subscribe_message_fields(template=template, notification=notification)
    key = f"{notification.dedupe_key or f'ntf:{notification.pk}'}:{template_id}"
    try:
        with transaction.atomic():
            message = SubscribeMessage.objects.create(
                key=key,
                notification=notification,
                recipient_id=notification.recipient_id,
                kind=notification.kind,
                template_id=template_id,
                page=page,
                data=data,
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:
        return None  # this event's message exists already
    from .tasks import subscribe_message_send_task

    transaction.on_commit(partial(subscribe_message_send_task.delay, message.pk))
    return message


# --- Sending it -------------------------------------------------------------------


def subscribe_retry_delay(*, attempts: int) -> timedelta:
    """Exponential backoff after the ``attempts``-th failed attempt: base × 2^(n−1), capped."""
    seconds = settings.SUBSCRIBE_BACKOFF_BASE_SECONDS * 2 ** (attempts - 1)
    return timedelta(seconds=min(seconds, settings.SUBSCRIBE_BACKOFF_MAX_SECONDS))


def _claim_lease() -> timedelta:
    # Longer than an attempt can take: a token fetch, a send, a token fetch again and the send
    # again, each up to a connect and a read timeout; then a margin.
    return timedelta(seconds=4 * 2 * HTTP_TIMEOUT_S + 30)


def subscribe_message_attempt(*, message_id: int, now: datetime | None = None) -> str:
    """Attempt one due message. Returns ``not_due`` (sent, given up, or claimed by another
    worker: a task run twice sends once), ``sent``, ``skipped`` (no subscription left, no
    openid), ``refused`` (43101), ``failed``; raises ``SubscribeRetryLater`` when the task
    should try again."""
    now = now or timezone.now()
    claimed = SubscribeMessage.objects.filter(
        pk=message_id, status=SubscribeMessage.Status.PENDING, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + _claim_lease(), updated_at=now)
    if not claimed:
        return "not_due"
    message = SubscribeMessage.objects.select_related("recipient").get(pk=message_id)
    if message.attempts > settings.SUBSCRIBE_MAX_ATTEMPTS:
        # Attempts that ended in an unexpected error (the row's lease ran out and the
        # sweeper handed it over again): stop here rather than every minute for ever.
        return _record(message, now=now, status=SubscribeMessage.Status.FAILED, error="too many attempts")
    openid = getattr(message.recipient, "openid", None)
    if not openid:
        return _record(
            message, now=now, status=SubscribeMessage.Status.SKIPPED, error="the user has no openid"
        )
    if not message.is_grant_taken:
        with transaction.atomic():
            if not subscribe_grant_take(user_id=message.recipient_id, template_id=message.template_id):
                return _record(
                    message, now=now, status=SubscribeMessage.Status.SKIPPED, error="no subscription left"
                )
            SubscribeMessage.objects.filter(pk=message.pk).update(is_grant_taken=True)
    try:
        msgid = subscribe_sender().send(
            message_id=message.pk,
            openid=openid,
            template_id=message.template_id,
            page=message.page,
            data=message.data,
        )
    except SubscriptionMissing as exc:
        # The user has none left at WeChat (switched it off, or our count was wrong).
        SubscribeGrant.objects.filter(user_id=message.recipient_id, template_id=message.template_id).update(
            remaining_count=0, updated_at=now
        )
        return _record(message, now=now, status=SubscribeMessage.Status.REFUSED, error=str(exc))
    except SubscribeOutcomeUnknown as exc:
        # It may have been delivered: never sent again; the subscription stays spent.
        logger.warning("subscribe message %s: outcome unknown, not resent: %s", message.pk, exc)
        return _record(
            message, now=now, status=SubscribeMessage.Status.FAILED, error=f"outcome unknown: {exc}"
        )
    except SubscribeRejected as exc:
        # Never sent, so never spent at WeChat: give the subscription back.
        logger.warning("subscribe message %s refused: %s", message.pk, exc)
        _grant_give_back(message, now=now)
        return _record(message, now=now, status=SubscribeMessage.Status.FAILED, error=str(exc))
    except SubscribeSendError as exc:  # transient: network, 5xx, busy, no token, not configured
        if message.attempts >= settings.SUBSCRIBE_MAX_ATTEMPTS:
            # Whether WeChat sent it is unknown: the subscription stays spent.
            return _record(message, now=now, status=SubscribeMessage.Status.FAILED, error=f"gave up: {exc}")
        delay = subscribe_retry_delay(attempts=message.attempts)
        _this_attempt(message).update(next_attempt_at=now + delay, last_error=str(exc)[:LAST_ERROR_CHARS])
        raise SubscribeRetryLater(delay) from exc
    return _record(message, now=now, status=SubscribeMessage.Status.SENT, msgid=msgid)


def _this_attempt(message: SubscribeMessage):
    return SubscribeMessage.objects.filter(
        pk=message.pk, status=SubscribeMessage.Status.PENDING, attempts=message.attempts
    )


def _record(
    message: SubscribeMessage, *, now: datetime, status: str, error: str = "", msgid: str = ""
) -> str:
    fields: dict = {"status": status, "last_error": error[:LAST_ERROR_CHARS], "updated_at": now}
    if status == SubscribeMessage.Status.SENT:
        fields.update(sent_at=now, wechat_msgid=msgid[:64])
    _this_attempt(message).update(**fields)
    return status


def _grant_give_back(message: SubscribeMessage, *, now: datetime) -> None:
    SubscribeGrant.objects.filter(user_id=message.recipient_id, template_id=message.template_id).update(
        remaining_count=Least(F("remaining_count") + 1, MAX_GRANTS_PER_TEMPLATE), updated_at=now
    )


def subscribe_messages_due(now: datetime, *, limit: int = 500) -> int:
    """Sweeper: hand messages that are due to the workers (a lost enqueue, a worker killed
    mid-attempt once its lease ran out, a retry whose task was lost)."""
    from .tasks import subscribe_message_send_task

    due = list(
        SubscribeMessage.objects.filter(status=SubscribeMessage.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for message_id in due:
        subscribe_message_send_task.delay(message_id)
    return len(due)
