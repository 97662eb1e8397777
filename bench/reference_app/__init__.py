"""Bench-only reference endpoints (issue 5): the framework's and the write path's ceilings.

Installed only by ``shop.settings.bench`` (``INSTALLED_APPS`` and ``ROOT_URLCONF``);
nothing in the production settings or URLs names it, so it is never reachable in a
normal deployment. Its two tables have no migrations: the bench creates them with
``migrate --run-syncdb`` in its own throw-away database.
"""
