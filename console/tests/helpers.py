"""Signing a test browser in to the console."""

from __future__ import annotations


def console_login(client, user) -> None:
    """``force_login`` with the user as stored: ``UserFactory`` sets an unusable password without
    saving it, and a session made from the unsaved hash would be refused on the next request."""
    user.refresh_from_db()
    client.force_login(user)
