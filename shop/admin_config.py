"""The admin app's config, in its own module (``shop.apps`` may declare only one default config)."""

from django.contrib.admin.apps import AdminConfig


class OpsAdminConfig(AdminConfig):
    """``django.contrib.admin`` with ``shop.admin_site.OpsAdminSite`` as ``admin.site`` (the
    ops overview on the index page); INSTALLED_APPS lists it in django.contrib.admin's place."""

    default_site = "shop.admin_site.OpsAdminSite"
