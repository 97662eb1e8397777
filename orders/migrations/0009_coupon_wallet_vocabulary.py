"""Coupons in the wallet's vocabulary (a data migration after 0007's schema)."""

from django.db import migrations, models

# The wallet's vocabulary (API.md): ``available`` is ``usable``, ops's ``void`` is
# ``withdrawn`` (shown to shoppers as expired), source ``ops`` is ``campaign``. A coupon
# ``used`` by a checkout not yet paid was, in the new terms, only ``locked`` by it.
TITLES = {"share_reward": "分享奖励券", "campaign": "平台优惠券"}


def forwards(apps, schema_editor):
    Coupon = apps.get_model("orders", "Coupon")
    Coupon.objects.filter(status="available").update(status="usable")
    Coupon.objects.filter(status="void").update(status="withdrawn")
    Coupon.objects.filter(status="used").exclude(payment__status="succeeded").update(status="locked")
    Coupon.objects.filter(source="ops").update(source="campaign")
    Coupon.objects.update(valid_from=models.F("created_at"))
    for source, title in TITLES.items():
        Coupon.objects.filter(source=source, title="").update(title=title)


def backwards(apps, schema_editor):
    Coupon = apps.get_model("orders", "Coupon")
    Coupon.objects.filter(status="usable").update(status="available")
    Coupon.objects.filter(status="withdrawn").update(status="void")
    Coupon.objects.filter(status="locked").update(status="used")
    Coupon.objects.filter(source="campaign").update(source="ops")


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0008_coupon_wallet_campaigns"),
        ("payments", "0010_gateway_fee_lean"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
