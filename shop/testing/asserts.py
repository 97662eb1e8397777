"""Assertions on the API contract shared by every app's tests."""

from __future__ import annotations


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is the documented error shape with this status (and code)."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str)
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]
