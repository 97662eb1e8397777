"""Guards over every console URL (pages added later are covered as they land):

- each page is a ``@console_page`` (who is asking is checked on every request), except the
  few public ones (sign-in, its callback, sign-out, the language switch);
- nobody signed in is sent to sign-in, whatever the page, GET or POST;
- each URL that names an object has an object-access probe below: staff of another
  merchant get 404 and nothing changes. A new console URL with an id fails
  ``test_every_url_with_an_object_has_a_probe`` until its probe is added to ``OBJECT_PROBES``.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, resolve, reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from assistant.models import Message
from console import urls as console_urls
from merchants.models import MerchantStaff
from merchants.tests.factories import MerchantStaffFactory

from .helpers import console_login

pytestmark = pytest.mark.django_db

PUBLIC = {"signin", "signin_callback", "signout", "language"}


def _patterns() -> list[URLPattern]:
    return [p for p in console_urls.urlpatterns if isinstance(p, URLPattern)]


# A value for each URL parameter that is not an id (the re_path choices, file formats).
SAMPLE_VALUES = {"action": "approve", "file": "csv", "file_format": "csv"}


def _url(pattern: URLPattern, value: int = 1) -> str:
    kwargs = {name: SAMPLE_VALUES.get(name, value) for name in pattern.pattern.regex.groupindex}
    return reverse(f"console:{pattern.name}", kwargs=kwargs)


def _victim_staff(victim):
    return MerchantStaffFactory(merchant=victim.merchant, role=MerchantStaff.Role.OPERATOR)


# URL name -> (method, the victim's object: a function of the victim's owner staff row giving
# the kwargs, a function telling whether the object is unchanged afterwards).
def _victim_conversation(victim):
    from assistant.models import Conversation

    return Conversation.objects.create(
        asker=UserFactory(),
        merchant=victim.merchant,
        status=Conversation.Status.HANDED_OVER,
        handed_over_at=timezone.now(),
        last_message_at=timezone.now(),
    )


OBJECT_PROBES = {
    "conversation": (
        "get",
        lambda victim: {"conversation_id": _victim_conversation(victim).pk},
        lambda kwargs: True,
    ),
    "conversation-answer": (
        "post",
        lambda victim: {"conversation_id": _victim_conversation(victim).pk},
        lambda kwargs: not Message.objects.filter(conversation_id=kwargs["conversation_id"]).exists(),
    ),
    "staff_remove": (
        "post",
        lambda victim: {"staff_id": _victim_staff(victim).pk},
        lambda kwargs: MerchantStaff.objects.filter(pk=kwargs["staff_id"]).exists(),
    ),
}


def test_every_page_checks_who_is_asking():
    for pattern in _patterns():
        if pattern.name in PUBLIC:
            continue
        assert getattr(pattern.callback, "console_page", False), f"{pattern.name} is not a @console_page"


def _names_an_object(pattern: URLPattern) -> bool:
    # An ``…_id`` parameter, of a ``path()`` or a ``re_path()`` (a file format is not an object).
    return any(name.endswith("_id") for name in pattern.pattern.regex.groupindex)


def _probed() -> set[str]:
    """URL names with an object-access probe: here, or in the security suite's console probes
    (tests/security: the catalogue and orders pages, and the money pages, against the seeded
    world)."""
    from tests.security.test_console_money_access import PAGES
    from tests.security.test_console_object_access import CONSOLE_PROBES

    paths = [probe.path for probe in CONSOLE_PROBES] + [path for _, _, path, _ in PAGES]
    return set(OBJECT_PROBES) | {resolve(re.sub(r"{[^}]+}", "1", path)).url_name for path in paths}


def test_every_url_with_an_object_has_a_probe():
    with_ids = {p.name for p in _patterns() if _names_an_object(p)}
    missing = sorted(with_ids - _probed())
    assert not missing, f"add object-access probes for {missing}"


@pytest.mark.parametrize("name", sorted(p.name for p in _patterns() if p.name not in PUBLIC))
def test_nobody_signed_in_is_sent_to_sign_in(client, name):
    pattern = next(p for p in _patterns() if p.name == name)
    for method in ("get", "post"):
        response = getattr(client, method)(_url(pattern))
        if response.status_code == 405:  # this page does not take that method at all
            continue
        assert response.status_code == 302, (name, method, response.status_code)
        assert response["Location"].startswith(reverse("console:signin")), (name, method)


@pytest.mark.parametrize("name", sorted(OBJECT_PROBES))
def test_another_merchants_object_is_not_found_and_unchanged(client, name):
    method, make_object, unchanged = OBJECT_PROBES[name]
    victim = MerchantStaffFactory()
    kwargs = make_object(victim)
    intruder = MerchantStaffFactory()  # the owner of another merchant
    console_login(client, intruder.user)
    response = getattr(client, method)(reverse(f"console:{name}", kwargs=kwargs))
    assert response.status_code == 404
    assert unchanged(kwargs)
