"""The guard: every admin action is an audited ops decision, and every ModelAdmin override
that saves or deletes was looked at for one.

An action passes when it carries ``@audited`` (``audit_action``); what the decorator makes
the action write is tested with real actions in ``test_admin_actions.py`` and the
per-app admin tests. A new action without the decorator fails here, naming it."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin

pytestmark = pytest.mark.django_db

# ModelAdmins that override a save/delete hook, and what the override does about the trail.
# A new override fails ``test_every_save_or_delete_override_was_reviewed`` until it is added here.
REVIEWED_OVERRIDES = {
    ("assistant.conversation", "save_model"): "ops answer a buyer: the message is kept, with its author",
    ("orders.flashoffer", "save_model"): "records flash_offer.create / flash_offer.change",
    ("orders.marketingbudgetallocation", "save_model"): "records marketing_budget.allocate",
    ("orders.couponcampaign", "save_model"): "a draft's terms: no money moves until launch (audited)",
    ("products.category", "save_model"): "re-indexes search only; Django's admin log keeps the edit",
    ("products.product", "save_model"): "re-indexes search only; Django's admin log keeps the edit",
}
HOOKS = ("save_model", "delete_model", "delete_queryset", "save_related", "save_formset")


def _registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower)


def test_every_admin_action_is_audited():
    unaudited = []
    seen = 0
    for model, model_admin in _registered():
        # _get_base_actions: every action, whatever the permissions of whoever asks.
        for func, name, _description in model_admin._get_base_actions():
            seen += 1
            if not getattr(func, "audit_action", ""):
                unaudited.append(f"{model._meta.label_lower}: {name}")
    assert seen > 30  # the enumeration really found the actions
    assert unaudited == [], "admin actions without @audited (shop/audit/admin_actions.py): " + ", ".join(
        unaudited
    )


def test_the_site_wide_delete_action_is_the_audited_one():
    assert admin.site.get_action("delete_selected").audit_action == "admin.delete"


def test_every_save_or_delete_override_was_reviewed():
    found = set()
    for model, model_admin in _registered():
        for hook in HOOKS:
            if getattr(type(model_admin), hook) is not getattr(ModelAdmin, hook):
                found.add((model._meta.label_lower, hook))
    assert found - set(REVIEWED_OVERRIDES) == set(), "review these for the audit trail"
    assert set(REVIEWED_OVERRIDES) - found == set(), "stale entries in REVIEWED_OVERRIDES"
