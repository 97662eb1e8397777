"""The project's admin site: Django's, with the ops overview on its index page.

``OpsAdminConfig`` (shop/admin_config.py) makes ``OpsAdminSite`` the default ``admin.site``, so every
app's ``admin.register`` lands here as usual. Only the index differs: above the list of
apps it shows the panels of ``shop.overview`` (figures, SVG charts from ``shop.charts``,
short tables), cached for ``shop.overview.CACHE_SECONDS``; ``?fresh=1`` recomputes them.
The admin's own checks apply: only active staff users reach it (others go to the login).
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.utils import timezone

from .charts import bar_chart_svg
from .overview import overview_panels


class OpsAdminSite(AdminSite):
    index_template = "admin/ops_index.html"

    def index(self, request, extra_context=None):
        panels, computed_at = overview_panels(fresh=request.GET.get("fresh") == "1")
        context = {
            "ops_panels": [
                {"panel": p, "charts": [{"title": c.title, "svg": bar_chart_svg(c)} for c in p.charts]}
                for p in panels
            ],
            "ops_computed_at": timezone.localtime(computed_at),
            **(extra_context or {}),
        }
        return super().index(request, extra_context=context)
